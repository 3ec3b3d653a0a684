package pbx

import (
	"net/netip"
	"testing"
	"time"
)

func TestRegistrar(t *testing.T) {
	a := netip.MustParseAddrPort("127.20.1.1:5060")
	b := netip.MustParseAddrPort("127.20.1.2:5060")
	a2 := netip.MustParseAddrPort("127.20.1.1:5070")
	r := NewRegistrar([]string{"1001", "1002"})
	reg := func(ext string, c netip.AddrPort, exp time.Duration, callID string) RegisterOutcome {
		out, _ := r.Register(Registration{Ext: ext, Contact: c, Expires: exp, CallID: callID}, exp)
		return out
	}
	steps := []struct {
		name   string
		ext    string
		c      netip.AddrPort
		exp    time.Duration
		want   RegisterOutcome
		callID string
	}{
		{"unknown extension", "9999", a, time.Hour, RegRefused, ""},
		{"first registration", "1001", a, time.Hour, RegNew, ""},
		{"refresh", "1001", a, 2 * time.Hour, RegRefresh, ""},
		{"another phone takes 1001 (spec §3.2.3)", "1001", b, time.Hour, RegMoved, ""},
		{"the evicted phone may not refresh it back", "1001", a, time.Hour, RegRefused, ""},
		{"un-register from the wrong phone", "1001", a, 0, RegNotFound, ""},
		{"un-register", "1001", b, 0, RegRemoved, ""},
		{"the evicted phone registers anew later", "1001", a, time.Hour, RegNew, ""},
		{"same phone, new SIP port (spec §3.2.5): no log-off", "1001", a2, time.Hour, RegRefresh, ""},
		{"un-register from the old port", "1001", a, 0, RegNotFound, ""},
		{"same phone, same binding, new Call-ID: it rebooted (spec §3.2.4)", "1001", a2, time.Hour, RegRestarted, "boot-2"},
		{"and refreshes within that boot", "1001", a2, time.Hour, RegRefresh, "boot-2"},
	}
	for _, s := range steps {
		if got := reg(s.ext, s.c, s.exp, s.callID); got != s.want {
			t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
		}
	}
	if reg, _ := r.Lookup("1001"); reg.Contact != a2 {
		t.Fatalf("1001 bound to %s, want the new port %s", reg.Contact, a2)
	}
	if gone := r.Expire(2 * time.Hour); len(gone) != 1 || gone[0].Ext != "1001" {
		t.Fatalf("expire: got %v", gone)
	}
	if _, ok := r.Lookup("1001"); ok {
		t.Fatal("1001 still bound after expiry")
	}
}
