package recorder

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/reclab/reclab/internal/labtest"
)

// TestPolicyTranscripts plays testdata/policy/*.txt: CSTA events in, what
// the recorder does out. `-rewrite` rewrites the expected output.
//
//	new mapping=static on-demand=off
//	back-in-service ext=1001 ip=127.20.1.1 port=7300 [model=7434 | no-info]
//	out-of-service ext=1001 [ip=127.20.1.1]
//	established ext=1001 call=42 [calling=1001 called=1002]
//	cleared ext=1001 call=42        record ext=1001 call=42
//	session-ended key=s/1001        closing
func TestPolicyTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/policy", func(t *testing.T, path string) {
		var p *Policy
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			arg := func(key string) string { return labtest.Arg(d, key) }
			if d.Cmd == "new" {
				m, err := ParseMapping(arg("mapping"))
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				od, err := ParseOnDemand(arg("on-demand"))
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				p = NewPolicy(m, od)
				return "ok\n"
			}
			ev := PolicyEvent{Ext: arg("ext"), Key: arg("key"),
				Call: Call{ID: arg("call"), Calling: arg("calling"), Called: arg("called")}}
			if ip := arg("ip"); ip != "" {
				port, _ := strconv.Atoi(arg("port"))
				ev.Info = &DeviceInfo{IP: netip.MustParseAddr(ip), RecordingPort: port, Model: arg("model")}
			}
			kind := -1
			for i, n := range policyEventNames {
				if n == d.Cmd {
					kind = i
				}
			}
			if kind < 0 {
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			ev.Kind = PolicyEventKind(kind)
			var b strings.Builder
			for _, a := range p.Step(ev) {
				fmt.Fprintln(&b, a)
			}
			fmt.Fprintf(&b, "devices: %d, sessions: %d\n", len(p.devices), len(p.sessions))
			return b.String()
		})
	})
}
