package tui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/teatest"

	"github.com/reclab/reclab/scenarios"
)

// A trainer makes a recorded call in the UI's default lab and saves the
// session as a scenario (W); `reclab run` of that file replays the story
// on a fresh lab and every check drawn from the session passes.
func TestSaveSessionAsScenarioReplaysToPass(t *testing.T) {
	l, dir, ctx := uiLab(t)
	tm := teatest.NewTestModel(t, New(ctx, NewLabBackend(l, dir)), teatest.WithInitialTermSize(200, 60))
	s := &screen{tm: tm}
	s.waitFor(t, "lab up: 6 phones registered", "BackInServiceEvent 1006")
	tm.Type("2d1005")
	tm.Send(key("enter"))
	s.waitFor(t, "ringing 1002")
	tm.Type("5a")
	s.waitFor(t, "talking 1002", "RTP tx on", "RTP rx on")
	tm.Type("2x")
	// The phone's note follows its idle state (phones/testdata/call/dial.txt),
	// so once the Log shows it the store knows 7434 is idle; the action's
	// own "7434 (1002) hung up" comes as the BYE leaves, before that.
	s.waitFor(t, "ConnectionClearedEvent", "hung up on 1005")
	tm.Type("W")
	s.waitFor(t, "saved the session as a scenario")
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(waitLong))
	l.Close() // the replay's lab takes the address plan

	file := filepath.Join(dir, "session-scenario.yaml")
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`dial: {phone: "7434", to: "1005"}`, `answer: "6867i"`, `hang-up: "7434"`,
		`expect: {from: recorder, to: "7434", proto: SIP, method: INVITE, at-least: 1}`,
		`expect-phone: {phone: "7434", powered: true, registered: true, call: idle}`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the saved scenario lacks %q:\n%s", want, text)
		}
	}
	sc, err := scenarios.Load(file)
	if err != nil {
		t.Fatalf("the saved scenario does not load: %v\n%s", err, text)
	}
	res, err := scenarios.Execute(context.Background(), sc, scenarios.Options{OutDir: t.TempDir()})
	if err != nil || len(res.Failures) > 0 || len(res.Checks) == 0 {
		t.Fatalf("replay: %v, failures %q, %d checks\n%s", err, res.Failures, len(res.Checks), text)
	}
	for _, c := range res.Checks {
		if !c.Pass {
			t.Errorf("check failed: %+v", c)
		}
	}
}
