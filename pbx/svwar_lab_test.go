package pbx_test

import (
	"os/exec"
	"strings"
	"testing"

	"net/netip"

	"github.com/emiago/sipgo/sip"
	"github.com/reclab/reclab/sim"
)

// sipvicious's svwar, a SIP extension scanner nobody here wrote, against
// the default lab (issue 11 item 1): before digest authentication it
// reported every extension "noauth". Now the PBX challenges a REGISTER for
// an unknown extension exactly as a known one (RFC 3261 §22.1, as real
// registrars do against scanners) and an INVITE from an unregistered
// source gets the same 403 whoever it names, so neither REGISTER, OPTIONS
// nor INVITE scans tell the lab's extensions 1001 and 1002 from 1000 or
// 1010; the phones stay registered where they are. .ci/run installs
// sipvicious; without it this test fails.
func TestSvwarLearnsNothing(t *testing.T) {
	svwar, err := exec.LookPath("svwar")
	if err != nil {
		t.Fatalf("svwar is not installed (apt-get install sipvicious; .ci/run does): %v", err)
	}
	l, ctx := startDefaultLab(t)
	before := map[string]netip.AddrPort{}
	for _, ext := range []string{"1001", "1002"} {
		b, ok := l.PBX.Lookup(ext)
		if !ok {
			t.Fatalf("%s is not registered after Start", ext)
		}
		before[ext] = b.Contact
	}
	pbx := l.PBX.Addr()
	scan := func(args ...string) string {
		t.Helper()
		// The lab's first extension comes first: svwar stops at the first
		// answer that matches its unknown extension's and looks no further.
		args = append(args, "-e", "1001-1010", "-P", "5099", "-p", "5060", pbx.Addr().String())
		out, err := exec.CommandContext(ctx, svwar, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("svwar %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// svwar's own sanity check: a challenge for an extension that cannot
	// exist tells it that the answers are of no use.
	if out := scan("-m", "REGISTER"); !strings.Contains(out, "authentication request for an unknown extension") || !strings.Contains(out, "found nothing") {
		t.Errorf("svwar -m REGISTER:\n%s", out)
	}
	for _, method := range []string{"REGISTER", "OPTIONS", "INVITE"} {
		out := scan("-m", method, "--force")
		if !strings.Contains(out, "found nothing") || strings.Contains(out, "noauth") || strings.Contains(out, "reqauth") {
			t.Errorf("svwar -m %s --force found something:\n%s", method, out)
		}
	}
	// What the PBX answered svwar, by method and extension, from the
	// trace: 1001's answer is the one of svwar's random extension.
	answers := map[string]map[string]string{} // method → To user → status line
	sent := map[string]int{}                  // method → answers svwar got
	for _, e := range l.Net.Trace().Recent() {
		if e.Kind != sim.KindMessage || e.Proto != sim.ProtoSIP || e.From != "pbx" || e.Dst.Port() != 5099 {
			continue
		}
		msg, err := sip.ParseMessage(e.Bytes)
		res, ok := msg.(*sip.Response)
		if err != nil || !ok || res.CSeq() == nil || res.To() == nil {
			t.Fatalf("the PBX sent svwar %q (%v)", e.Bytes, err)
		}
		m := string(res.CSeq().MethodName)
		if answers[m] == nil {
			answers[m] = map[string]string{}
		}
		user := res.To().Address.User
		if !strings.HasPrefix(user, "10") || len(user) != 4 {
			user = "unknown"
		}
		answers[m][user] = res.StartLine()
		sent[m]++
		if m == "REGISTER" && res.StatusCode == 200 {
			t.Errorf("svwar's REGISTER for %s got 200", res.To().Address.User)
		}
	}
	t.Logf("the PBX answered svwar %v times; answers by extension: %q", sent, answers)
	for _, m := range []string{"REGISTER", "OPTIONS", "INVITE"} {
		a := answers[m]
		if a["1001"] == "" || a["unknown"] == "" || a["1001"] != a["unknown"] {
			t.Errorf("%s answers to svwar: %q; want 1001 answered as svwar's unknown extension", m, a)
		}
	}
	for ext, home := range before {
		if b, ok := l.PBX.Lookup(ext); !ok || b.Contact != home {
			t.Errorf("after svwar: %s's binding %+v (registered %v), want the phone at %s", ext, b, ok, home)
		}
	}
}
