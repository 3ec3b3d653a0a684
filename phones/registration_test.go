package phones

import (
	"fmt"
	"testing"
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
		if c.d.Cmd == "new" {
			r = NewRegistration(c.dur("expiry"), c.dur("keep-alive"), c.dur("retry"))
			return nil, r.State().String()
		}
		if r == nil {
			c.d.Fatalf(c.t, "no `new` before %s", c.d.Cmd)
		}
		var acts []RegAction
		switch c.d.Cmd {
		case "register":
			a, ok := r.Register()
			if !ok {
				return []string{"refused"}, r.State().String()
			}
			acts = []RegAction{a}
		case "unregister":
			var ok bool
			if acts, ok = r.Unregister(c.arg("reason")); !ok {
				return []string{"refused"}, r.State().String()
			}
		case "timer":
			timer := -1
			for i := range regTimers {
				if i.String() == c.d.CmdArgs[0].Key {
					timer = int(i)
				}
			}
			if timer < 0 {
				c.d.Fatalf(c.t, "unknown timer %q", c.d.CmdArgs[0].Key)
			}
			acts = r.Step(RegEvent{Kind: RegTimerFired, Timer: RegTimer(timer), Gen: c.uint("gen", 0)})
		default:
			kind := c.kind(regEventNames[:])
			acts = r.Step(RegEvent{Kind: RegEventKind(kind), CallID: c.arg("call-id"), Status: c.arg("status"),
				Reason: c.arg("reason"), Granted: c.dur("granted")})
		}
		lines := actionLines(acts)
		for i, a := range acts {
			if a.Kind == RegSendRegister || a.Kind == RegSendUnregister {
				lines[i] = fmt.Sprintf("%s (call-id %s)", a, a.CallID)
			}
		}
		return lines, r.State().String()
	})
}
