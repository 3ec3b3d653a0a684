package scenarios

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/sim"
)

// A gated run: the hooks the terminal UI uses. OnLab sees the lab built
// and nothing started; Topology moves it; the gate holds every step in
// order with SIP T1 raised, and a step's narration is published only once
// its gate let it through.
func TestGatedRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole lab")
	}
	s, err := Get("one-party-monitored")
	if err != nil {
		t.Fatal(err)
	}
	var l *lab.Lab
	var gated []int
	opt := Options{OutDir: t.TempDir(),
		Topology: func(tp *lab.Topology) {
			tp.PBXAddr, tp.RecorderAddr = netip.MustParseAddr("127.23.0.1"), netip.MustParseAddr("127.23.0.2")
			tp.PhoneBase = netip.MustParseAddr("127.23.1.1")
		},
		OnLab: func(built *lab.Lab) error {
			l = built
			var n uint64
			for k := sim.Kind(0); k < 16; k++ {
				n += l.Net.Trace().Count(k)
			}
			if n != 0 {
				t.Errorf("OnLab: %d events already: the lab started before it", n)
			}
			if got := l.PBX.Addr(); got.Addr() != netip.MustParseAddr("127.23.0.1") {
				t.Errorf("the Topology hook was not applied: PBX at %s", got)
			}
			return nil
		},
		Gate: func(_ context.Context, n int, st Step) error {
			gated = append(gated, n)
			if sip.T1 != StepT1 {
				t.Errorf("step %d: SIP T1 is %s, want %s in a gated run", n, sip.T1, StepT1)
			}
			if st.Say != "" && narrated(l, st.Say) {
				t.Errorf("step %d: %q narrated before its gate let it run", n, st.Say)
			}
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := Execute(ctx, s, opt); err != nil {
		t.Fatal(err)
	}
	if len(gated) != len(s.Steps) {
		t.Fatalf("the gate held %d steps, the story has %d", len(gated), len(s.Steps))
	}
	for i, n := range gated {
		if n != i+1 {
			t.Fatalf("gate calls %v, want 1..%d in order", gated, len(s.Steps))
		}
	}
	for _, st := range s.Steps {
		if st.Say != "" && !narrated(l, st.Say) {
			t.Errorf("%q never narrated", st.Say)
		}
	}

	// A gate that refuses stops the story there, and says which step.
	stop := errors.New("the user quit")
	opt.OnLab, opt.Gate = nil, func(_ context.Context, n int, _ Step) error {
		if n == 2 {
			return stop
		}
		return nil
	}
	if _, err := Execute(ctx, s, opt); err == nil || !strings.Contains(err.Error(), "step 2 (") || !strings.Contains(err.Error(), stop.Error()) {
		t.Errorf("a refusing gate: err %v, want the story stopped at step 2", err)
	}
}

// narrated reports whether the scenario said text, per the trace's ring.
func narrated(l *lab.Lab, text string) bool {
	for _, e := range l.Net.Trace().Recent() {
		if e.From == "scenario" && e.Summary == text {
			return true
		}
	}
	return false
}
