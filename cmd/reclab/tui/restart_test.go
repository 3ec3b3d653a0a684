package tui

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// B plays spec §3.2.6 (issue 12: the restart was instant, the phones never
// noticed and stayed "registered" with a PBX that knew none of them): the
// PBX stays down until every registered phone has noticed through its
// keep-alive, then comes back, and every phone registers again.
func TestPBXRestartIsNoticed(t *testing.T) {
	l, ctx := startLab(t, 5, lab.Timers{PhoneKeepAlive: 300 * time.Millisecond, RegisterRetry: 200 * time.Millisecond})
	var back []*sim.Watch
	var registered []string // Start returned: every phone registered
	for _, p := range l.Phones {
		name := p.Name()
		registered = append(registered, name)
		back = append(back, sim.WatchStateN(l.Net.Trace(), 2, func(s phones.RegistrationState) bool { return s.Phone == name }))
	}
	text, err := NewLabBackend(l, t.TempDir()).Do(ctx, Action{Kind: ActPBXRestart, Registered: registered})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "down until 2 of 2 registered phones noticed") {
		t.Fatalf("restart said %q", text)
	}
	for i, w := range back {
		e, err := w.Wait(ctx) // the second change: lost, then registered again
		if err != nil {
			t.Fatalf("%s did not register again: %v", l.Phones[i].Name(), err)
		}
		if st := e.State.(phones.RegistrationState); !st.Registered {
			t.Fatalf("%s: %s", l.Phones[i].Name(), st)
		}
	}
}

// R in a lab whose recorder records by policy says why it got 403, and M
// cycles the recorder's record on demand mode (issue 12: "R always gets
// 403 in the default lab, and nothing says why").
func TestRecordModeKey(t *testing.T) {
	l, ctx := startLab(t, 7, lab.Timers{})
	b := NewLabBackend(l, t.TempDir())
	text, err := b.Do(ctx, Action{Kind: ActRecordKey, Phone: "7434"})
	if err != nil || !strings.Contains(text, "403 Forbidden: record on demand is off") || !strings.Contains(text, "M switches it") {
		t.Fatalf("R in a policy-recording lab: %q, %v", text, err)
	}
	for _, want := range []recorder.OnDemand{recorder.StartOnDemand, recorder.SaveOnDemand, recorder.OnDemandOff} {
		text, err := b.Do(ctx, Action{Kind: ActRecordMode})
		if err != nil || !strings.Contains(text, "record on demand is now "+want.String()) || l.Recorder.OnDemandMode() != want {
			t.Fatalf("M: %q, %v; mode %s, want %s", text, err, l.Recorder.OnDemandMode(), want)
		}
	}
}

// startLab builds and starts the default lab on 127.22.<block>.x (phones on
// block+1) with timers; it closes with the test.
func startLab(t *testing.T, block byte, timers lab.Timers) (*lab.Lab, context.Context) {
	t.Helper()
	l, ctx := buildLab(t, block, timers)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return l, ctx
}

// buildLab is startLab's lab, not started.
func buildLab(t *testing.T, block byte, timers lab.Timers) (*lab.Lab, context.Context) {
	t.Helper()
	topo := lab.Default()
	topo.PBXAddr = netip.AddrFrom4([4]byte{127, 22, block, 1})
	topo.RecorderAddr = netip.AddrFrom4([4]byte{127, 22, block, 2})
	topo.PhoneBase = netip.AddrFrom4([4]byte{127, 22, block + 1, 1})
	topo.Timers = timers
	l, err := lab.Build(topo, lab.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return l, ctx
}
