package phones

import (
	"fmt"
	"testing"
	"time"

	"github.com/reclab/reclab/internal/labtest"
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
		if d := cmd.Dur("at"); d > 0 {
			now = d
		}
		if cmd.D.Cmd == "new" {
			c = &Call{}
			return nil, callState(c)
		}
		if c == nil {
			cmd.D.Fatalf(cmd.T, "no `new` before %s", cmd.D.Cmd)
		}
		ev := CallEvent{
			Kind:       CallEventKind(cmd.Kind(callEventNames[:])),
			Call:       cmd.Uint("call", c.n),
			Remote:     cmd.Arg("remote"),
			CallID:     cmd.Arg("call-id"),
			Registered: cmd.D.HasArg("registered"),
			Code:       int(cmd.Uint("code", 0)),
			Reason:     cmd.Arg("reason"),
			Err:        cmd.Arg("err"),
		}
		return labtest.ActionLines(c.Step(now, ev)), callState(c)
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
