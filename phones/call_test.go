package phones

import (
	"fmt"
	"testing"
	"time"
)

// TestCallTranscripts plays testdata/call/*.txt (transcript_test.go). The
// lab time is set with at=; an outcome belongs to the current call unless
// call= names another:
//
//	new                        at=3s (any command: the lab time from now on)
//	dial remote=1002 registered        invite-sent call-id=c1   invite-failed err=…
//	provisional code=180       final code=200 reason=OK [err=…]  no-answer err=…
//	incoming remote=1002 call-id=i1 registered [err=…]   ring-sent   setup-failed [err=…]
//	answer    answer-failed err=…    acked    ack-timeout err=…    cancelled
//	hang-up   bye-done [err=…]       remote-bye call-id=i1         power-off
func TestCallTranscripts(t *testing.T) {
	var c *Call
	var now time.Duration
	playTranscripts(t, "testdata/call", func() { c, now = nil, 0 }, func(cmd transcriptCmd) ([]string, string) {
		if d := cmd.dur("at"); d > 0 {
			now = d
		}
		if cmd.d.Cmd == "new" {
			c = &Call{}
			return nil, callState(c)
		}
		if c == nil {
			cmd.d.Fatalf(cmd.t, "no `new` before %s", cmd.d.Cmd)
		}
		ev := CallEvent{
			Kind:       CallEventKind(cmd.kind(callEventNames[:])),
			Call:       cmd.uint("call", c.n),
			Remote:     cmd.arg("remote"),
			CallID:     cmd.arg("call-id"),
			Registered: cmd.d.HasArg("registered"),
			Code:       int(cmd.uint("code", 0)),
			Reason:     cmd.arg("reason"),
			Err:        cmd.arg("err"),
		}
		return actionLines(c.Step(now, ev)), callState(c)
	})
}

// callState is the transcript's state line: the core and its counters.
func callState(c *Call) string {
	state := c.String()
	if c.Err() != "" {
		state += fmt.Sprintf(", last error %q", c.Err())
	}
	if c.State() == CallTalking {
		state += fmt.Sprintf(", talking since %s", c.TalkingAt())
	}
	return fmt.Sprintf("%s, calls %d", state, c.Calls())
}
