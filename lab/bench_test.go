package lab

import (
	"net/netip"
	"strings"
	"testing"
)

func TestNextPhoneAddr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"127.20.1.1", "127.20.1.2"},
		{"127.20.1.253", "127.20.1.254"},
		{"127.20.1.254", "127.20.2.1"}, // .255 and .0 skipped
		{"127.20.254.254", "127.20.255.1"},
	} {
		if got := NextPhoneAddr(netip.MustParseAddr(c.in)); got.String() != c.want {
			t.Errorf("NextPhoneAddr(%s) = %s, want %s", c.in, got, c.want)
		}
	}
	// The last phone of the largest bench lab is 127.20.255.254.
	ip := netip.MustParseAddr("127.20.1.1")
	for range BenchMaxPhones - 1 {
		ip = NextPhoneAddr(ip)
	}
	if ip.String() != "127.20.255.254" {
		t.Errorf("phone %d at %s, want 127.20.255.254", BenchMaxPhones, ip)
	}
}

func TestBenchTopology(t *testing.T) {
	topo, err := Bench(10, 0.5, "static")
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Phones) != 10 || topo.Phones[0].Ext != "10001" || topo.Phones[9].Name != "p10010" {
		t.Fatalf("phones %+v", topo.Phones)
	}
	if topo.Phones[0].Model != "7434" || topo.Phones[1].Model != "6867i" {
		t.Errorf("models %s, %s: want 7434 and 6867i alternating", topo.Phones[0].Model, topo.Phones[1].Model)
	}
	if got := strings.Join(topo.Recorder.Monitored, ","); got != "10001,10003,10005,10007,10009" {
		t.Errorf("monitored %s, want every other phone", got)
	}
	if topo.Recorder.Mapping != "static" {
		t.Errorf("mapping %q", topo.Recorder.Mapping)
	}
	if err := topo.defaults(); err != nil {
		t.Fatalf("bench topology does not pass Build's checks: %v", err)
	}
	all, _ := Bench(3, 1, "dynamic")
	none, _ := Bench(3, 0, "dynamic")
	if len(all.Recorder.Monitored) != 3 || len(none.Recorder.Monitored) != 1 || none.Recorder.Monitored[0] != "0" {
		t.Errorf("monitored all %v, none %v", all.Recorder.Monitored, none.Recorder.Monitored)
	}
}

func TestBenchTopologyRefuses(t *testing.T) {
	for _, c := range []struct {
		n    int
		f    float64
		want string
	}{
		{0, 1, "bench phones 0"},
		{BenchMaxPhones + 1, 1, "bench phones"},
		{10, 1.5, "monitored fraction 1.5"},
		{10, -0.1, "monitored fraction -0.1"},
	} {
		if _, err := Bench(c.n, c.f, "dynamic"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Bench(%d, %g) = %v, want an error with %q", c.n, c.f, err, c.want)
		}
	}
}
