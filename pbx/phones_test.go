package pbx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/sim"
)

// realPhone is a phones.Phone of model on 127.20.N.host whose configuration
// file (written to a temporary directory) is base plus extra lines.
func (l *testLab) realPhone(name, ext string, host byte, model, extra string, opts phones.Options) (*phones.Phone, string) {
	t := l.t
	t.Helper()
	m, err := phones.LookupModel(model)
	if err != nil {
		t.Fatal(err)
	}
	node, err := l.net.AddNode(name, l.ip(host))
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("sip line1 user name: %s\nsip line1 registrar ip: %s\nrecording allowed ip: %s\n%s",
		ext, l.pbx.Addr().Addr(), l.ip(2), extra)
	path := filepath.Join(t.TempDir(), name+".cfg")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := phones.ParseConfig(path, strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	opts.PBX = l.pbx.Addr()
	p, err := phones.New(node, m, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PowerOn(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.PowerOff)
	return p, path
}

// spec §3.2.5 with a real phone: the PBX's update order makes a 6867i
// unregister, re-read its file (a new SIP port, so a restart) and register
// again; the recorder hears OutOfService, then BackInService with the new
// recording port.
func TestOrderUpdateRealPhone(t *testing.T) {
	l := newTestLab(t, Config{})
	rec := l.recorder("rec", 2)
	ref := rec.monitor("1002")
	p, path := l.realPhone("p6867i", "1002", 12, "6867i", "", phones.Options{})
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if bis := rec.expect("BackInServiceEvent")[0].(csta.BackInServiceEvent); bis.Info.RecordingPort != 5060 {
		t.Fatalf("BackInService: %+v", bis.Info)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(text, "sip local port: 5070\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.pbx.OrderUpdate("1002"); err != nil {
		t.Fatal(err)
	}
	evs := rec.expect("OutOfServiceEvent", "BackInServiceEvent")
	bis := evs[1].(csta.BackInServiceEvent)
	if bis.CrossRefID != ref || bis.Info.IP != l.ip(12) || bis.Info.RecordingPort != 5070 || bis.Info.Model != "6867i" {
		t.Fatalf("BackInService after the update: %+v", bis.Info)
	}
	if reg, ok := l.pbx.Lookup("1002"); !ok || reg.Contact.Port() != 5070 {
		t.Fatalf("1002 bound to %+v", reg)
	}
}

// spec §3.2.6 with a real phone: the PBX stops; the phone's keep-alive finds
// it silent; once the PBX is back the phone registers again and a recorder
// that connects anew hears BackInService.
func TestRestartRealPhone(t *testing.T) {
	l := newTestLab(t, Config{})
	recNode, err := l.net.AddNode("rec", l.ip(2))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := l.realPhone("p7434", "1001", 11, "7434", "",
		phones.Options{KeepAlive: 100 * time.Millisecond, RegisterRetry: 100 * time.Millisecond,
			SIPRegister: true}) // SIP here; over RAS: TestRestartRealPhoneRAS
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	rec := l.dialRecorder(recNode)
	rec.monitor("1001")
	rec.expect("BackInServiceEvent")

	// The phone notices only through its keep-alive: wait until it has
	// given the PBX up and tries to register again, then bring it back.
	retry := l.net.Trace().WatchN(2, sipFrom("p7434", "pbx", "REGISTER"))
	l.pbx.Stop()
	recv(t, rec.errs, "the CSTA link to drop")
	if _, err := retry.Wait(ctxT(t)); err != nil {
		t.Fatalf("the phone did not try to register again: %v", err)
	}
	registered := l.watch(func(e sim.Event) bool {
		return e.Kind == sim.KindNote && e.From == "pbx" && strings.HasPrefix(e.Summary, "1001 registered from")
	})
	if err := l.pbx.Start(); err != nil {
		t.Fatal(err)
	}
	registered()
	rec = l.dialRecorder(recNode)
	rec.monitor("1001")
	if bis := rec.expect("BackInServiceEvent")[0].(csta.BackInServiceEvent); bis.Info.IP != l.ip(11) || bis.Info.RecordingPort != 7300 {
		t.Fatalf("BackInService after the restart: %+v", bis.Info)
	}
}

// The load bench's brief call with real phones: the caller hangs up as soon
// as the callee talks (has the PBX's ACK), so its CANCEL may cross the 200
// OK on its way (RFC 3261 §9.1). Whichever comes first, both phones end the
// call, the PBX forgets it, and nobody raises an error.
func TestHangUpAsCalleeTalksRealPhones(t *testing.T) {
	const calls = 10
	l := newTestLab(t, Config{})
	a, _ := l.realPhone("p7434", "1001", 11, "7434", "", phones.Options{})
	b, _ := l.realPhone("p6867i", "1002", 12, "6867i", "", phones.Options{})
	for _, p := range []*phones.Phone{a, b} {
		if err := p.Register(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	note := func(from string, prefixes ...string) func() sim.Event {
		return l.watch(func(e sim.Event) bool {
			if e.Kind != sim.KindNote || e.From != from {
				return false
			}
			for _, p := range prefixes {
				if strings.HasPrefix(e.Summary, p) {
					return true
				}
			}
			return false
		})
	}
	for i := 0; i < calls; i++ {
		ringing := note("p6867i", "ringing from")
		talking := note("p6867i", "talking with")
		callerDone := note("p7434", "call to 1002 cancelled", "hung up on 1002")
		calleeDone := note("p6867i", "call with 1001 ended by the far end")
		if err := a.Dial(ctxT(t), "1002"); err != nil {
			t.Fatal(err)
		}
		ringing()
		if err := b.Answer(); err != nil {
			t.Fatal(err)
		}
		talking()
		if err := a.HangUp(ctxT(t)); err != nil {
			t.Fatalf("call %d: hang up: %v", i, err)
		}
		callerDone()
		calleeDone()
		if n := l.net.Trace().Count(sim.KindError); n != 0 {
			t.Fatalf("call %d: %d error events, want none", i, n)
		}
	}
	if calls := l.pbx.Calls(); len(calls) != 0 {
		t.Fatalf("Calls after the hang-ups: %v", calls)
	}
}
