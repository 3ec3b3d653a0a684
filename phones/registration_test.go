package phones

import (
	"fmt"
	"testing"

	"github.com/reclab/reclab/internal/labtest"
)

// TestRegistrationTranscripts plays testdata/registration/*.txt
// (transcript_test.go):
//
//	new expiry=120s keep-alive=30s retry=5s
//	power-on call-id=a@1     register (the owner's)   register-ok granted=120s
//	register-refused status=(403 Forbidden)           register-unanswered reason=timeout
//	timer refresh gen=1      options-answered         options-unanswered reason=timeout
//	log-off reason=(log-off) forced-off reason=…      unregister-done [reason=…]
//	keep-trying              power-off                unregister reason=…
func TestRegistrationTranscripts(t *testing.T) {
	var r *Registration
	playTranscripts(t, "testdata/registration", func() { r = nil }, func(c transcriptCmd) ([]string, string) {
		if c.D.Cmd == "new" {
			r = NewRegistration(c.Dur("expiry"), c.Dur("keep-alive"), c.Dur("retry"))
			return nil, r.State().String()
		}
		if r == nil {
			c.D.Fatalf(c.T, "no `new` before %s", c.D.Cmd)
		}
		var acts []RegAction
		switch c.D.Cmd {
		case "register":
			a, ok := r.Register()
			if !ok {
				return []string{"refused"}, r.State().String()
			}
			acts = []RegAction{a}
		case "unregister":
			var ok bool
			if acts, ok = r.Unregister(c.Arg("reason")); !ok {
				return []string{"refused"}, r.State().String()
			}
		case "timer":
			timer := -1
			for i := range regTimers {
				if i.String() == c.D.CmdArgs[0].Key {
					timer = int(i)
				}
			}
			if timer < 0 {
				c.D.Fatalf(c.T, "unknown timer %q", c.D.CmdArgs[0].Key)
			}
			acts = r.Step(RegEvent{Kind: RegTimerFired, Timer: RegTimer(timer), Gen: c.Uint("gen", 0)})
		default:
			kind := c.Kind(regEventNames[:])
			acts = r.Step(RegEvent{Kind: RegEventKind(kind), CallID: c.Arg("call-id"), Status: c.Arg("status"),
				Reason: c.Arg("reason"), Granted: c.Dur("granted")})
		}
		lines := labtest.ActionLines(acts)
		for i, a := range acts {
			if a.Kind == RegSendRegister || a.Kind == RegSendUnregister {
				lines[i] = fmt.Sprintf("%s (call-id %s)", a, a.CallID)
			}
		}
		return lines, r.State().String()
	})
}
