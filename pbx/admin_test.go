package pbx

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/sim"
)

func TestUpdateTargets(t *testing.T) {
	dir := []string{"1001", "1002", "1003"}
	r := NewRegistrar(dir)
	for i, ext := range []string{"1001", "1002"} {
		r.Register(Registration{Ext: ext, Contact: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 20, 1, byte(i + 1)}), 5060), Expires: time.Hour}, time.Hour)
	}
	tests := []struct {
		name    string
		exts    []string
		want    string // extensions, comma separated
		wantErr []string
	}{
		{"all registered when none named", nil, "1001,1002", nil},
		{"one", []string{"1002"}, "1002", nil},
		{"a list, duplicates once", []string{"1002", "1001", "1002"}, "1002,1001", nil},
		{"unknown: named with the valid ones", []string{"1001", "4711"}, "", []string{`no extension "4711"; extensions: 1001, 1002, 1003`}},
		{"not registered", []string{"1003"}, "", []string{"1003 is not registered"}},
		{"every problem at once", []string{"4711", "1003"}, "", []string{`"4711"`, "1003 is not registered"}},
	}
	for _, tc := range tests {
		got, err := updateTargets(r, dir, tc.exts)
		if tc.wantErr != nil {
			for _, w := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %v, want one containing %q", tc.name, err, w)
				}
			}
			continue
		}
		var names []string
		for _, g := range got {
			names = append(names, g.Ext)
		}
		if err != nil || strings.Join(names, ",") != tc.want {
			t.Errorf("%s: got %v %v, want %s", tc.name, names, err, tc.want)
		}
	}
	if _, err := updateTargets(NewRegistrar(dir), dir, nil); err == nil || !strings.Contains(err.Error(), "no phone is registered") {
		t.Errorf("all, none registered: %v", err)
	}
}

// countSIP counts the SIP messages of the trace so far from one node to
// another whose summary starts with prefix.
func (l *testLab) countSIP(from, to, prefix string) int {
	n := 0
	match := sipFrom(from, to, prefix)
	for _, e := range l.net.Trace().Recent() {
		if match(e) {
			n++
		}
	}
	return n
}

// spec §3.2.5, docs/wire.md "Firmware / configuration update".
func TestOrderUpdate(t *testing.T) {
	l := newTestLab(t, Config{})
	a := l.phone("a", "1001", 11, "7434")
	b := l.phone("b", "1002", 12, "6867i")
	a.mustRegister("3600")
	b.mustRegister("3600")

	for _, tc := range []struct {
		exts []string
		want string
	}{
		{[]string{"1001", "4711"}, `no extension "4711"; extensions: 1001, 1002, 1003`},
		{[]string{"1003"}, "1003 is not registered"},
	} {
		if err := l.pbx.OrderUpdate(tc.exts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("OrderUpdate(%v): %v, want an error containing %q", tc.exts, err, tc.want)
		}
	}
	if n := l.countSIP("pbx", "a", "NOTIFY"); n != 0 {
		t.Fatalf("a refused order sent %d NOTIFY", n)
	}

	if err := l.pbx.OrderUpdate("1001"); err != nil {
		t.Fatal(err)
	}
	n := recv(t, a.notifies, "the check-sync NOTIFY at A")
	for h, want := range map[string]string{"Event": "check-sync", "Subscription-State": "terminated"} {
		if got := n.GetHeader(h); got == nil || got.Value() != want {
			t.Errorf("NOTIFY %s: %v, want %q", h, got, want)
		}
	}
	if len(n.Body()) != 0 || n.Recipient.User != "1001" || n.Recipient.Host != l.ip(11).String() || n.Recipient.Port != 5060 {
		t.Errorf("NOTIFY %s with body %q", n.Recipient.String(), n.Body())
	}
	if l.countSIP("pbx", "b", "NOTIFY") != 0 {
		t.Fatal("an order for 1001 reached 1002")
	}

	// All registered phones when none is named.
	if err := l.pbx.OrderUpdate(); err != nil {
		t.Fatal(err)
	}
	recv(t, a.notifies, "the second NOTIFY at A")
	recv(t, b.notifies, "the NOTIFY at B")
	if na, nb := l.countSIP("pbx", "a", "NOTIFY"), l.countSIP("pbx", "b", "NOTIFY"); na != 2 || nb != 1 {
		t.Fatalf("NOTIFYs sent: a %d b %d, want 2 and 1", na, nb)
	}

	// A phone that does not take the order: its answer is the error.
	b.notifyStatus.Store(489)
	if err := l.pbx.OrderUpdate("1002"); err == nil || !strings.Contains(err.Error(), "1002") || !strings.Contains(err.Error(), "489") {
		t.Fatalf("refused order: %v", err)
	}

	l.pbx.Stop()
	if err := l.pbx.OrderUpdate("1001"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("OrderUpdate on a stopped PBX: %v", err)
	}
}

// spec §3.2.6: Stop and Start, again and again; each start forgets the
// registrations, the CSTA listener binds again, and phones register anew.
func TestStopStart(t *testing.T) {
	l := newTestLab(t, Config{})
	recNode, err := l.net.AddNode("rec", l.ip(2))
	if err != nil {
		t.Fatal(err)
	}
	a := l.phone("a", "1001", 11, "7434")
	for round := range 3 {
		rec := l.dialRecorder(recNode)
		rec.monitor("1001")
		a.mustRegister("3600")
		rec.expect("BackInServiceEvent") // RegNew every round: the registration was forgotten
		if n := len(l.pbx.Registrations()); n != 1 {
			t.Fatalf("round %d: %d registrations", round, n)
		}
		if n := l.pbx.CSTAClients(); n != 1 {
			t.Fatalf("round %d: %d CSTA clients", round, n)
		}

		down := l.watch(func(e sim.Event) bool {
			return e.Kind == sim.KindNote && e.From == "pbx" && strings.HasPrefix(e.Summary, "PBX down")
		})
		if round%2 == 0 {
			l.pbx.Stop()
		} else {
			if err := l.pbx.Restart(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
		down()
		// The recorder's link drops without a goodbye.
		if err := recv(t, rec.errs, "the CSTA link to drop"); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("round %d: link ended with %v", round, err)
		}
		if round%2 == 0 {
			if l.pbx.Running() || l.pbx.CSTAClients() != 0 || len(l.pbx.Registrations()) != 0 {
				t.Fatalf("round %d: stopped PBX still has state", round)
			}
			l.pbx.Stop() // twice is harmless
			if err := l.pbx.Start(); err != nil {
				t.Fatalf("round %d: Start after Stop: %v", round, err)
			}
		}
		if len(l.pbx.Registrations()) != 0 || len(l.pbx.Calls()) != 0 {
			t.Fatalf("round %d: registrations or calls survived the restart", round)
		}
	}
}
