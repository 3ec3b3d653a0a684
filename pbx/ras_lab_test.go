package pbx_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/pbx/h225ras"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// The attacks of issue 11 item 1 over H.323 RAS, from the rogue host
// against the default lab's 7434 (1001, registered with the gatekeeper):
// an RRQ for 1001 from the rogue's own address, an RRQ naming the 7434's
// rasAddress, and a lightweight RRQ and a URQ with the 7434's
// endpointIdentifier. Each is refused with an error event naming the
// rogue; 1001 stays at the 7434, the recorder hears no OutOfService, and
// the 7434's next call is recorded.
func TestRASAttacksRefused(t *testing.T) {
	l, ctx := startDefaultLab(t)
	victim, callee := l.Phones[0], l.Phones[1] // 7434 (1001) over RAS, 6867i (1002)
	tr := l.Net.Trace()
	home, ok := l.PBX.Lookup(victim.Ext())
	if !ok {
		t.Fatalf("%s is not registered", victim.Ext())
	}

	// The 7434's endpointIdentifier and RAS address, as a sniffer sees them.
	var epid string
	var victimRAS netip.AddrPort
	for _, e := range tr.Recent() {
		if e.Kind != sim.KindMessage || e.Proto != sim.ProtoRAS || e.From != "pbx" || e.To != victim.Name() {
			continue
		}
		if m, err := h225ras.Decode(e.Bytes); err == nil {
			if rcf, ok := m.(*h225ras.RCF); ok {
				epid, victimRAS = rcf.EndpointID, e.Dst
			}
		}
	}
	if epid == "" {
		t.Fatal("no RCF to the 7434 in the trace")
	}

	node, err := l.Net.AddNode("rogue", lab.RogueAddr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := node.ListenPacket(sim.RASPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	self := conn.LocalAddrPort()
	gk := netip.AddrPortFrom(l.PBX.Addr().Addr(), sim.RASPort)
	ask := func(m h225ras.Message) h225ras.Message {
		t.Helper()
		b, err := h225ras.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.WriteToAddrPort(b, gk); err != nil {
			t.Fatal(err)
		}
		deadline, _ := ctx.Deadline()
		conn.SetReadDeadline(deadline) // only stops a broken test
		buf := make([]byte, 2048)
		n, _, err := conn.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("no answer to %s: %v", m.Kind(), err)
		}
		r, err := h225ras.Decode(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rrq := func(seq uint16, ras, signal netip.AddrPort) *h225ras.RRQ {
		return &h225ras.RRQ{RequestSeqNum: seq, Protocol: h225ras.ProtocolV4, DiscoveryComplete: true,
			CallSignal: []netip.AddrPort{signal}, RAS: []netip.AddrPort{ras}, TerminalType: h225ras.Terminal(),
			TerminalAlias: []h225ras.Alias{h225ras.Digits(victim.Ext())}, TimeToLive: 3600,
			EndpointVendor: h225ras.Vendor{CountryCode: 0xa5, ProductID: "Mitel 7434", VersionID: "1"}}
	}
	ownSignal := netip.AddrPortFrom(lab.RogueAddr, 5060)
	light := rrq(3, self, ownSignal)
	light.TerminalAlias, light.DiscoveryComplete, light.KeepAlive, light.EndpointID = nil, false, true, epid

	for _, tc := range []struct {
		name   string
		m      h225ras.Message
		reason string
		err    string
	}{
		{"an RRQ for 1001 from the rogue's own address", rrq(1, self, ownSignal), "duplicateAlias", "is registered from"},
		{"an RRQ naming the 7434's rasAddress", rrq(2, victimRAS, home.Contact), "invalidRASAddress", "is not the address it came from"},
		{"a lightweight RRQ with the 7434's endpointIdentifier", light, "securityDenial", "registered from " + victimRAS.String()},
		{"a URQ with the 7434's endpointIdentifier", &h225ras.URQ{RequestSeqNum: 4, CallSignal: []netip.AddrPort{home.Contact}, EndpointID: epid},
			"securityDenial", "registered from " + victimRAS.String()},
	} {
		refused := tr.Watch(func(e sim.Event) bool {
			return e.Kind == sim.KindError && e.From == "pbx" && strings.Contains(e.Summary, self.String()) && strings.Contains(e.Summary, tc.err)
		})
		var reason string
		switch r := ask(tc.m).(type) {
		case *h225ras.RRJ:
			reason = r.Reason.String()
		case *h225ras.URJ:
			reason = r.Reason.String()
		default:
			t.Fatalf("%s: answered %s, want a reject", tc.name, r.Kind())
		}
		if reason != tc.reason {
			t.Errorf("%s: refused with %s, want %s", tc.name, reason, tc.reason)
		}
		if _, err := refused.Wait(ctx); err != nil {
			t.Fatalf("%s: no error event naming %s: %v", tc.name, self, err)
		}
		if b, ok := l.PBX.Lookup(victim.Ext()); !ok || b.Contact != home.Contact || b.CallID != home.CallID {
			t.Fatalf("after %s: 1001 is %+v (registered %v), want the 7434's %+v", tc.name, b, ok, home)
		}
	}

	// The 7434's next call is recorded: both sides fork, the recorder keeps 1001's file.
	ringing := sim.WatchState(tr, func(s phones.CallChanged) bool { return s.Phone == callee.Name() && s.State == phones.CallRinging })
	forking := sim.WatchState(tr, func(s phones.RecordingState) bool { return s.Phone == victim.Name() && s.State == phones.RecForking })
	kept := sim.WatchState(tr, func(s recorder.RecordingClosed) bool { return s.Kept && s.Meta.Extension == victim.Ext() })
	if err := victim.Dial(ctx, callee.Ext()); err != nil {
		t.Fatal(err)
	}
	if _, err := ringing.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := callee.Answer(); err != nil {
		t.Fatal(err)
	}
	if _, err := forking.Wait(ctx); err != nil {
		t.Fatalf("the 7434 did not fork its call: %v", err)
	}
	if err := victim.HangUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Wait(ctx); err != nil {
		t.Fatalf("1001's call was not recorded: %v", err)
	}
	for _, e := range tr.Recent() {
		if e.Kind == sim.KindMessage && e.Proto == sim.ProtoCSTA && e.From == "pbx" && strings.Contains(e.Summary, "OutOfService") {
			t.Errorf("CSTA told the recorder %q", e.Summary)
		}
	}
}
