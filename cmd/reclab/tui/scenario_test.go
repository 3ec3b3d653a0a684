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

	"github.com/reclab/reclab/scenarios"
	"github.com/reclab/reclab/sim/lab"
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
	s.waitFor(t, "×2: timers and pauses divided by 2", "on: one step per press of .")
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
	run, st, err := LaunchScenario(ctx, sc, req)
	if err != nil {
		t.Fatal(err)
	}
	m := New(ctx, run.Backend)
	m.SetScenarios(sc)
	m.StartScenario(run, st, req)
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
