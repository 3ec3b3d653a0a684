package recorder

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// DeviceInfo is what CSTA taught the recorder about a phone: its address,
// recording SIP port and model.
type DeviceInfo = csta.DeviceInfo

// userAgent is the recorder's SIP User-Agent and From user.
const (
	userAgent = "reclab-recorder"
	sipUser   = "recorder"
)

// Recorder is the voice recorder node: a CSTA client that monitors
// extensions, the recording policy (dynamic or static mapping, spec §3.1),
// SIP recording sessions towards the phones (spec §3.2) and the RTP sink
// that writes stereo WAV files with JSON sidecars.
//
// One goroutine (the loop) owns the sessions and the policy state; the CSTA
// client, SIP transactions, keep-alive timers and RTP readers feed it events.
type Recorder struct {
	node *sim.Node
	net  *sim.Network
	cfg  Config

	events      chan any
	quit        chan struct{}
	loopStarted chan struct{} // closed as the loop starts
	loopDone    chan struct{}
	drained     chan struct{} // closed when closing and no session is left

	ctx        context.Context // SIP transactions; cancelled last in Close
	cancel     context.CancelCauseFunc
	cstaCancel context.CancelFunc
	cstaDone   chan struct{} // closed by the loop once the CSTA link is stopped

	stack   *sim.SIPStack
	dialogs atomic.Pointer[sipgo.DialogClientCache]

	startOnce, closeOnce sync.Once
	started              bool
	closeErr             error

	// final is the loop's last view, written before loopDone is closed:
	// what the views answer once the loop has stopped (view.go).
	final recorderView

	// Loop-owned: only the loop reads or writes these (views are asked
	// through it, view.go).
	devices      map[string]DeviceInfo // the published device table
	recordings   []Recording           // finished and kept, oldest first
	onDemandMode OnDemand              // cfg.OnDemand until SetOnDemand changes it
	sessions     map[string]*session   // by key: "d/<callID>/<ext>" or "s/<ext>"
	bySIPCallID  map[string]*session
	policy       *Policy // the recording policy (policy.go)
	ports        *portPlan
	closing      bool
	onDemand     onDemand   // record on demand (spec §3.3), ondemand.go
	files        files      // the file I/O workers (files.go)
	csta         cstaClient // the CSTA link (cstalink.go)

	packetHook func(ch int) // tests only: see sink.pushed
}

// New makes a recorder on node. It opens nothing until Start.
func New(node *sim.Node, cfg Config) (*Recorder, error) {
	if node == nil {
		return nil, errors.New("recorder: node is nil")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Monitored = append([]string(nil), cfg.Monitored...)
	return &Recorder{
		node:         node,
		net:          node.Network(),
		cfg:          cfg,
		events:       make(chan any, 256),
		quit:         make(chan struct{}),
		loopDone:     make(chan struct{}),
		drained:      make(chan struct{}),
		loopStarted:  make(chan struct{}),
		cstaDone:     make(chan struct{}),
		devices:      map[string]DeviceInfo{},
		sessions:     map[string]*session{},
		bySIPCallID:  map[string]*session{},
		policy:       NewPolicy(cfg.Mapping, cfg.OnDemand),
		onDemandMode: cfg.OnDemand,
		ports:        newPortPlan(cfg.RTPPort),
	}, nil
}

// Config returns the configuration given to New, defaults filled in; the
// record on demand mode in force is OnDemandMode.
func (r *Recorder) Config() Config {
	c := r.cfg
	c.Monitored = append([]string(nil), c.Monitored...)
	return c
}

// Start creates the recordings directory, binds the SIP stack and starts
// the CSTA client and the loop in the background. ctx bounds the CSTA client
// and the SIP transactions; Close ends everything and finishes the files.
func (r *Recorder) Start(ctx context.Context) error {
	err := errors.New("recorder: already started")
	r.startOnce.Do(func() { err = r.start(ctx) })
	return err
}

func (r *Recorder) start(ctx context.Context) error {
	if err := os.MkdirAll(r.cfg.OutDir, 0o755); err != nil {
		return fmt.Errorf("recorder: recordings directory: %w", err)
	}
	stack, err := r.node.StartSIP(r.cfg.SIPPort, userAgent, func(srv *sipgo.Server) {
		srv.OnBye(r.onBye)
	})
	if err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	r.stack = stack
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: sipUser, Host: r.node.Addr().String(), Port: int(r.cfg.SIPPort)}}
	r.dialogs.Store(sipgo.NewDialogClientCache(stack.Client, contact))

	r.ctx, r.cancel = context.WithCancelCause(ctx)
	cstaCtx, cstaCancel := context.WithCancel(ctx)
	r.cstaCancel = cstaCancel
	r.started = true
	r.startFileWorkers()
	close(r.loopStarted)
	r.node.Note("recorder up: SIP %s, %s mapping, monitoring %v", stack.Addr, r.cfg.Mapping, r.cfg.Monitored)
	r.startCSTA(cstaCtx)
	go r.loop()
	return r.startHTTP() // the record key's endpoints (spec §3.3), http.go
}

// Close ends every recording session with BYE (waiting a bounded time for
// the answers), finishes the WAV and JSON files, and closes the sockets.
func (r *Recorder) Close() error {
	r.closeOnce.Do(func() { r.closeErr = r.close() })
	return r.closeErr
}

func (r *Recorder) close() error {
	r.startOnce.Do(func() {}) // a later Start fails
	if !r.started {
		return nil
	}
	r.stopHTTP()
	r.cstaCancel()
	<-r.cstaDone
	r.post(closeEvent{})
	t := r.node.Clock().NewTimer(r.answerTimeout() + time.Second)
	select {
	case <-r.drained:
	case <-t.C:
		r.net.Errorf(r.node.Name(), netip.AddrPort{}, "recorder: sessions still open at close; finishing them without answer")
	}
	t.Stop()
	// Abort INVITEs still waiting without sending CANCEL (sipgo would wait
	// for a provisional response first).
	r.cancel(sipgo.WaitAnswerForceCancelErr)
	close(r.quit)
	<-r.loopDone
	r.csta.helpers.Wait() // the CSTA dial and reader goroutines
	err := r.stack.Close()
	r.node.Note("recorder closed")
	return err
}

// answerTimeout is how long an INVITE, UPDATE, re-INVITE or BYE may wait
// for its answer (Config.AnswerTimeout).
func (r *Recorder) answerTimeout() time.Duration { return r.cfg.AnswerTimeout }

// Events for the loop.
type (
	sessionEvent struct {
		s         *session
		in        Input
		dialog    *sipgo.DialogClientSession // InAnswered, InBadAnswer
		answer    media.RecordingAnswer      // InAnswered
		sipCallID string                     // InAnswered, InBadAnswer: the Call-ID of the INVITE answered (spec §3.2.1)
		rtt       time.Duration              // the round trip of the transaction that answered, when measured
	}
	phoneByeEvent struct{ sipCallID string }
	closeEvent    struct{}
)

// post hands an event to the loop; after the loop is gone it drops it.
func (r *Recorder) post(ev any) {
	select {
	case r.events <- ev:
	case <-r.loopDone:
	}
}

func (r *Recorder) loop() {
	defer close(r.loopDone)
	for r.serveOne(r.quit) {
		if r.closing && len(r.sessions) == 0 {
			select {
			case <-r.drained:
			default:
				close(r.drained)
			}
		}
	}
	for _, s := range r.sessions {
		r.closeRecording(s, ReasonClosed)
		r.finish(s, ReasonClosed)
	}
	r.closing = true
	// Every file is finished before Close returns.
	for r.files.outstanding > 0 {
		r.serveOne(nil)
	}
	r.stopFileWorkers()
	r.final = r.view() // the views' answer from now on (view.go)
}

// serveOne handles one event or hands one file job to a worker; it
// returns false, having done neither, once quit is closed (nil: never).
func (r *Recorder) serveOne(quit <-chan struct{}) bool {
	jobs, job := r.nextJob()
	select {
	case ev := <-r.events:
		r.handle(ev)
	case jobs <- job:
		r.handedOver()
	case <-r.cstaTick():
		r.cstaStep(CSTAEvent{Kind: CSTAKeepAliveDue})
	case <-quit:
		return false
	}
	return true
}

func (r *Recorder) handle(ev any) {
	switch ev := ev.(type) {
	case cstaLinkEvent, cstaDialed, cstaStart, cstaRedialDue, cstaStop:
		r.onCSTALink(ev) // cstalink.go
	case sessionEvent:
		if ev.dialog != nil {
			ev.s.dialog = ev.dialog
			ev.s.answer = ev.answer
		}
		if ev.sipCallID != "" {
			r.setSIPCallID(ev.s, ev.sipCallID)
		}
		if ev.rtt > 0 {
			ev.s.sipRTT = ev.rtt
		}
		if ev.in.Kind == InKeepAliveDue && r.callGone(ev.s) {
			return
		}
		r.step(ev.s, ev.in)
	case phoneByeEvent:
		if s := r.bySIPCallID[ev.sipCallID]; s != nil {
			r.step(s, Input{Kind: InPhoneBye})
		}
	case keyPressEvent:
		r.onKeyPress(ev)
	case setOnDemandEvent:
		r.onSetOnDemand(ev)
	case viewRequest:
		ev.reply <- r.view()
	case fileDoneEvent:
		r.onFileDone(ev)
	case inviteEvent:
		r.onInviteEvent(ev) // invite.go
	case closeEvent:
		r.closing = true
		r.policy.Step(PolicyEvent{Kind: PolicyClosing})
		for _, s := range r.sessions {
			r.step(s, Input{Kind: InStop, Reason: ReasonClosed})
		}
	}
}

// onCSTA feeds a CSTA event to the recording policy (policy.go) and does
// what it decides (spec §3.1, §3.2).
func (r *Recorder) onCSTA(ev cstaEvent) {
	switch m := ev.msg.(type) {
	case csta.BackInServiceEvent:
		r.policyStep(PolicyEvent{Kind: PolicyBackInService, Ext: ev.ext, Info: m.Info})
	case csta.OutOfServiceEvent:
		r.policyStep(PolicyEvent{Kind: PolicyOutOfService, Ext: ev.ext, Info: m.Info})
	case csta.EstablishedEvent:
		call := Call{ID: m.CallID, Calling: m.Calling, Called: m.Called, Media: m.Media}
		r.callEstablished(ev.ext, call)
		r.policyStep(PolicyEvent{Kind: PolicyEstablished, Ext: ev.ext, Call: call})
		r.node.Publish(CallEstablished{Ext: ev.ext, CallID: m.CallID, Calling: m.Calling, Called: m.Called})
	case csta.ConnectionClearedEvent:
		r.policyStep(PolicyEvent{Kind: PolicyCleared, Ext: ev.ext, Call: Call{ID: m.CallID}})
		r.callCleared(ev.ext, m.CallID)
	}
}

// policyStep steps the policy and performs its actions; it returns the
// first error a start met (for the record key's answer).
func (r *Recorder) policyStep(ev PolicyEvent) error {
	var first error
	for _, a := range r.policy.Step(ev) {
		switch a.Kind {
		case PolicyNote:
			r.node.Note("%s", a.Text)
		case PolicyError:
			r.net.Errorf(r.node.Name(), netip.AddrPort{}, "%s", a.Text)
			if first == nil {
				first = errors.New(a.Text)
			}
		case PolicyStep:
			if s := r.sessions[a.Key]; s != nil {
				r.step(s, a.Input)
			}
		case PolicyStart:
			s, err := r.newSession(a.Key, a.Ext, a.Call, a.Dev)
			if err != nil {
				err = fmt.Errorf("%s of %s not recorded: %w", a.Call, a.Ext, err)
				r.net.Errorf(r.node.Name(), netip.AddrPort{}, "%v", err)
				if first == nil {
					first = err
				}
				r.policyStep(PolicyEvent{Kind: PolicySessionEnded, Key: a.Key})
				continue
			}
			r.step(s, Input{Kind: InStart, Call: a.Call})
		}
	}
	if ev.Kind == PolicyBackInService || ev.Kind == PolicyOutOfService {
		// The published view follows the policy's table for this one
		// extension (a copy of the whole table per event was O(n²) while a
		// large lab registers).
		d, known := r.policy.Device(ev.Ext)
		if known {
			r.devices[ev.Ext] = d
		} else {
			delete(r.devices, ev.Ext)
		}
		r.node.Publish(DeviceState{Ext: ev.Ext, Known: known, Device: d, Cause: ev.Kind.String()})
	}
	return first
}

// session is the driver's side of one recording session: the pure core,
// the dialog, the two RTP sockets and the open file.
type session struct {
	key       string
	name      string // for the trace: "1001" (static) or "<callID>-1001"
	ext       string
	dev       DeviceInfo
	core      *Session
	sipCallID string // the dialog's Call-ID; a new one after recovery (spec §3.2.2)
	sdpID     uint64 // the offer's o= session id; a new one after recovery
	offer     []byte // the offer of the INVITE that made the dialog, repeated in the re-INVITE

	dialog *sipgo.DialogClientSession
	answer media.RecordingAnswer
	// offerTXKey, offerRXKey: the keys a KeysSDP recorder offers for the
	// forks (srtp.go); none otherwise.
	offerTXKey, offerRXKey media.SDESKey

	tx, rx   *sim.PacketConn
	sink     *sink
	file     *fileSlot // the current call's recording (files.go)
	prepared *fileSlot // a file opened ahead for the call being INVITEd for
	opening  *fileSlot // closed while its open was still running: its packets are held in sink
	timer    *sim.Timer
	drain    *sim.Timer // the drain grace of a file past its end (drain.go)

	// sipRTT is the round trip of the session's latest answered SIP
	// transaction (INVITE, UPDATE, re-INVITE, BYE → 200), on the lab clock.
	sipRTT time.Duration

	// unsureSince is when the CSTA link was lost while the session had a
	// call (lab clock + 1; 0: the link has been up through its call): its
	// ConnectionCleared may never come (callGone).
	unsureSince time.Duration
}

func (r *Recorder) newSession(key, ext string, call Call, dev DeviceInfo) (*session, error) {
	tx, err := r.ports.open(r.node)
	if err != nil {
		return nil, err
	}
	rx, err := r.ports.open(r.node)
	if err != nil {
		r.ports.release(tx.LocalAddrPort().Port())
		tx.Close()
		return nil, err
	}
	s := &session{
		key:       key,
		ext:       ext,
		dev:       dev,
		core:      NewSession(r.cfg.Mapping),
		sipCallID: r.newSIPCallID(),
		sdpID:     newSDPID(),
		tx:        tx,
		rx:        rx,
	}
	s.name = ext
	if r.cfg.Mapping == Dynamic {
		s.name = call.ID + "-" + ext
	}
	s.sink = &sink{net: r.net, node: r.node.Name(), owner: s.name, pushed: r.packetHook}
	if r.cfg.SRTP == KeysSDP {
		// The lab's own mode: the session's forks come protected with keys
		// it offers itself (spec §1.3, docs/wire.md "SRTP").
		txKey, rxKey, fk, err := sessionForkKeys()
		if err != nil {
			return nil, fmt.Errorf("recorder: SRTP keys for %s: %w", ext, err)
		}
		s.offerTXKey, s.offerRXKey = txKey, rxKey
		s.sink.setKeys(fk, true)
	}
	r.net.Label(tx.LocalAddrPort(), "recorder tx")
	r.net.Label(rx.LocalAddrPort(), "recorder rx")
	s.sink.start(tx, rx)
	r.sessions[key] = s
	r.bySIPCallID[s.sipCallID] = s
	return s, nil
}

func (r *Recorder) newSIPCallID() string {
	var rnd [12]byte
	rand.Read(rnd[:])
	return hex.EncodeToString(rnd[:]) + "@" + r.node.Addr().String()
}

// newSDPID is a fresh o= session id; they fit 63 bits (RFC 4566 §5.2).
func newSDPID() uint64 {
	var rnd [8]byte
	rand.Read(rnd[:])
	return binary.BigEndian.Uint64(rnd[:]) >> 1
}

// setSIPCallID makes id the session's dialog Call-ID: the one the phone
// answered (spec §3.2.1) or the recovery INVITE's (spec §3.2.2).
func (r *Recorder) setSIPCallID(s *session, id string) {
	if r.bySIPCallID[s.sipCallID] == s {
		delete(r.bySIPCallID, s.sipCallID)
	}
	s.sipCallID = id
	if r.sessions[s.key] == s {
		r.bySIPCallID[id] = s
	}
}

// step feeds the session's core and performs what it asks, in order.
func (r *Recorder) step(s *session, in Input) {
	for _, a := range s.core.Step(in) {
		r.perform(s, a)
	}
}

func (r *Recorder) perform(s *session, a Action) {
	switch a.Kind {
	case ActSendInvite:
		r.prepareRecording(s, a.Call) // the open overlaps the INVITE's round trip
		r.sendInvite(s, a.Call)
	case ActSendAck:
		// The phone forks from the ACK (spec §3.2); a file still being
		// opened is covered by the sink's held packets (sink.hold), so
		// set-up never waits on the disk (issue 14 item 3).
		r.sendAck(s)
	case ActArmKeepAlive:
		if s.timer != nil {
			s.timer.Stop()
		}
		s.timer = r.node.Clock().AfterFunc(r.cfg.KeepAlive, func() {
			r.post(sessionEvent{s: s, in: Input{Kind: InKeepAliveDue}})
		})
	case ActSendUpdate:
		go r.sendUpdate(s, s.dialog)
	case ActSendReInvite:
		r.node.Note("re-INVITE %s at %s as session refresher (spec §3.2.2)", s.ext, r.phoneAddr(s))
		r.node.Publish(InviteSent{Session: s.name, Ext: s.ext, Phone: r.phoneAddr(s), SIPCallID: s.sipCallID, Cause: InviteRefresher})
		go r.sendReInvite(s, s.dialog, s.offer)
	case ActRecover:
		r.recover(s)
	case ActSendBye:
		r.node.Note("BYE %s at %s", s.ext, r.phoneAddr(s))
		go r.sendBye(s, s.dialog)
	case ActOpenRecording:
		r.openRecording(s, a.Call)
	case ActCloseRecording:
		r.closeRecording(s, a.Reason)
	case ActDrainRecording:
		r.armDrain(s, a.Call) // drain.go
	case ActReport:
		r.net.Errorf(r.node.Name(), r.phoneAddr(s), "recording session %s: %s", s.name, a.Reason)
	case ActFinish:
		r.closeRecording(s, a.Reason) // the core closed it already; this is a safety net
		r.finish(s, a.Reason)
	}
}

// recover is spec §3.2.2's recovery: the old dialog is dropped without BYE
// (the phone sends none either: a new INVITE replaces its session) and a new
// INVITE goes out with a new Call-ID and a new SDP session id, offering the
// same RTP ports, so the open file goes on.
func (r *Recorder) recover(s *session) {
	old := s.sipCallID
	if s.dialog != nil {
		s.dialog.Close() // forget it in the dialog cache; sends nothing
		s.dialog = nil
	}
	r.setSIPCallID(s, r.newSIPCallID())
	s.sdpID = newSDPID()
	if s.file != nil {
		s.file.meta.Recoveries++
	}
	r.node.Note("recovery of %s: dialog %s dropped without BYE, new INVITE with Call-ID %s (spec §3.2.2)", s.name, old, s.sipCallID)
	call, _ := s.core.Current()
	r.sendInvite(s, call)
}

func (r *Recorder) phoneAddr(s *session) netip.AddrPort {
	return netip.AddrPortFrom(s.dev.IP, uint16(s.dev.RecordingPort))
}

func (r *Recorder) sendAck(s *session) {
	if s.dialog == nil {
		return
	}
	if s.file != nil {
		// The phone forks from the ACK: the first copy's arrival measures
		// the round trip recorder → phone (SIP) → recorder (RTP) (drain.go).
		s.sink.ackSent(r.net.Now())
	}
	if err := s.dialog.Ack(r.ctx); err != nil {
		r.net.Errorf(r.node.Name(), r.phoneAddr(s), "recording session %s: ACK: %v", s.name, err)
		return
	}
	if s.core.State() == SessionRecording {
		r.node.Publish(SessionChanged{Session: s.name, Ext: s.ext, Up: true, SIPCallID: s.sipCallID, Cause: "ACK sent"})
		r.node.Note("recording session %s up: %s, phone sends tx from %s, rx from %s", s.name, s.answer.Codec, s.answer.TX, s.answer.RX)
	}
}

// target is where in-dialog requests go: the phone's Contact.
func target(dt *sipgo.DialogClientSession) sip.Uri {
	if c := dt.InviteResponse.Contact(); c != nil {
		return *c.Address.Clone()
	}
	return *dt.InviteRequest.Recipient.Clone()
}

// sendUpdate is the keep-alive check (spec §3.2.2): UPDATE without body.
func (r *Recorder) sendUpdate(s *session, dt *sipgo.DialogClientSession) {
	in := Input{Kind: InKeepAliveOK}
	var rtt time.Duration
	if dt == nil {
		in = Input{Kind: InKeepAliveFailed, Reason: "no dialog"}
	} else if why, took := r.askInDialog(dt, sip.NewRequest(sip.UPDATE, target(dt))); why != "" {
		in = Input{Kind: InKeepAliveFailed, Reason: why}
	} else {
		rtt = took
	}
	r.post(sessionEvent{s: s, in: in, rtt: rtt})
}

// askInDialog sends req in dt and waits up to Config.AnswerTimeout for
// the answer; it returns "" for a 200 OK, else why not, and how long the
// answer took (the transaction's round trip, drain.go).
func (r *Recorder) askInDialog(dt *sipgo.DialogClientSession, req *sip.Request) (failed string, took time.Duration) {
	ctx, cancel := sim.WithTimeout(r.ctx, r.node.Clock(), r.answerTimeout())
	defer cancel()
	sent := r.net.Now()
	res, err := dt.Do(ctx, req)
	took = r.net.Now() - sent
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", r.answerTimeout()), took
	case err != nil:
		return err.Error(), took
	case res.StatusCode != sip.StatusOK:
		return fmt.Sprintf("phone answered %d %s", res.StatusCode, res.Reason), took
	}
	return "", took
}

// sendReInvite is the session refresher (spec §3.2.2): a re-INVITE in the
// dialog with the same offer; a 200 OK is ACKed.
func (r *Recorder) sendReInvite(s *session, dt *sipgo.DialogClientSession, offer []byte) {
	in := Input{Kind: InRefreshOK}
	if dt == nil {
		r.post(sessionEvent{s: s, in: Input{Kind: InRefreshFailed, Reason: "no dialog"}})
		return
	}
	req := sip.NewRequest(sip.INVITE, target(dt))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("User-Agent", userAgent))
	req.SetBody(offer)
	why, took := r.askInDialog(dt, req)
	if why != "" {
		r.post(sessionEvent{s: s, in: Input{Kind: InRefreshFailed, Reason: why}})
		return
	}
	if err := dt.WriteRequest(sip.NewRequest(sip.ACK, target(dt))); err != nil {
		// RFC 3261 §13.2.2.4: a 2xx to a re-INVITE is ACKed too, with its CSeq.
		r.net.Errorf(r.node.Name(), r.phoneAddr(s), "recording session %s: ACK of re-INVITE: %v", s.name, err)
	}
	r.post(sessionEvent{s: s, in: in, rtt: took})
}

// sendBye ends the dialog; the phone stops forking (spec §3.2).
func (r *Recorder) sendBye(s *session, dt *sipgo.DialogClientSession) {
	in := Input{Kind: InByeDone}
	var rtt time.Duration
	if dt == nil {
		in.Reason = "no dialog"
	} else {
		// Not bound to r.ctx: Close sends BYEs before it cancels that.
		ctx, cancel := sim.WithTimeout(context.Background(), r.node.Clock(), r.answerTimeout())
		sent := r.net.Now()
		if err := dt.Bye(ctx); err != nil {
			in.Reason = err.Error()
		} else {
			rtt = r.net.Now() - sent
		}
		cancel()
	}
	r.post(sessionEvent{s: s, in: in, rtt: rtt})
}

// onBye takes a BYE from a phone (spec §3.2: it sends one when it
// unregisters) through the dialog cache.
func (r *Recorder) onBye(req *sip.Request, tx sip.ServerTransaction) {
	src, _ := netip.ParseAddrPort(req.Source())
	dialogs := r.dialogs.Load()
	err := sipgo.ErrDialogDoesNotExists
	if dialogs != nil {
		err = dialogs.ReadBye(req, tx)
	}
	if errors.Is(err, sipgo.ErrDialogDoesNotExists) || errors.Is(err, sipgo.ErrDialogOutsideDialog) {
		r.net.Errorf(r.node.Name(), src, "BYE for no recording session of ours: %v", err)
		if rerr := tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)); rerr != nil {
			r.net.Errorf(r.node.Name(), src, "answer BYE: %v", rerr)
		}
		return
	}
	if err != nil {
		r.net.Errorf(r.node.Name(), src, "BYE: %v", err)
	}
	if id := req.CallID(); id != nil {
		r.post(phoneByeEvent{sipCallID: id.Value()})
	}
}

// finish releases what a session holds once its core has ended.
func (r *Recorder) finish(s *session, reason string) {
	if r.sessions[s.key] != s {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.drain != nil {
		s.drain.Stop()
	}
	for _, c := range []*sim.PacketConn{s.tx, s.rx} {
		ap := c.LocalAddrPort()
		c.Close()
		r.net.Label(ap, "")
		r.ports.release(ap.Port())
	}
	s.sink.wait()
	switch {
	case s.opening != nil:
		// The call's recording closed before its file was open: what the
		// phone forked is held for it (onFileDone).
		s.opening.held = s.sink
	default:
		if n := s.sink.dropHeld(); n > 0 {
			r.node.Note("recording session %s: %d packets arrived after its last file closed and were not recorded", s.name, n)
		}
	}
	if s.prepared != nil {
		r.dropPrepared(s, s.prepared)
		s.prepared = nil
	}
	if s.dialog != nil {
		s.dialog.Close()
	}
	delete(r.sessions, s.key)
	delete(r.bySIPCallID, s.sipCallID)
	r.node.Publish(SessionChanged{Session: s.name, Ext: s.ext, SIPCallID: s.sipCallID, Cause: reason})
	r.node.Note("recording session %s ended: %s", s.name, reason)
	r.policyStep(PolicyEvent{Kind: PolicySessionEnded, Key: s.key})
}

// labTime is the wall time of the lab clock now (design: one clock).
func (r *Recorder) labTime() time.Time {
	return r.net.Epoch().Add(r.net.Now()).UTC()
}
