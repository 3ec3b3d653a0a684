package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/sim"
)

// Every lab impairment an impair step can express goes to a step, to its
// YAML, back through the parser, and to the same lab impairment: one
// writer and one reader for the TUI's save as scenario (issue 12).
func TestImpairStepRoundTrips(t *testing.T) {
	for _, si := range []sim.Impairment{
		{From: "7434", To: "pbx", Both: true, Proto: sim.ProtoSIP, Drop: 0.5},
		{From: "pbx", To: "recorder", Both: true, Proto: sim.ProtoCSTA, Blackhole: true},
		{From: "recorder", To: "7434", Proto: sim.ProtoSIP, Delay: 1500 * time.Millisecond, Count: 1},
		{From: "6867i", To: "recorder", Both: true, AllProtos: true, Duplicate: 0.25, Delay: 20 * time.Millisecond},
	} {
		im, err := ImpairmentOf(si)
		if err != nil {
			t.Fatalf("%+v: %v", si, err)
		}
		src := "steps:\n  - impair: " + im.YAML() + "\n"
		s, err := Parse("round.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := s.Steps[0].Impair.Sim()
		if err != nil {
			t.Fatal(err)
		}
		if got != si {
			t.Errorf("%s\n read back as %+v\n want %+v", src, got, si)
		}
	}
	for _, si := range []sim.Impairment{
		{From: "7434", Proto: sim.ProtoSIP, Drop: 0.5},
		{From: "7434", To: "pbx", Proto: sim.ProtoRTP, Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond},
	} {
		if _, err := ImpairmentOf(si); err == nil || !strings.Contains(err.Error(), "impair step") {
			t.Errorf("%+v: error %v, want one saying what a step cannot express", si, err)
		}
	}
}
