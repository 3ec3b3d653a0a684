package scenarios

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/sim"
)

// Options for Execute.
type Options struct {
	OutDir string
	Log    io.Writer // where the flow and the check results are printed; nil for none
	// Speed is the rate of the lab clock against the machine's: 2 runs a
	// story twice as fast (a 30 s keep-alive fires after 15 s of machine
	// time, and reads 30 s in the trace). Every timer, pause and link delay
	// of the lab follows it; sipgo's transaction timers, which are machine
	// time, are divided by it. 0 means 1.
	Speed float64
	// Clock, when set, is the lab clock instead of the one Speed makes: a
	// UI passes a sim.ScaledClock at Speed to change its rate while the
	// story runs. Nil: a ScaledClock when Speed is not 1, else the machine's.
	Clock sim.Clock
	// Gate, when set, is called before each step and holds it until it
	// returns (the UI's step mode); it also raises SIP T1 to StepT1.
	Gate Gate
	// HEP, if set, gets every SIP message of the run (lab.Options.HEP).
	HEP netip.AddrPort
	// Topology, when set, adjusts the scenario's lab before it is built
	// (a test moves it to loopback addresses of its own).
	Topology func(*lab.Topology)
	// OnLab, when set, is called once the lab is built, before any node
	// starts: a UI subscribes to its trace here and misses nothing. An
	// error stops the run before it starts.
	OnLab func(*lab.Lab) error
	// NetDelay gives every link of the lab its own delay, drawn from a
	// range with a seed (sim.LinkDelays); zero: none. A story's flow must
	// differ only in timing with it.
	NetDelay sim.LinkDelays
}

// Result of a run.
type Result struct {
	Failures []string
	Checks   []CheckResult
	Trace    string // trace.txt
	JSONL    string // trace.jsonl
	Flow     string // flow.md
	Report   string // report.md
	Pcap     string // lab.pcapng
	Golden   string // the flow as the golden files hold it (Run.Golden)
	Started  bool   // the lab came up; false: it could not (a bound port, a node that failed)
}

// CheckResult is one PASS or FAIL.
type CheckResult struct {
	Step   int // 1-based; 0 for a failure outside the steps
	Pos    Pos
	What   string
	Pass   bool
	Reason string // what was expected and what was seen, on failure
}

// Run is one execution of a scenario against a live lab.
type Run struct {
	Scenario *Scenario
	Lab      *lab.Lab
	Ctx      context.Context
	Out      string

	speed  float64
	gate   Gate
	rogue  *lab.Rogue
	step   int
	pos    Pos
	checks []CheckResult
	fatal  []string

	mu      sync.Mutex
	events  []sim.Event // every trace event, in order, as the printer saw it
	changed chan struct{}
	mark    int // waits count matches from here: the start of the last action

	impairs map[impairKey][]int // impairments in force, for lift
}

type impairKey struct{ a, b, proto string }

// impair sets a network impairment between two nodes, both ways.
func (r *Run) impair(im *Impairment) error {
	si, err := im.Sim()
	if err != nil {
		return err
	}
	id, err := r.Lab.Net.Impair(si)
	if err != nil {
		return err
	}
	if r.impairs == nil {
		r.impairs = map[impairKey][]int{}
	}
	k := impairKey{im.Between[0], im.Between[1], im.Proto}
	r.impairs[k] = append(r.impairs[k], id)
	return nil
}

// lift removes the impairments set between the same nodes for the same
// protocol; with no `between`, every impairment.
func (r *Run) lift(im *Impairment) error {
	if im.Between[0] == "" {
		r.Lab.Net.LiftAll()
		r.impairs = nil
		return nil
	}
	var ids []int
	for k, v := range r.impairs {
		same := (k.a == im.Between[0] && k.b == im.Between[1]) || (k.a == im.Between[1] && k.b == im.Between[0])
		if same && (im.Proto == "all" || k.proto == im.Proto) {
			ids = append(ids, v...)
			delete(r.impairs, k)
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("no impairment between %s and %s for %s is in force", im.Between[0], im.Between[1], im.Proto)
	}
	for _, id := range ids {
		if err := r.Lab.Net.Lift(id); err != nil {
			return err
		}
	}
	return nil
}

// notImplemented names, for each action whose node method does not exist
// yet, what is missing. The runner refuses such a scenario before the lab
// starts. When the method lands, delete the entry and add the call to act.
var notImplemented = map[string]string{}

// Preflight refuses a scenario the lab cannot run yet, before anything
// starts: an action whose node method is missing.
func Preflight(s *Scenario) error {
	var errs []string
	for _, st := range s.Steps {
		if why, ok := notImplemented[st.Kind]; ok {
			errs = append(errs, fmt.Sprintf("%s: not implemented yet: %s (%s)", st.Pos, st.Kind, why))
		}
	}
	// Every configuration value of the lab is checked here, before any lab
	// starts: a run of several files stops at a bad one before running the
	// good ones.
	if err := lab.Check(s.Topology()); err != nil {
		errs = append(errs, fmt.Sprintf("%s: %v", s.Source, err))
	}
	if len(errs) > 0 {
		return errors.New("scenarios: " + strings.Join(errs, "\n"))
	}
	return nil
}

// Execute builds the scenario's lab, runs its steps, prints every trace
// event as it happens (to opt.Log and OutDir/trace.txt) and writes
// trace.jsonl, flow.md and report.md. It returns what failed.
func Execute(ctx context.Context, s *Scenario, opt Options) (Result, error) {
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	if opt.Speed <= 0 {
		opt.Speed = 1
	}
	dir := opt.OutDir
	res := Result{
		Trace: filepath.Join(dir, "trace.txt"), JSONL: filepath.Join(dir, "trace.jsonl"),
		Flow: filepath.Join(dir, "flow.md"), Report: filepath.Join(dir, "report.md"), Pcap: filepath.Join(dir, "lab.pcapng"),
	}
	if err := Preflight(s); err != nil {
		return res, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("scenarios: %w", err)
	}
	tf, err := os.Create(res.Trace)
	if err != nil {
		return res, fmt.Errorf("scenarios: %w", err)
	}
	defer tf.Close()
	jf, err := os.Create(res.JSONL)
	if err != nil {
		return res, fmt.Errorf("scenarios: %w", err)
	}
	defer jf.Close()

	// T1 in lab time; sipgo counts it on the machine's clock.
	t1 := max(s.Lab.Timers.SIPT1, netDelayT1(opt.NetDelay))
	if opt.Gate != nil {
		t1 = max(t1, StepT1)
	}
	if opt.Speed != 1 {
		t1 = time.Duration(float64(cmp.Or(t1, 500*time.Millisecond)) / opt.Speed)
	}
	lab.SetSIPTimers(t1)
	topo := s.Topology()
	if opt.Topology != nil {
		opt.Topology(&topo)
	}
	clock := opt.Clock
	if clock == nil && opt.Speed != 1 {
		clock = sim.NewScaledClock(opt.Speed)
	}
	l, err := lab.Build(topo, lab.Options{OutDir: dir, Pcap: true, HEP: opt.HEP, NetDelay: opt.NetDelay, Clock: clock})
	if err != nil {
		return res, err
	}
	if opt.OnLab != nil {
		if err := opt.OnLab(l); err != nil {
			return res, errors.Join(err, l.Close())
		}
	}
	r := &Run{Scenario: s, Lab: l, Ctx: ctx, Out: dir, speed: opt.Speed, gate: opt.Gate, changed: make(chan struct{})}

	if s.Section != "" {
		fmt.Fprintf(opt.Log, "scenario %s (spec %s): %s\n", s.Name, s.Section, s.Description)
	} else {
		fmt.Fprintf(opt.Log, "scenario %s: %s\n", s.Name, s.Description)
	}
	if opt.Speed != 1 {
		fmt.Fprintf(opt.Log, "speed ×%g: the lab clock runs %g times the machine's\n", opt.Speed, opt.Speed)
	}
	if opt.NetDelay.Max > 0 {
		fmt.Fprintf(opt.Log, "network: %s; SIP T1 %s\n", opt.NetDelay, max(t1, 500*time.Millisecond))
	}
	// The printer is a blocking subscriber: trace.txt and the run's own
	// event log must hold every line, from the build's notices on.
	built, sub := l.Net.Trace().SubscribeWithRecent(4096, true)
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		tw, jw := bufio.NewWriter(tf), bufio.NewWriter(jf)
		defer tw.Flush()
		defer jw.Flush()
		record := func(e sim.Event) {
			// A state event is the typed twin of a note: its value goes
			// to trace.jsonl; the printed flow has the note's words.
			if e.Kind != sim.KindState {
				line := e.String()
				fmt.Fprintln(tw, line)
				fmt.Fprintln(opt.Log, line)
			}
			writeJSONL(jw, e)
			r.mu.Lock()
			r.events = append(r.events, e)
			close(r.changed)
			r.changed = make(chan struct{})
			r.mu.Unlock()
		}
		for _, e := range built {
			record(e)
		}
		// trace.txt and trace.jsonl reach their files at least once a
		// second, whole lines only: a run that is killed leaves them at
		// most a second behind (issue 11 item 5).
		flush := l.Net.Clock().NewTicker(time.Second)
		defer flush.Stop()
		for {
			select {
			case <-flush.C:
				tw.Flush()
				jw.Flush()
			case e, ok := <-sub.C:
				if !ok {
					return
				}
				record(e)
			}
		}
	}()

	runErr := r.start()
	if runErr == nil {
		res.Started = true
		runErr = r.steps()
	}
	if r.rogue != nil {
		r.rogue.Close()
	}
	closeErr := l.Close()
	<-printed
	if runErr != nil {
		r.fatal = append(r.fatal, runErr.Error())
		fmt.Fprintf(opt.Log, "FAIL  %v\n", runErr)
	}
	if closeErr != nil {
		r.fatal = append(r.fatal, "closing the lab: "+closeErr.Error())
	}
	for _, c := range r.checks {
		if !c.Pass {
			res.Failures = append(res.Failures, c.What+": "+c.Reason)
		}
	}
	res.Failures = append(res.Failures, r.fatal...)
	res.Checks = r.checks
	res.Golden = r.Golden()
	if err := r.writeExports(res); err != nil {
		res.Failures = append(res.Failures, err.Error())
	}
	passed := 0
	for _, c := range r.checks {
		if c.Pass {
			passed++
		}
	}
	fmt.Fprintf(opt.Log, "%d of %d checks passed\n", passed, len(r.checks))
	if len(res.Failures) == 0 {
		return res, nil
	}
	return res, &runFailure{msg: "scenarios: " + s.Name + ": " + strings.Join(res.Failures, "; "), cause: runErr}
}

// runFailure is a run's failures in one message; it unwraps to the error
// that stopped the run, if one did, so a caller can tell an address in use
// (syscall.EADDRINUSE) from a failed check.
type runFailure struct {
	msg   string
	cause error
}

func (f *runFailure) Error() string { return f.msg }
func (f *runFailure) Unwrap() error { return f.cause }

// netDelayT1 is the least SIP T1 for a lab with link delays d: RFC 3261
// §17.1.1.1 makes T1 an estimate of the round trip, and a T1 below it
// retransmits every request over UDP, which no story means to show. The
// longest round trip is twice the slowest link with its jitter; T1 is half
// as much again. 0 without link delays, or when 500 ms covers them.
func netDelayT1(d sim.LinkDelays) time.Duration {
	rtt := 2 * (d.Max + d.Max/10)
	if t1 := rtt * 3 / 2; t1 > 500*time.Millisecond {
		return t1
	}
	return 0
}

// Say narrates: the line goes into the trace as a note of "scenario".
func (r *Run) Say(format string, args ...any) {
	r.Lab.Net.Note("scenario", format, args...)
}

// Check records a check's outcome, in the trace and the report.
func (r *Run) Check(ok bool, what string, format string, args ...any) {
	c := CheckResult{Step: r.step, Pos: r.pos, What: what, Pass: ok}
	if ok {
		r.Say("PASS  %s", what)
	} else {
		c.Reason = fmt.Sprintf(format, args...)
		r.Say("FAIL  %s: %s", what, c.Reason)
	}
	r.checks = append(r.checks, c)
}

// start brings the lab up as `lab:` says: the PBX and the recorder, then
// each phone powered on and registered unless its `start:` says otherwise.
// It returns once the recorder has learnt every monitored registered phone
// over CSTA (BackInServiceEvent, spec §3.2.4–3.2.6), so the steps begin on
// a lab at rest.
func (r *Run) start() error {
	l := r.Lab
	r.Say("the PBX and the recorder come up; the phones power on and register")
	if r.Scenario.Lab.Rogue {
		rg, err := l.AddRogue()
		if err != nil {
			return err
		}
		r.rogue = rg
	}
	if err := l.PBX.Start(); err != nil {
		return err
	}
	if err := l.Recorder.Start(r.Ctx); err != nil {
		return err
	}
	// The recorder's monitors first, so every registration below reaches
	// it as a BackInServiceEvent in the same order on every run.
	if n := len(l.Topology.Recorder.Monitored); n > 0 {
		m := Matcher{From: "pbx", To: "recorder", Proto: "CSTA", Method: "MonitorStartResponse"}
		if _, _, err := r.waitFor(0, m, n, r.timeout(DefaultTimeout)); err != nil {
			return fmt.Errorf("lab start: waited for the recorder's monitors: %w", err)
		}
	}
	for _, p := range l.Phones {
		if r.Scenario.phoneStart(p.Name()) == "off" {
			continue
		}
		if err := p.PowerOn(); err != nil {
			return err
		}
	}
	monitored := map[string]bool{}
	for _, e := range l.Topology.Recorder.Monitored {
		monitored[e] = true
	}
	// Registrations one at a time, each until the recorder has heard of it,
	// so the CSTA events come in the same order on every run.
	for _, p := range l.Phones {
		if r.Scenario.phoneStart(p.Name()) != "registered" {
			continue
		}
		if err := p.Register(r.Ctx); err != nil {
			return err
		}
		if !monitored[p.Ext()] {
			continue
		}
		m := Matcher{From: "pbx", To: "recorder", Proto: "CSTA", Method: "BackInServiceEvent", Text: "BackInServiceEvent " + p.Ext() + " "}
		if _, _, err := r.waitFor(0, m, 1, r.timeout(DefaultTimeout)); err != nil {
			return fmt.Errorf("lab start: waited for the recorder to learn %s: %w", p.Ext(), err)
		}
	}
	r.mark = len(r.settled())
	return nil
}

// timeout is a wait's bound in lab time: its length in lab time and at
// least as long in machine time, so a faster clock does not cut the time
// the machine has to do the work.
func (r *Run) timeout(d time.Duration) time.Duration {
	if r.speed > 1 {
		return time.Duration(float64(d) * r.speed)
	}
	return d
}

// waitFor scans the run's events from index from for the count-th match,
// then waits for more until timeout. It returns the index just past the
// match.
func (r *Run) waitFor(from int, m Matcher, count int, timeout time.Duration) (int, sim.Event, error) {
	deadline := r.Lab.Net.Clock().NewTimer(timeout) // lab time, as every timer of the story
	defer deadline.Stop()
	seen, i := 0, from
	for {
		r.mu.Lock()
		evs, ch := r.events[i:], r.changed
		r.mu.Unlock()
		for _, e := range evs {
			i++
			if m.Match(e) {
				if seen++; seen >= count {
					return i, e, nil
				}
			}
		}
		select {
		case <-ch:
		case <-deadline.C:
			return i, sim.Event{}, r.waitFailed(from, m, count, seen, timeout)
		case <-r.Ctx.Done():
			return i, sim.Event{}, r.Ctx.Err()
		}
	}
}

// waitFailed says what a wait wanted and what came instead: the nearest
// events since it began counting (nearest.go), e.g. "wanted pbx → 7434 SIP
// 408 within 40s; saw pbx → 7434 SIP 480 Temporarily Unavailable (INVITE)
// at 32.102s".
func (r *Run) waitFailed(from int, m Matcher, count, seen int, timeout time.Duration) error {
	evs := r.eventsSoFar()[from:]
	wanted := m.String()
	if count > 1 {
		wanted = fmt.Sprintf("%d × %s", count, m)
	}
	got := ""
	if seen > 0 {
		var last sim.Event
		for _, e := range evs {
			if m.Match(e) {
				last = e
			}
		}
		got = fmt.Sprintf(", got %d (the last %s)", seen, eventText(last))
	}
	return fmt.Errorf("wanted %s within %s%s%s", wanted, timeout, got, sawInstead(evs, m, "since the last action or the lab's start"))
}

// eventsSoFar returns the events the printer has taken in. r.events only
// grows, so the slice taken under the lock stays valid while it appends.
func (r *Run) eventsSoFar() []sim.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}

// settled returns every event published so far, once the printer has
// taken them all in, so a check judges the whole past.
func (r *Run) settled() []sim.Event {
	tr := r.Lab.Net.Trace()
	var total uint64
	for k := sim.Kind(0); k < 16; k++ {
		total += tr.Count(k)
	}
	gone := r.Lab.Net.Clock().NewTimer(time.Second)
	defer gone.Stop()
	for {
		r.mu.Lock()
		evs, ch := r.events, r.changed
		r.mu.Unlock()
		if uint64(len(evs)) >= total {
			return evs
		}
		select {
		case <-ch:
		case <-gone.C:
			return evs // the printer is gone (lab closed): judge what there is
		}
	}
}

func (r *Run) steps() error {
	for i, st := range r.Scenario.Steps {
		r.step, r.pos = i+1, st.Pos
		if r.gate != nil {
			if err := r.gate(r.Ctx, i+1, st); err != nil {
				return fmt.Errorf("step %d (%s): %w", i+1, st.Pos, err)
			}
		}
		if st.Say != "" {
			r.Say("%s", st.Say)
		}
		if st.Kind == "" {
			continue
		}
		if err := r.do(st); err != nil {
			return fmt.Errorf("step %d (%s) %s: %w", i+1, st.Pos, st.Kind, err)
		}
	}
	return nil
}

// do performs one step. Actions and waits that fail stop the story; checks
// record PASS or FAIL and the story goes on.
func (r *Run) do(st Step) error {
	l := r.Lab
	if desc := describeStep(st); desc != "" {
		r.Say("▸ %s", desc)
	}
	if isAction(st.Kind) {
		// What an action causes happens after it starts: the waits that
		// follow count from here.
		r.mark = len(r.settled())
	}
	switch st.Kind {
	case "wait":
		if st.Wait == nil {
			pause := r.Lab.Net.Clock().NewTimer(st.Pause)
			defer pause.Stop()
			select {
			case <-pause.C:
				return nil
			case <-r.Ctx.Done():
				return r.Ctx.Err()
			}
		}
		_, _, err := r.waitFor(r.mark, st.Wait.Match, st.Wait.Count, r.timeout(st.Wait.Timeout))
		return err
	case "expect":
		r.checkExpect(st.Expect)
		return nil
	case "expect-order":
		r.checkOrder(st.Order)
		return nil
	case "expect-phone":
		r.checkPhone(st.Phone, st.State)
		return nil
	case "expect-recording":
		r.checkRecording(st.Phone, st.Rec)
		return nil
	case "pbx-restart":
		l.PBX.Stop()
		return l.PBX.Start()
	case "pbx-stop":
		l.PBX.Stop()
		return nil
	case "pbx-start":
		return l.PBX.Start()
	case "impair":
		return r.impair(st.Impair)
	case "lift":
		return r.lift(st.Impair)
	case "rogue-register":
		_, err := r.rogue.StealRegistration(r.Ctx, st.Ext, l.PBX.Addr(), st.Guess)
		return err
	}
	if why, ok := notImplemented[st.Kind]; ok {
		return fmt.Errorf("not implemented yet: %s (%s)", st.Kind, why)
	}
	p, err := l.Phone(st.Phone)
	if err != nil {
		return err
	}
	switch st.Kind {
	case "register":
		return p.Register(r.Ctx)
	case "unregister":
		return p.Unregister(r.Ctx)
	case "dial":
		return p.Dial(r.Ctx, st.To)
	case "answer":
		return p.Answer()
	case "hang-up":
		return p.HangUp(r.Ctx)
	case "power-off":
		p.PowerOff()
		return nil
	case "power-on":
		return p.PowerOn()
	case "register-as":
		return p.RegisterAs(r.Ctx, st.Ext, r.Lab.Password(st.Ext))
	case "firmware-update":
		if err := r.editConfig(p, st.Config); err != nil {
			return err
		}
		return l.PBX.OrderUpdate(p.Ext())
	case "record-key":
		_, _, err := p.PressRecordKey(r.Ctx)
		return err
	case "forged-invite":
		_, err := r.rogue.ForgeRecordingInvite(r.Ctx, p.Ext(), p.RecordingAddr())
		return err
	}
	return fmt.Errorf("not implemented yet: %s", st.Kind)
}

// describeStep is the step as the trace shows it: "dial 7434 → 1002".
// Checks print their own PASS/FAIL line instead.
func describeStep(st Step) string {
	switch st.Kind {
	case "expect", "expect-order", "expect-phone", "expect-recording":
		return ""
	case "wait":
		if st.Wait == nil {
			return "wait " + st.Pause.String()
		}
		n := ""
		if st.Wait.Count > 1 {
			n = fmt.Sprintf(" ×%d", st.Wait.Count)
		}
		return fmt.Sprintf("wait for %s%s", st.Wait.Match, n)
	case "dial":
		return fmt.Sprintf("dial %s → %s", st.Phone, st.To)
	case "register-as":
		return fmt.Sprintf("register-as %s as %s", st.Phone, st.Ext)
	case "impair", "lift":
		return describeImpair(st.Kind, st.Impair)
	}
	if st.Phone != "" {
		return st.Kind + " " + st.Phone
	}
	return st.Kind
}

// isAction: the step changes the lab (waits, pauses and checks do not).
func isAction(kind string) bool {
	return kind != "" && kind != "wait" && !strings.HasPrefix(kind, "expect")
}
