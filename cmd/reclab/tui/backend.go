package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// ActionKind is something the user asks the lab to do.
type ActionKind uint8

const (
	ActRegister ActionKind = iota
	ActUnregister
	ActDial
	ActAnswer
	ActHangUp
	ActPower // off when on, on when off
	ActRecordKey
	ActFirmwareUpdate
	ActForcedLogOff
	ActPBXRestart
	ActImpair
	ActLift
	ActRecordMode // the recorder's record on demand mode: off → start → save → off
	ActSpeed      // the lab clock one step faster (Arg "+") or slower ("-")
	ActHold       // step mode: Arg "on" holds each SIP, CSTA and HTTP message until ActStepMsg, "off" plays
	ActStepMsg    // step mode: the next held message goes
)

var actionNames = [...]string{"register", "unregister", "dial", "answer", "hang up", "power",
	"record key", "firmware update", "forced log-off", "PBX restart", "impair", "lift impairment",
	"recorder mode", "lab clock", "step mode", "step"}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return fmt.Sprintf("action(%d)", k)
}

// Action is one request from the UI: a kind, the selected phone (node name)
// and what was typed in a prompt (the number to dial, the impairment).
// What the action depends on of the lab's state is what the UI shows, from
// the nodes' typed states: the backend asks no node.
type Action struct {
	Kind   ActionKind
	Phone  string
	Arg    string
	Impair sim.Impairment
	// Powered: ActPower on a phone the UI shows powered, so it is cut.
	Powered bool
	// Registered: ActPBXRestart, the phones the UI shows registered (node
	// names), which must notice the PBX is gone.
	Registered []string
}

// PhoneView is what the Nodes pane shows of a phone.
type PhoneView struct {
	Name, Ext, Model string
	Addr             netip.Addr
	RecPort          uint16
	// State is folded from the phone's typed states on the trace
	// (nodeStore); Media alone is read from the phone's counters.
	State phones.State
}

// Snapshot is the lab's state as the Nodes pane shows it.
type Snapshot struct {
	Phones      []PhoneView
	PBXRegs     int      // extensions the PBX has registered
	PBXCalls    []string // calls as their callers publish them: "1002→1005 talking"
	RecMapping  string
	RecDevices  int // devices the recorder learnt over CSTA
	RecSessions int // recording sessions up
	RecFiles    int // recordings finished
}

// Backend is the lab under the UI. The real one wraps a *lab.Lab; tests use
// a fake with a trace they publish into.
type Backend interface {
	Trace() *sim.Trace
	// Nodes is the lab as built, read once when the UI attaches: its
	// phones in order (name, extension, model, recording address) and the
	// recorder's mapping. Its states are zero: what the nodes are comes
	// from the typed states they publish on the trace.
	Nodes() Snapshot
	// Media is the phones' RTP counters, in Nodes' order: atomics the media
	// path counts, not states, so read as they are.
	Media() []phones.MediaStats
	// Start brings the lab up; the UI calls it from a command, never from
	// Update.
	Start(ctx context.Context) error
	// Do performs an action and returns what happened in words, or why it
	// could not be done.
	Do(ctx context.Context, a Action) (string, error)
	// Available reports whether the lab can do an action at all (some are
	// still being built: the UI says "not available yet").
	Available(k ActionKind) bool
	// OutDir is where the pcap, recordings and exports go.
	OutDir() string
}

// Wrapper is a Backend that wraps another (reclab classroom's seat of one
// session on the shared lab): the optional interfaces are the inner one's.
type Wrapper interface{ Unwrap() Backend }

// unwrap is the backend a wrapper (closingBackend, scenarioBackend, a
// Wrapper) holds; the optional interfaces (pcapFlusher, labNower) are the
// inner one's.
func unwrap(b Backend) Backend {
	for {
		switch w := b.(type) {
		case closingBackend:
			b = w.Backend
		case *scenarioBackend:
			b = w.Backend
		case Wrapper:
			b = w.Unwrap()
		default:
			return b
		}
	}
}

// errNotAvailable is returned for actions the lab cannot do yet.
var errNotAvailable = errors.New("not available yet")

// labBackend drives a real lab.
type labBackend struct {
	l   *lab.Lab
	out string
	t1  time.Duration // SIP T1 before step mode raised it
}

// stepT1 is SIP T1 while stepping: a message held for the trainer is not
// retransmitted behind it (design.md: step mode raises T1), for a minute.
const stepT1 = time.Minute

// NewLabBackend wraps a built (not yet started) lab whose files go to out.
func NewLabBackend(l *lab.Lab, out string) Backend { return &labBackend{l: l, out: out} }

func (b *labBackend) Trace() *sim.Trace               { return b.l.Net.Trace() }
func (b *labBackend) OutDir() string                  { return b.out }
func (b *labBackend) Start(ctx context.Context) error { return b.l.Start(ctx) }

// Nodes reads each phone's extension and recording address once, before
// the lab runs; from then on the extension follows the phone's states.
func (b *labBackend) Nodes() Snapshot {
	var s Snapshot
	if b.l.Recorder != nil { // nil: the recorder runs elsewhere (reclab tui LAB.yaml --nodes)
		s.RecMapping = b.l.Recorder.Config().Mapping.String()
	}
	for _, p := range b.l.Phones {
		ra := p.RecordingAddr()
		s.Phones = append(s.Phones, PhoneView{Name: p.Name(), Ext: p.Ext(), Model: p.Model().Name,
			Addr: ra.Addr(), RecPort: ra.Port()})
	}
	return s
}

func (b *labBackend) Media() []phones.MediaStats {
	out := make([]phones.MediaStats, len(b.l.Phones))
	for i, p := range b.l.Phones {
		out[i] = p.Stats()
	}
	return out
}

// Available: all but what needs a node another process runs (split mode:
// reclab tui LAB.yaml --nodes).
func (b *labBackend) Available(k ActionKind) bool {
	switch k {
	case ActPBXRestart, ActFirmwareUpdate:
		return b.l.PBX != nil
	case ActRecordMode:
		return b.l.Recorder != nil
	}
	return true
}

// actionTimeout bounds an action that waits for an answer on the wire
// (REGISTER, BYE): 64*T1 of SIP's default timers.
const actionTimeout = 32 * time.Second

func (b *labBackend) Do(ctx context.Context, a Action) (string, error) {
	if a.Kind == ActPBXRestart {
		return b.restartPBX(ctx, a.Registered) // bounded by the phones' keep-alive, not actionTimeout
	}
	if a.Kind == ActSpeed {
		return setSpeed(b.l.Net.Clock(), a.Arg)
	}
	if a.Kind == ActHold {
		if a.Arg == "on" {
			if !b.l.Net.Stepping() {
				b.t1 = sip.T1
				lab.SetSIPTimers(stepT1)
				b.l.Net.SetStepping(true, storyMessage)
			}
			return fmt.Sprintf("step mode: each SIP, CSTA and HTTP message waits until . sends it (keep-alives, RAS and RTP flow on; SIP T1 raised to %s for transactions begun now); H plays", stepT1), nil
		}
		if b.l.Net.Stepping() {
			b.l.Net.SetStepping(false, nil)
			lab.SetSIPTimers(b.t1)
		}
		return "playing: messages go as they are sent", nil
	}
	if a.Kind == ActStepMsg {
		if !b.l.Net.Step() {
			return "", errors.New("step: no message waits; the lab is quiet until a node or you act (RTP flows on)")
		}
		return "step: one message sent", nil
	}
	if a.Kind == ActRecordMode {
		next := (b.l.Recorder.OnDemandMode() + 1) % 3 // off, start, save
		b.l.Recorder.SetOnDemand(next)
		return fmt.Sprintf("recorder: record on demand is now %s (spec §3.3); calls established from now on follow it", next), nil
	}
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	switch a.Kind {
	case ActImpair:
		id, err := b.l.Net.Impair(a.Impair)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("impairment %d set: %s (O lifts)", id, a.Impair), nil
	case ActLift:
		n := len(b.l.Net.Impairments())
		if n == 0 {
			return "", errors.New("no impairment in force")
		}
		b.l.Net.LiftAll()
		return fmt.Sprintf("lifted %d impairment(s)", n), nil
	}
	p, err := b.l.Phone(a.Phone)
	if err != nil {
		return "", err
	}
	who := fmt.Sprintf("%s (%s)", p.Name(), p.Ext())
	switch a.Kind {
	case ActRegister:
		// Registering again is allowed: after a PBX restart the phone still
		// believes it is registered until its refresh (spec §3.2.6).
		if err := p.Register(ctx); err != nil {
			return "", err
		}
		return who + " registered", nil
	case ActUnregister:
		if err := p.Unregister(ctx); err != nil {
			return "", err
		}
		return who + " unregistered", nil
	case ActDial:
		if err := p.Dial(ctx, a.Arg); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s dials %s", who, a.Arg), nil
	case ActAnswer:
		if err := p.Answer(); err != nil {
			return "", err
		}
		return who + " answers", nil
	case ActHangUp:
		if err := p.HangUp(ctx); err != nil {
			return "", err
		}
		return who + " hung up", nil
	case ActPower:
		if a.Powered {
			p.PowerOff()
			return who + " powered off (no BYE, no un-REGISTER: spec §3.2.4)", nil
		}
		if err := p.PowerOn(); err != nil {
			return "", err
		}
		if err := p.Register(ctx); err != nil {
			return "", fmt.Errorf("%s powered on but did not register: %w", who, err)
		}
		return who + " powered on and registered", nil
	case ActRecordKey:
		// The body is the phone's screen (XML); the phone's note in the log
		// says what it shows.
		status, _, err := p.PressRecordKey(ctx)
		if err != nil {
			return "", err
		}
		text := fmt.Sprintf("%s pressed the record key: the recorder answered %d %s", who, status, http.StatusText(status))
		if status == http.StatusForbidden && b.l.Recorder != nil && b.l.Recorder.OnDemandMode() == recorder.OnDemandOff {
			// Say why (issue 12: R always got 403 in the default lab, and
			// nothing said why).
			text += ": record on demand is off; M switches it"
		}
		return text, nil
	case ActFirmwareUpdate:
		if err := b.l.PBX.OrderUpdate(p.Ext()); err != nil {
			return "", err
		}
		return fmt.Sprintf("PBX ordered %s to update (spec §3.2.5)", who), nil
	case ActForcedLogOff:
		// a.Phone is phone B, which takes extension a.Arg (spec §3.2.3).
		if err := p.RegisterAs(ctx, a.Arg, b.l.Password(a.Arg)); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s registered %s: the phone that had it is logged off (spec §3.2.3)", p.Name(), a.Arg), nil
	}
	return "", fmt.Errorf("%s: %w", a.Kind, errNotAvailable)
}

// restartPBX plays spec §3.2.6: the PBX goes down and stays down until
// every phone that was registered has noticed through its keep-alive
// towards the gatekeeper (each logs off, BYE to the recorder if a session
// is up, and retries REGISTER), then comes back; the phones register again
// at their next retry. An instant restart went unnoticed by the phones,
// which stayed "registered" with a PBX that knew none of them.
//
// registered are the phones the UI shows registered: those must notice.
func (b *labBackend) restartPBX(ctx context.Context, registered []string) (string, error) {
	var watches []*sim.Watch
	for _, name := range registered {
		watches = append(watches, sim.WatchState(b.l.Net.Trace(), func(s phones.RegistrationState) bool {
			return s.Phone == name && !s.Registered
		}))
	}
	b.l.PBX.Stop()
	ka := b.l.Topology.Timers.PhoneKeepAlive
	if ka == 0 {
		ka = phones.DefaultKeepAlive
	}
	// A keep-alive to miss and its answer timeout, with room to spare.
	wctx, cancel := context.WithTimeout(ctx, 2*max(ka, time.Second)+10*time.Second)
	noticed := 0
	for _, w := range watches {
		if _, err := w.Wait(wctx); err == nil {
			noticed++
		} else {
			w.Cancel()
		}
	}
	cancel()
	if err := b.l.PBX.Start(); err != nil {
		return "", err
	}
	return fmt.Sprintf("PBX restarted (spec §3.2.6): down until %d of %d registered phones noticed it through their keep-alive; they register again at their next retry",
		noticed, len(watches)), nil
}

// storyMessage picks the messages step mode holds: SIP, CSTA and HTTP but
// the keep-alives (the phones' OPTIONS to the gatekeeper, spec §3.2.6, the
// recorder's UPDATE, spec §3.2.2, with their answers, and CSTA's
// SystemStatus both ways), whose timers run on while a message waits:
// held, they would log the phones off, end the sessions and drop the CSTA
// link. RTP is streams, and RAS is binary with its keep-alive RRQs among
// the rest: both flow on.
func storyMessage(p sim.Proto, b []byte) bool {
	switch p {
	case sim.ProtoCSTA:
		return !bytes.Contains(b, []byte("SystemStatus"))
	case sim.ProtoHTTP:
		return true
	case sim.ProtoSIP:
	default:
		return false
	}
	first, _, _ := strings.Cut(string(b[:min(len(b), 200)]), "\r\n")
	if strings.HasPrefix(first, "OPTIONS ") || strings.HasPrefix(first, "UPDATE ") {
		return false
	}
	if strings.HasPrefix(first, "SIP/2.0 ") {
		cseq := strings.Fields(sim.SIPHeader(b, "CSeq", ""))
		return len(cseq) != 2 || (cseq[1] != "OPTIONS" && cseq[1] != "UPDATE")
	}
	return true
}

// setSpeed moves a lab clock one step along speeds: faster with "+",
// slower with "-". Only a sim.ScaledClock has a rate to change.
func setSpeed(c sim.Clock, dir string) (string, error) {
	sc, ok := c.(*sim.ScaledClock)
	if !ok {
		return "", errors.New("this lab runs on the machine's clock: its speed cannot change")
	}
	rate := sc.Rate()
	i := sort.SearchFloat64s(speeds, rate) // the first step at or above the rate
	switch {
	case dir == "+" && i < len(speeds) && speeds[i] == rate:
		i++
	case dir == "-":
		i--
	}
	if i < 0 || i >= len(speeds) {
		return "", fmt.Errorf("the lab clock is at ×%g already, from ×%g to ×%g", rate, speeds[0], speeds[len(speeds)-1])
	}
	sc.SetRate(speeds[i])
	return fmt.Sprintf("lab clock ×%g: timers, pauses, link delays %g× the machine's (SIP T1 as at start)", speeds[i], speeds[i]), nil
}
