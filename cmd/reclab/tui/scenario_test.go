package tui

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/scenarios"
)

// fakeScenarios is a fixed list (goldens do not follow the library); its
// launches fail.
type fakeScenarios struct{}

func (fakeScenarios) List() []ScenarioInfo {
	return []ScenarioInfo{
		{Name: "basic-call", Section: "§3.1, §3.2", Description: "7434 calls 6867i; both parties recorded through SIP forking", Steps: 14},
		{Name: "forged-invite", Section: "§3.2", Description: "a rogue host's recording INVITE is refused 403", Steps: 15},
	}
}

func (fakeScenarios) Launch(context.Context, ScenarioRequest, scenarios.Gate) (*ScenarioRun, error) {
	return nil, errors.New("scenarios: the fake lab cannot run scenarios")
}

// The scenario list: choose, step mode, speed; Enter launches and a
// failure says why.
func TestScenarioPickerGolden(t *testing.T) {
	b := newFakeBackend()
	m := New(context.Background(), b)
	m.SetScenarios(fakeScenarios{})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	s := &screen{tm: tm}
	s.waitFor(t, "lab up")
	for _, k := range []string{"s", "j", "t", "+"} {
		tm.Send(key(k))
	}
	s.waitFor(t, "×2: the lab clock runs 2 times the machine's", "on: one step per press of .")
	tm.Send(key("q")) // closes the list, not the UI
	tm.Send(key("s"))
	tm.Send(key("enter"))
	s.waitFor(t, "the fake lab cannot run scenarios")
	tm.Send(key("s"))
	tm.Send(key("q"))
	tm.Send(key("q"))
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(waitLong)).(*Model)
	if fm.pick != nil {
		t.Fatal("q left the list open")
	}
	fm.openPicker() // the list reopens with the last choices: forged-invite, step mode, ×2
	fm.pick.sel, fm.pick.step, fm.pick.speed = 1, true, 3
	fm.dirty = true
	golden.RequireEqual(t, []byte(fm.View()))
}

// TestScenarioStepMode runs a library scenario for real in step mode, as
// `reclab tui --scenario basic-call --step` does, on loopback addresses of
// its own: each step waits for its key press, its narration comes only
// after it, and the story ends with its PASS lines.
func TestScenarioStepMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole lab")
	}
	sc := Library(t.TempDir(), func(tp *lab.Topology) {
		tp.PBXAddr, tp.RecorderAddr = netip.MustParseAddr("127.22.0.1"), netip.MustParseAddr("127.22.0.2")
		tp.PhoneBase = netip.MustParseAddr("127.22.1.1")
	})
	story, err := scenarios.Get("basic-call")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := ScenarioRequest{Name: "basic-call", Step: true}
	run, err := LaunchScenario(ctx, sc, req)
	if err != nil {
		t.Fatal(err)
	}
	m := New(ctx, run.Backend)
	m.SetScenarios(sc)
	m.StartScenario(run)
	defer closeBackend(run.Backend)

	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(200, 60))
	s := &screen{tm: tm}
	n := len(story.Steps)
	for i, step := range story.Steps {
		s.waitFor(t, fmt.Sprintf("step %d of %d next: %s", i+1, n, step.Describe()))
		if step.Say != "" && strings.Contains(s.seen, "scenario  "+step.Say) {
			t.Fatalf("step %d: %q narrated before its key press", i+1, step.Say)
		}
		tm.Type(".")
	}
	s.waitFor(t, "scenario basic-call: PASS, 14 of 14 checks passed", "PASS  recording of 6867i")
	tm.Type("q")
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(waitLong)).(*Model)

	// In the Log pane, each step's narration comes after the line of its
	// key press.
	at := func(from, text string) int {
		for i, l := range fm.logs {
			if l.from == from && l.text == text {
				return i
			}
		}
		return -1
	}
	for i, step := range story.Steps {
		if step.Say == "" {
			continue
		}
		press, said := at("ui", fmt.Sprintf("step %d of %d runs", i+1, n)), at("scenario", step.Say)
		if press < 0 || said < press {
			t.Errorf("step %d: key press at log line %d, narration %q at %d", i+1, press, step.Say, said)
		}
	}
}

// Batches of a lab a scenario replaced (its subscription closing, a drain
// tick still pending) do not reach the new lab's screen.
func TestReplacedLabIsIgnored(t *testing.T) {
	m, _ := ready(t)
	old := m.gen
	m.attach(newFakeBackend())
	t.Cleanup(m.sub.Close)
	m.Update(batchMsg{gen: old, events: sessionEvents(), closed: true})
	if m.closed || len(m.events) != 0 {
		t.Errorf("a batch of the replaced lab was taken: closed %v, %d events", m.closed, len(m.events))
	}
	if _, cmd := m.Update(drainMsg{gen: old}); cmd != nil {
		t.Error("a drain tick of the replaced lab drains the new one a second time")
	}
	m.Update(batchMsg{gen: m.gen, events: sessionEvents()})
	if len(m.events) == 0 {
		t.Error("the new lab's batch was dropped")
	}
}

// From the list inside the UI: the UI's lab is closed, the scenario's is
// built on the same addresses and runs to its end, narrated, without step
// mode.
func TestScenarioFromTheList(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole lab")
	}
	sc := Library(t.TempDir(), func(tp *lab.Topology) {
		tp.PBXAddr, tp.RecorderAddr = netip.MustParseAddr("127.22.0.1"), netip.MustParseAddr("127.22.0.2")
		tp.PhoneBase = netip.MustParseAddr("127.22.1.1")
	})
	fb := newFakeBackend()
	closed := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := New(ctx, closingBackend{Backend: fb, close: func() error { fb.trace.Close(); close(closed); return nil }})
	m.SetScenarios(sc)
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(200, 60))
	s := &screen{tm: tm}
	s.waitFor(t, "lab up")
	var list []string
	for _, info := range sc.List() {
		list = append(list, info.Name)
	}
	tm.Send(key("s"))
	for _, name := range list {
		if name == "one-party-monitored" {
			break
		}
		tm.Send(key("j"))
	}
	tm.Send(key("enter"))
	s.waitFor(t, "scenario one-party-monitored: PASS, 10 of 10 checks passed")
	select {
	case <-closed:
	default:
		t.Error("the UI's lab was not closed before the scenario's was built")
	}
	tm.Type("q")
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(waitLong)).(*Model)
	closeBackend(fm.b)
	if got := strings.Join(fm.cols.names, " "); !strings.Contains(got, "7434") || strings.Contains(got, "4422") {
		t.Errorf("the ladder's columns are %q, want the scenario's lab", got)
	}
	// The Log pane has the story: its narration and its checks.
	said, passed := 0, 0
	for _, l := range fm.logs {
		if l.from == "scenario" && l.text == "they talk" {
			said++
		}
		if l.from == "scenario" && strings.HasPrefix(l.text, "PASS  ") {
			passed++
		}
	}
	if said != 1 || passed != 10 {
		t.Errorf("the log has the narration %d times and %d PASS lines, want 1 and 10", said, passed)
	}
}

// A library longer than the screen scrolls with the selection.
func TestScenarioListScrolls(t *testing.T) {
	m, _ := ready(t)
	var list []ScenarioInfo
	for i := range 30 {
		list = append(list, ScenarioInfo{Name: fmt.Sprintf("story-%02d", i), Section: "§3", Description: "d", Steps: 3})
	}
	m.pick = &picker{list: list, speed: 2}
	for range 25 {
		m.Update(key("j"))
	}
	v := m.View()
	if !strings.Contains(v, "> story-25") || strings.Contains(v, "story-00") || !strings.Contains(v, "speed (+/-)") {
		t.Errorf("the list does not follow its selection:\n%s", v)
	}
	if n := len(strings.Split(v, "\n")); n != 24 {
		t.Errorf("the list screen has %d lines on a 24-line terminal", n)
	}
}
