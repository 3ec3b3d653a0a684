package tui

import (
	"strings"
	"testing"

	"github.com/reclab/reclab/sim"
)

// + and - move the lab clock's rate along the picker's steps, while the lab
// runs; a lab on the machine's clock says it cannot.
func TestSetSpeed(t *testing.T) {
	c := sim.NewScaledClock(1)
	for _, step := range []struct {
		dir  string
		rate float64
		err  string
	}{
		{"+", 2, ""}, {"+", 4, ""}, {"+", 4, "at ×4 already"},
		{"-", 2, ""}, {"-", 1, ""}, {"-", 0.5, ""}, {"-", 0.25, ""}, {"-", 0.25, "at ×0.25 already"},
		{"+", 0.5, ""},
	} {
		msg, err := setSpeed(c, step.dir)
		switch {
		case step.err != "" && (err == nil || !strings.Contains(err.Error(), step.err)):
			t.Fatalf("%s: %q %v, want the error %q", step.dir, msg, err, step.err)
		case step.err == "" && err != nil:
			t.Fatalf("%s: %v", step.dir, err)
		case c.Rate() != step.rate:
			t.Fatalf("%s: rate %g, want %g (%s)", step.dir, c.Rate(), step.rate, msg)
		}
	}
	// A rate between two steps goes to the next one up or down.
	c.SetRate(3)
	if _, err := setSpeed(c, "+"); err != nil || c.Rate() != 4 {
		t.Fatalf("+ from ×3: ×%g %v", c.Rate(), err)
	}
	c.SetRate(3)
	if _, err := setSpeed(c, "-"); err != nil || c.Rate() != 2 {
		t.Fatalf("- from ×3: ×%g %v", c.Rate(), err)
	}
	if _, err := setSpeed(sim.Real(), "+"); err == nil {
		t.Fatal("the machine's clock took a new rate")
	}
}
