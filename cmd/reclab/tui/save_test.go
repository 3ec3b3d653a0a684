package tui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"

	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/scenarios"
	"github.com/reclab/reclab/sim"
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
	// The recordings close after the drain grace: the saved story waits
	// for them and checks them.
	s.waitFor(t, "000000000000000000000001-1002 closed", "000000000000000000000001-1005 closed")
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
		`expect-phone: {phone: "7434", powered: true, registered: true, call: idle}`,
		`wait: {state: recording-closed, node: recorder, count: 2, timeout: 30s}`,
		`expect-recording: {phone: "7434", max-lost: 0, forked: true}`,
		`expect-recording: {phone: "6867i", max-lost: 0, forked: true}`} {
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

// The recording checks a saved story draws: the recordings kept after the
// last action, waited for and checked as the session's were; tones and a
// duration floor only for a call that talked, lost packets allowed where
// the session lost some.
func TestStoryRecordingChecks(t *testing.T) {
	built := Snapshot{RecMapping: "dynamic", Phones: []PhoneView{
		{Name: "7434", Ext: "1002", Model: "7434", RecPort: 7300},
		{Name: "6867i", Ext: "1005", Model: "6867i", RecPort: 5071},
		{Name: "6920", Ext: "1006", Model: "6920", RecPort: 5080},
	}}
	acts := []storyAct{
		{Action: Action{Kind: ActDial, Phone: "7434", Arg: "1005"}, at: 1 * time.Second},
		{Action: Action{Kind: ActAnswer, Phone: "6867i"}, at: 3 * time.Second},
		{Action: Action{Kind: ActHangUp, Phone: "7434"}, at: 13 * time.Second},
	}
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	closed := func(at time.Duration, ext string, talk time.Duration, lost int64) sim.Event {
		m := recorder.Meta{Extension: ext, Start: start, Stop: start.Add(talk)}
		m.RX.Lost = lost
		return sim.Event{Kind: sim.KindState, At: at, From: "recorder",
			State: recorder.RecordingClosed{Recording: recorder.Recording{Meta: m}, Kept: true}}
	}
	events := []sim.Event{
		closed(500*time.Millisecond, "1006", 1*time.Second, 0), // before the last action: not waited for
		closed(14*time.Second, "1002", 10*time.Second, 0),
		closed(14*time.Second, "1005", 10*time.Second, 3),
	}
	got := storyYAML("s", built, built, acts, events, true)
	for _, want := range []string{
		"  - wait: {state: recording-closed, node: recorder, count: 2, timeout: 30s}\n",
		`  - expect-recording: {phone: "7434", min-duration: 5s, left: "7434", right: "6867i", max-lost: 0, forked: true}` + "\n",
		`  - expect-recording: {phone: "6867i", min-duration: 5s, left: "6867i", right: "7434"}` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the story lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, `expect-recording: {phone: "6920"`) {
		t.Errorf("a recording closed before the last action is checked:\n%s", got)
	}
	if _, err := scenarios.Parse("saved.yaml", []byte(got)); err != nil {
		t.Errorf("the story does not parse: %v\n%s", err, got)
	}
}
