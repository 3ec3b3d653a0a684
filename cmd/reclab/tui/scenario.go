package tui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/scenarios"
	"github.com/reclab/reclab/sim"
)

// Scenarios in the UI (issue 6): a library scenario runs on a lab of its
// own (its `lab:` section), so running one closes the UI's lab, builds the
// scenario's, subscribes the UI to its trace before any node starts, and
// runs the steps on a goroutine of their own (scenarios.Execute). The
// narration comes as trace notes from "scenario" and shows in the Log pane.
// In step mode a gate holds each step until the user presses the step key;
// the lab itself runs on meanwhile and never waits for the UI.

// ScenarioRequest is what the user asked to run.
type ScenarioRequest struct {
	Name  string  // a library name, or a .yaml file
	Step  bool    // one step per key press
	Speed float64 // the lab clock's rate (scenarios.Options.Speed); 0 means 1
}

// ScenarioInfo is one line of the scenario list.
type ScenarioInfo struct {
	Name, Section, Description string
	Steps                      int
}

// ScenarioOutcome is how a run ended.
type ScenarioOutcome struct {
	Passed, Checks int
	Dir            string // trace, pcap, report
	Started        bool   // the lab came up (false: a bound port, a node that failed)
	Err            error  // a failed check or step, or the lab that did not start
}

// ScenarioRun is a scenario whose lab is built and not yet started.
type ScenarioRun struct {
	Backend Backend // the scenario's lab
	Info    ScenarioInfo
	start   func()                 // the UI has subscribed: the lab may start
	wait    func() ScenarioOutcome // blocks until the run ends and its lab is closed
	ended   <-chan struct{}        // closed when it has
	req     ScenarioRequest
	steps   *stepper // step mode's gate; nil otherwise
}

// Scenarios lists the scenarios the UI offers and launches them.
type Scenarios interface {
	List() []ScenarioInfo
	// Launch builds the scenario's lab (the UI's own lab must be closed:
	// they share the address plan) and returns it before anything starts.
	// gate, when not nil, holds each step (step mode).
	Launch(ctx context.Context, req ScenarioRequest, gate scenarios.Gate) (*ScenarioRun, error)
}

// Library offers the embedded scenario library; each run writes its trace,
// pcap and report to out/NAME. place, when not nil, adjusts each lab's
// topology before it is built (tests move it to addresses of their own).
func Library(out string, place func(*lab.Topology)) Scenarios {
	return libraryScenarios{out: out, place: place}
}

type libraryScenarios struct {
	out      string
	place    func(*lab.Topology)
	netDelay sim.LinkDelays // every link its own delay (Options.NetDelay)
}

func infoOf(s *scenarios.Scenario) ScenarioInfo {
	return ScenarioInfo{Name: s.Name, Section: s.Section, Description: s.Description, Steps: len(s.Steps)}
}

func (ls libraryScenarios) List() []ScenarioInfo {
	lib, _ := scenarios.Library() // an embedded file that does not parse fails the scenarios tests
	var out []ScenarioInfo
	for _, s := range lib {
		out = append(out, infoOf(s))
	}
	return out
}

func (ls libraryScenarios) Launch(ctx context.Context, req ScenarioRequest, gate scenarios.Gate) (*ScenarioRun, error) {
	s, err := scenarios.Load(req.Name)
	if err != nil {
		return nil, err
	}
	// Execute runs scenarios.Preflight first: a refused scenario comes back
	// through finished below, before any lab is built.
	ctx, cancel := context.WithCancel(ctx)
	dir := filepath.Join(ls.out, s.Name)
	built, start, finished := make(chan *lab.Lab, 1), make(chan struct{}), make(chan struct{})
	var outcome ScenarioOutcome
	go func() {
		defer close(finished)
		res, err := scenarios.Execute(ctx, s, scenarios.Options{OutDir: dir, Log: io.Discard, Speed: req.Speed,
			Clock: sim.NewScaledClock(cmp.Or(req.Speed, 1)),
			Gate:  gate, Topology: ls.place, NetDelay: ls.netDelay,
			OnLab: func(l *lab.Lab) error {
				built <- l
				select {
				case <-start:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}})
		outcome = ScenarioOutcome{Checks: len(res.Checks), Dir: dir, Started: res.Started, Err: err}
		for _, c := range res.Checks {
			if c.Pass {
				outcome.Passed++
			}
		}
	}()
	var l *lab.Lab
	select {
	case l = <-built:
	case <-finished: // refused before its lab was built
		cancel()
		return nil, outcome.Err
	}
	wait := func() ScenarioOutcome { <-finished; return outcome }
	b := &scenarioBackend{Backend: NewLabBackend(l, dir), finished: finished,
		stop: func() { cancel(); <-finished }}
	return &ScenarioRun{Backend: b, Info: infoOf(s), start: sync.OnceFunc(func() { close(start) }), wait: wait, ended: finished}, nil
}

// scenarioBackend is a scenario's lab: the user may act on it while the
// story runs; the scenario starts it, and closes it when the story ends.
type scenarioBackend struct {
	Backend
	finished chan struct{}
	stop     func()
}

func (b *scenarioBackend) Start(context.Context) error { return nil }

// Close stops the story if it still runs and waits until its lab is closed
// and its files written. A failed story is reported in the UI, not as an
// error of Close.
func (b *scenarioBackend) Close() error {
	b.stop()
	return nil
}

func (b *scenarioBackend) Do(ctx context.Context, a Action) (string, error) {
	select {
	case <-b.finished:
		return "", errors.New("the scenario has ended and its lab is closed; s runs another")
	default:
	}
	return b.Backend.Do(ctx, a)
}

// closingBackend closes its lab once, whoever asks first (a scenario
// replacing it, or the end of Run).
type closingBackend struct {
	Backend
	close func() error
}

func (b closingBackend) Close() error { return b.close() }

// closeBackend closes a backend that can be closed.
func closeBackend(b Backend) error {
	if c, ok := b.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// stepper is the step mode's gate: the scenario's goroutine says which step
// waits, and a key press lets it run.
type stepper struct {
	ready chan stepInfo // the step now waiting for the user
	next  chan struct{} // one press may be queued while a step runs
}

type stepInfo struct {
	n    int
	what string
}

func newStepper() *stepper {
	return &stepper{ready: make(chan stepInfo), next: make(chan struct{}, 1)}
}

func (s *stepper) gate(ctx context.Context, n int, st scenarios.Step) error {
	select {
	case s.ready <- stepInfo{n, st.Describe()}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-s.next:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scenarioState is the scenario the UI runs or last ran.
type scenarioState struct {
	run     *ScenarioRun
	waiting int // the step waiting for the key; 0 when none
	ran     int // the last step let through
	ended   bool
	out     *ScenarioOutcome // how it ended, shown once its last events are
}

// Messages of a scenario run.
type (
	launchedMsg struct {
		run *ScenarioRun
		err error
	}
	stepWaitMsg struct {
		run  *ScenarioRun
		info stepInfo
	}
	scenarioDoneMsg struct {
		run *ScenarioRun
		out ScenarioOutcome
	}
)

// LaunchScenario builds a scenario's lab for the UI before the program
// starts (`reclab tui --scenario NAME`): New on run.Backend, then
// StartScenario.
func LaunchScenario(ctx context.Context, sc Scenarios, req ScenarioRequest) (*ScenarioRun, error) {
	var st *stepper
	var gate scenarios.Gate
	if req.Step {
		st = newStepper()
		gate = st.gate
	}
	run, err := sc.Launch(ctx, req, gate)
	if err != nil {
		return nil, err
	}
	run.req, run.steps = req, st
	return run, nil
}

// SetScenarios gives the UI its scenario list (the `s` key).
func (m *Model) SetScenarios(sc Scenarios) { m.scens = sc }

// StartScenario makes a launched scenario (built on the model's backend)
// the one Init starts.
func (m *Model) StartScenario(run *ScenarioRun) {
	m.pending = &launchedMsg{run: run}
}

// launch closes the UI's lab and builds the scenario's, in a command.
func (m *Model) launch(req ScenarioRequest) tea.Cmd {
	if m.busy {
		m.setStatus(true, "a scenario's lab is being built already")
		return nil
	}
	m.busy, m.backing, m.carryStory = true, false, nil // goBack sets them again for its replay
	old, sc, ctx := m.b, m.scens, m.ctx
	m.setStatus(false, "%s: closing this lab and building the scenario's…", req.Name)
	return func() tea.Msg {
		if err := closeBackend(old); err != nil {
			return launchedMsg{err: fmt.Errorf("closing the lab: %w", err)}
		}
		run, err := LaunchScenario(ctx, sc, req)
		return launchedMsg{run: run, err: err}
	}
}

// began takes a built scenario's lab: the UI is subscribed, so it may
// start; the commands wait for its steps and its end.
func (m *Model) began(msg launchedMsg) tea.Cmd {
	run := msg.run
	m.scen = &scenarioState{run: run}
	mode := "runs"
	if run.steps != nil {
		mode = "runs in step mode (. runs the next step)"
	}
	speed := ""
	if run.req.Speed > 0 && run.req.Speed != 1 {
		speed = fmt.Sprintf(" at speed ×%g", run.req.Speed)
	}
	m.setStatus(false, "scenario %s (spec %s) %s%s: %s", run.Info.Name, run.Info.Section, mode, speed, run.Info.Description)
	run.start()
	return tea.Batch(m.waitStep(), func() tea.Msg { return scenarioDoneMsg{run: run, out: run.wait()} })
}

// waitStep waits for the gate to hold the next step (step mode only).
func (m *Model) waitStep() tea.Cmd {
	if m.scen == nil || m.scen.run.steps == nil || m.scen.ended {
		return nil
	}
	st, run := m.scen.run.steps, m.scen.run
	return func() tea.Msg {
		select {
		case info := <-st.ready:
			return stepWaitMsg{run: run, info: info}
		case <-run.ended:
			return nil
		}
	}
}

// updateScenario handles the scenario's messages.
func (m *Model) updateScenario(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case launchedMsg:
		m.busy = false
		if msg.err != nil {
			m.carryStory, m.backing = nil, false
			m.setStatus(true, "%s", plainError(msg.err))
			return m, nil
		}
		m.attach(msg.run.Backend)
		return m, tea.Batch(m.drain(), m.began(msg))
	case stepWaitMsg:
		if m.scen == nil || msg.run != m.scen.run || m.scen.ended {
			return m, nil
		}
		m.scen.waiting = msg.info.n
		if m.backing && msg.info.n < m.scen.run.Info.Steps {
			// A Back replay: every step but the last runs at once.
			m.scen.run.steps.next <- struct{}{}
			m.scen.ran, m.scen.waiting = msg.info.n, 0
			return m, m.waitStep()
		}
		// The status line only: the Log pane is the lab's and the story's.
		m.status, m.statusErr = fmt.Sprintf("step %d of %d next: %s  (. runs it)", msg.info.n, m.scen.run.Info.Steps, msg.info.what), false
		return m, m.waitStep()
	case scenarioDoneMsg:
		if m.scen == nil || msg.run != m.scen.run {
			return m, nil
		}
		m.scen.ended, m.scen.waiting, m.scen.out = true, 0, &msg.out
		m.scenarioEnded()
		return m, nil
	}
	return m, nil
}

// scenarioEnded says how the scenario ended once both its outcome and its
// lab's last events (the trace closes with the lab) are in: the status
// line's PASS comes after the Log pane's.
func (m *Model) scenarioEnded() {
	if m.scen == nil || m.scen.out == nil || !m.closed {
		return
	}
	o, name := *m.scen.out, m.scen.run.Info.Name
	m.scen.out = nil
	var why string
	if o.Err != nil {
		why = plainError(errors.New(strings.TrimPrefix(o.Err.Error(), "scenarios: "+name+": ")))
	}
	switch {
	case o.Err != nil && !o.Started:
		m.setStatus(true, "scenario %s: its lab did not start: %s", name, why)
	case o.Err != nil:
		m.setStatus(true, "scenario %s: FAIL, %d of %d checks passed: %s", name, o.Passed, o.Checks, why)
	default:
		m.setStatus(false, "scenario %s: PASS, %d of %d checks passed; trace, pcap and report in %s", name, o.Passed, o.Checks, o.Dir)
	}
	m.snap = m.store.snapshot()
}

// stepKey lets the waiting step run.
func (m *Model) stepKey() {
	switch {
	case m.scen == nil || m.scen.ended:
		m.setStatus(true, "no scenario is running: s picks one (step mode: t in the list)")
	case m.scen.run.steps == nil:
		m.setStatus(true, "scenario %s is not in step mode: it runs on by itself", m.scen.run.Info.Name)
	default:
		select {
		case m.scen.run.steps.next <- struct{}{}:
			// Logged: the Log pane shows where each step begins.
			if n := m.scen.waiting; n > 0 {
				m.scen.ran, m.scen.waiting = n, 0
				m.setStatus(false, "step %d of %d runs", n, m.scen.run.Info.Steps)
			} else {
				m.setStatus(false, "step %d still runs: the next one follows it", m.scen.ran)
			}
		default:
			m.setStatus(true, "a step is already queued")
		}
	}
}

// picker is the scenario list (the `s` key).
type picker struct {
	list  []ScenarioInfo
	sel   int
	step  bool
	speed int // index into speeds
}

var speeds = []float64{0.25, 0.5, 1, 2, 4}

func (m *Model) openPicker() {
	if m.scens == nil {
		m.setStatus(true, "scenarios: not available in this UI")
		return
	}
	list := m.scens.List()
	if len(list) == 0 {
		m.setStatus(true, "scenarios: the library is empty")
		return
	}
	m.pick = &picker{list: list, speed: 2}
	if m.scen != nil {
		// The last choices again, on the scenario last run.
		m.pick.step = m.scen.run.req.Step
		for i, sp := range speeds {
			if sp == m.scen.run.req.Speed {
				m.pick.speed = i
			}
		}
		for i, s := range list {
			if s.Name == m.scen.run.Info.Name {
				m.pick.sel = i
			}
		}
	}
}

// pickerKey handles a key while the list is open.
func (m *Model) pickerKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	p := m.pick
	switch k.String() {
	case "up", "k":
		p.sel = max(p.sel-1, 0)
	case "down", "j":
		p.sel = min(p.sel+1, len(p.list)-1)
	case "t":
		p.step = !p.step
	case "+", "=":
		p.speed = min(p.speed+1, len(speeds)-1)
	case "-":
		p.speed = max(p.speed-1, 0)
	case "enter":
		m.pick = nil
		return m, m.launch(ScenarioRequest{Name: p.list[p.sel].Name, Step: p.step, Speed: speeds[p.speed]})
	case "ctrl+c":
		return m, tea.Quit
	case "esc", "q", "s":
		m.pick = nil
	}
	return m, nil
}

func (m *Model) pickerLines(h int) []string {
	p := m.pick
	out := []string{paneHeader("Scenarios", fmt.Sprintf("%d of %d  ↑↓ choose  Enter run  t step mode  +/- speed  Esc close", p.sel+1, len(p.list)), m.w, true)}
	step := "off: the story runs by itself"
	if p.step {
		step = "on: one step per press of ."
	}
	foot := []string{"",
		fmt.Sprintf("  step mode (t)  %s", step),
		fmt.Sprintf("  speed (+/-)    ×%g: the lab clock runs %g times the machine's", speeds[p.speed], speeds[p.speed])}
	if h-1-len(foot)-3 >= len(p.list) {
		foot = append(foot, "",
			"  A scenario runs on a lab of its own: this lab is closed first. Its trace,",
			"  pcap and report go to a directory of its own, named when it ends.")
	}
	// The list scrolls to keep the selection in view.
	rows := max(1, h-1-len(foot))
	top := min(max(0, p.sel-rows/2), max(0, len(p.list)-rows))
	nameW := 8
	for _, s := range p.list {
		nameW = max(nameW, len([]rune(s.Name)))
	}
	for i := top; i < len(p.list) && i < top+rows; i++ {
		s := p.list[i]
		line := fmt.Sprintf("  %-*s  %-11s %2d steps  %s", nameW, s.Name, s.Section, s.Steps, s.Description)
		if i == p.sel {
			line = stSelected.Render(pad(">"+line[1:], m.w))
		} else {
			line = clip(line, m.w)
		}
		out = append(out, line)
	}
	for _, l := range foot {
		out = append(out, clip(l, m.w))
	}
	if len(out) > h {
		out = out[:h]
	}
	return out
}

// scenarioTitle is the title line's word on the scenario.
func (m *Model) scenarioTitle() string {
	s := m.scen
	if s == nil {
		return ""
	}
	switch {
	case s.ended:
		return "  " + s.run.Info.Name + " ended"
	case s.run.steps != nil && s.waiting > 0:
		return fmt.Sprintf("  %s step %d/%d waits", s.run.Info.Name, s.waiting, s.run.Info.Steps)
	case s.run.steps != nil:
		return fmt.Sprintf("  %s step %d/%d", s.run.Info.Name, s.ran, s.run.Info.Steps)
	}
	return "  " + s.run.Info.Name + " runs"
}
