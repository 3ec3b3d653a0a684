package phones

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/reclab/reclab/internal/labtest"
)

// TestRegistrationTranscripts plays testdata/registration/*.txt: events in,
// actions out, in etcd-raft's style. `go test ./phones -run Transcripts
// -rewrite` rewrites the expected output from the core.
//
//	new expiry=120s keep-alive=30s retry=5s
//	power-on call-id=a@1     register (the owner's)   register-ok granted=120s
//	register-refused status=(403 Forbidden)           register-unanswered reason=timeout
//	timer refresh gen=1      options-answered         options-unanswered reason=timeout
//	log-off reason=(log-off) forced-off reason=…      unregister-done [reason=…]
//	keep-trying              power-off                unregister reason=…
func TestRegistrationTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/registration", func(t *testing.T, path string) {
		var r *Registration
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			arg := func(key string) string { return labtest.Arg(d, key) }
			dur := func(key string) time.Duration {
				v, err := time.ParseDuration(arg(key))
				if err != nil {
					d.Fatalf(t, "%s: %v", key, err)
				}
				return v
			}
			if d.Cmd == "new" {
				r = NewRegistration(dur("expiry"), dur("keep-alive"), dur("retry"))
				return "state: " + r.State().String() + "\n"
			}
			if r == nil {
				d.Fatalf(t, "no `new` before %s", d.Cmd)
			}
			var acts []RegAction
			switch d.Cmd {
			case "register":
				a, ok := r.Register()
				if !ok {
					return "refused\nstate: " + r.State().String() + "\n"
				}
				acts = []RegAction{a}
			case "unregister":
				var ok bool
				if acts, ok = r.Unregister(arg("reason")); !ok {
					return "refused\nstate: " + r.State().String() + "\n"
				}
			case "timer":
				timer := -1
				for i := range regTimers {
					if i.String() == d.CmdArgs[0].Key {
						timer = int(i)
					}
				}
				if timer < 0 {
					d.Fatalf(t, "unknown timer %q", d.CmdArgs[0].Key)
				}
				var gen uint64
				fmt.Sscan(arg("gen"), &gen)
				acts = r.Step(RegEvent{Kind: RegTimerFired, Timer: RegTimer(timer), Gen: gen})
			default:
				kind := -1
				for i := range len(regEventNames) {
					if regEventNames[i] == d.Cmd {
						kind = i
					}
				}
				if kind < 0 {
					d.Fatalf(t, "unknown command %q", d.Cmd)
				}
				ev := RegEvent{Kind: RegEventKind(kind), CallID: arg("call-id"), Status: arg("status"), Reason: arg("reason")}
				if arg("granted") != "" {
					ev.Granted = dur("granted")
				}
				acts = r.Step(ev)
			}
			var b strings.Builder
			for _, a := range acts {
				if a.Kind == RegSendRegister || a.Kind == RegSendUnregister {
					fmt.Fprintf(&b, "%s (call-id %s)\n", a, a.CallID)
					continue
				}
				fmt.Fprintln(&b, a)
			}
			fmt.Fprintf(&b, "state: %s\n", r.State())
			return b.String()
		})
	})
}
