package recorder

import (
	"strings"
	"testing"
	"time"
)

// TestInviteRace: spec §3.2.1 set-ups, events in, actions out.
func TestInviteRace(t *testing.T) {
	answered := func(id string) RaceInput { return RaceInput{Kind: RaceAnswered, CallID: id} }
	cancelled := func(id string) RaceInput {
		return RaceInput{Kind: RaceFailed, CallID: id, Reason: "context canceled", Cancelled: true}
	}
	retransmit := RaceInput{Kind: RaceRetransmitDue, CallID: "b"}
	type step struct {
		in   RaceInput
		want string // the actions, " | " between
	}
	for _, tc := range []struct {
		name  string
		again time.Duration // 0: no retransmission
		steps []step
		over  bool
	}{
		{"answered at once", 500 * time.Millisecond, []step{
			{answered("a"), "won a"},
			{retransmit, ""}, // the timer's late firing: nothing
		}, true},
		{"retransmitted, the first answers", 500 * time.Millisecond, []step{
			{retransmit, "note: no answer to INVITE a within 500ms: INVITE again with the same session id 7, Call-ID b (spec §3.2.1) | send b"},
			{answered("a"), "cancel b | note: INVITE a answered 200 OK; the other INVITE of session id 7 is given up (spec §3.2.1) | won a"},
			{cancelled("b"), ""},
		}, true},
		{"both answered: the second is ACKed and ended", 500 * time.Millisecond, []step{
			{retransmit, "note: no answer to INVITE a within 500ms: INVITE again with the same session id 7, Call-ID b (spec §3.2.1) | send b"},
			{answered("b"), "cancel a | note: INVITE b answered 200 OK; the other INVITE of session id 7 is given up (spec §3.2.1) | won b"},
			{answered("a"), "error a: INVITE a answered too; ACK and BYE (spec §3.2.1: only the first should be) | extra a"},
		}, true},
		{"refused: lost at once, no retransmission after it", 500 * time.Millisecond, []step{
			{RaceInput{Kind: RaceFailed, CallID: "a", Reason: "phone answered 486 Busy Here", Response: true}, "lost: phone answered 486 Busy Here"},
			{retransmit, ""},
		}, true},
		{"silence: given up after the timeout, without CANCEL", 500 * time.Millisecond, []step{
			{retransmit, "note: no answer to INVITE a within 500ms: INVITE again with the same session id 7, Call-ID b (spec §3.2.1) | send b"},
			{RaceInput{Kind: RaceGiveUp}, "cancel a | cancel b"},
			{cancelled("a"), ""},
			{cancelled("b"), "lost: no answer within 1s"},
			{answered("b"), ""}, // settled already
		}, true},
		{"no retransmission configured", 0, []step{
			{retransmit, ""},
			{RaceInput{Kind: RaceGiveUp}, "cancel a"},
			{cancelled("a"), "lost: no answer within 1s"},
		}, true},
		{"a phone's refusal beats the give-up in the reason", 500 * time.Millisecond, []step{
			{retransmit, "note: no answer to INVITE a within 500ms: INVITE again with the same session id 7, Call-ID b (spec §3.2.1) | send b"},
			{RaceInput{Kind: RaceGiveUp}, "cancel a | cancel b"},
			{RaceInput{Kind: RaceFailed, CallID: "a", Reason: "phone answered 403 Forbidden", Response: true}, ""},
			{cancelled("b"), "lost: phone answered 403 Forbidden"},
		}, true},
		{"still out: not over", 500 * time.Millisecond, []step{
			{retransmit, "note: no answer to INVITE a within 500ms: INVITE again with the same session id 7, Call-ID b (spec §3.2.1) | send b"},
			{cancelled("a"), ""},
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			again := tc.again
			if again == 0 {
				again = time.Second // not shorter than the timeout: no second INVITE
			}
			r, first := NewInviteRace("a", 7, again, time.Second)
			if got := joinRace(first); got != "send a" {
				t.Fatalf("start: %q", got)
			}
			for i, st := range tc.steps {
				if got := joinRace(r.Step(st.in)); got != st.want {
					t.Errorf("step %d (%s %s):\n got %q\nwant %q", i+1, st.in.Kind, st.in.CallID, got, st.want)
				}
			}
			if r.Over() != tc.over {
				t.Errorf("over %v, want %v", r.Over(), tc.over)
			}
		})
	}
}

func joinRace(acts []RaceAction) string {
	s := make([]string, len(acts))
	for i, a := range acts {
		s[i] = a.String()
	}
	return strings.Join(s, " | ")
}
