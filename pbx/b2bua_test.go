package pbx

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/reclab/reclab/internal/labtest"
)

// TestCallTranscripts plays testdata/calls/*.txt: what the wire did in,
// what the B2BUA does out, in etcd-raft's style. `go test ./pbx -run
// Transcripts -rewrite` rewrites the expected output from the core. Each
// file starts with the directory 1001, 1002, 1003 and nobody registered.
//
//	register ext=1001 contact=127.20.1.1:5060
//	invite call=a1 from=1001 to=1002 src=127.20.1.1:5060   opened call=a1
//	b-written call=a1 dialog=b1   b-provisional call=a1 code=180   b-answered call=a1
//	b-refused call=a1 code=486 reason=(Busy Here) err=… [a-gone]   b-write-failed call=a1
//	b-acked call=a1   a-acked call=a1   a-relay-failed call=a1 err=… [a-gone]
//	cancel call=a1    a-gone call=a1    bye dialog=b1 src=…    bye-read call=a1 leg=b
func TestCallTranscripts(t *testing.T) {
	kinds := map[string]CallEventKind{}
	for i, n := range callInputNames {
		kinds[n] = CallEventKind(i)
	}
	datadriven.Walk(t, "testdata/calls", func(t *testing.T, path string) {
		reg := NewRegistrar([]string{"1001", "1002", "1003"})
		b := NewB2BUA(reg)
		invites := map[string]CallEvent{} // accepted INVITEs, for their `opened`
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			arg := func(key string) string { return labtest.Arg(d, key) }
			addr := func(key string) netip.AddrPort {
				ap, err := netip.ParseAddrPort(arg(key))
				if err != nil {
					d.Fatalf(t, "%s: %v", key, err)
				}
				return ap
			}
			if d.Cmd == "register" {
				out, _ := reg.Register(Registration{Ext: arg("ext"), Contact: addr("contact"), Expires: time.Hour}, time.Hour)
				return out.String() + "\n"
			}
			kind, ok := kinds[d.Cmd]
			if !ok {
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			ev := CallEvent{Kind: kind, Call: arg("call"), Dialog: arg("dialog"), Caller: arg("from"), Callee: arg("to"),
				Reason: arg("reason"), Err: arg("err"), AGone: d.HasArg("a-gone")}
			if kind == CallInvite || kind == CallBye {
				ev.Src = addr("src")
			}
			if kind == CallOpened {
				ev = invites[ev.Call]
				ev.Kind = CallOpened
			}
			if c := arg("code"); c != "" {
				ev.Code, _ = strconv.Atoi(c)
			}
			if arg("leg") == "b" {
				ev.Leg = LegB
			}
			var out strings.Builder
			for _, a := range b.Step(ev) {
				if a.Kind == ActAccept {
					ev.Reg = a.Reg
					invites[ev.Call] = ev
				}
				fmt.Fprintln(&out, a)
			}
			fmt.Fprint(&out, callStates(b))
			return out.String()
		})
	})
}

// callStates is one line per call the core holds: its legs, state and flags.
func callStates(b *B2BUA) string {
	var lines []string
	for _, c := range b.calls {
		s := "call " + c.aID
		if c.bID != "" {
			s += "/" + c.bID
		}
		s += ": " + c.state.String()
		for _, f := range []struct {
			on   bool
			name string
		}{{c.cancelled, "cancelled"}, {c.aGone, "a-gone"}, {c.delivered, "delivered"}, {c.bCancel, "b-cancelled"}, {c.settled, "settled"}, {c.byeFromB, "bye-from-b"}} {
			if f.on {
				s += " " + f.name
			}
		}
		lines = append(lines, s)
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return "no calls\n"
	}
	return strings.Join(lines, "\n") + "\n"
}
