package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/sim"
)

func TestParseImpairment(t *testing.T) {
	snap := newFakeBackend().snap
	for _, tc := range []struct {
		in   string
		want sim.Impairment
		err  string
	}{
		{in: "7434 pbx drop 50% sip", want: sim.Impairment{From: "7434", To: "pbx", Proto: sim.ProtoSIP, Drop: 0.5}},
		{in: "pbx recorder blackhole csta both", want: sim.Impairment{From: "pbx", To: "recorder", Proto: sim.ProtoCSTA, Blackhole: true, Both: true}},
		{in: "1002 any delay 300ms jitter 50ms", want: sim.Impairment{From: "7434", AllProtos: true, Delay: 300 * time.Millisecond, Jitter: 50 * time.Millisecond}},
		{in: "6867i recorder dup 0.1 rtp", want: sim.Impairment{From: "6867i", To: "recorder", Proto: sim.ProtoRTP, Duplicate: 0.1}},
		{in: "7434 pbx", err: "two nodes and an effect"},
		{in: "7434 nowhere drop 5%", err: `"nowhere" is not a node`},
		{in: "7434 pbx drop 150%", err: `drop "150%": not between 0 and 100%`},
		{in: "7434 pbx delay soon", err: `delay "soon" is not a duration`},
		{in: "7434 pbx drop 5% sip rtp", err: "one protocol per impairment"},
		{in: "7434 pbx drop", err: `"drop" needs a value`},
		{in: "7434 pbx wobble", err: `"wobble" is not understood`},
		{in: "7434 pbx jitter 20ms", err: "impair: jitter 20ms needs a delay at least as long, e.g. delay 100ms jitter 20ms"},
	} {
		got, err := parseImpairment(tc.in, snap)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
