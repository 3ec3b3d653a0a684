package scenarios

import (
	"context"
	"time"
)

// Gate holds a run before each step: it is called with the step's number
// (1-based) and the step, and returns when the step may run, or an error
// (its context ended) to stop the story. The terminal UI's step mode passes
// one that waits for a key press, so a trainer explains each step before
// the next; without a gate the steps run back to back. The lab itself never
// waits for a gate: only the story does.
type Gate func(ctx context.Context, n int, st Step) error

// StepT1 is the SIP T1 of a gated run (unless the scenario asks for more):
// while a step waits for the user, a transaction still open retransmits
// every T1, and a larger T1 keeps those resends from crowding the ladder
// (design.md, step mode).
const StepT1 = 2 * time.Second

// Describe is the step in words: its narration when it has one, else what
// the trace prints when it runs ("dial 7434 → 6867i"), else its kind (a
// check).
func (st Step) Describe() string {
	if st.Say != "" {
		return st.Say
	}
	if d := describeStep(st); d != "" {
		return d
	}
	if st.Phone != "" {
		return st.Kind + " " + st.Phone // expect-phone, expect-recording
	}
	return st.Kind
}
