package pbx

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/pbx/h225ras"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/sim"
)

var (
	gkRAS    = mustAP("127.20.0.1:1719")
	gkSIP    = mustAP("127.20.0.1:5060")
	phoneRAS = mustAP("127.20.1.1:1719")
	phoneSIP = mustAP("127.20.1.1:5060")
	otherRAS = mustAP("127.20.1.2:1719")
)

func fullRRQ(seq uint16, ext string, ras, signal netip.AddrPort, ttl uint32) *h225ras.RRQ {
	return &h225ras.RRQ{RequestSeqNum: seq, Protocol: h225ras.ProtocolV4, DiscoveryComplete: true,
		CallSignal: []netip.AddrPort{signal}, RAS: []netip.AddrPort{ras}, TerminalType: h225ras.Terminal(),
		TerminalAlias: []h225ras.Alias{h225ras.Digits(ext)}, GatekeeperID: "MX-ONE",
		EndpointVendor: h225ras.Vendor{CountryCode: 0xa5, ProductID: "Mitel 7434", VersionID: "1"}, TimeToLive: ttl}
}

func lightRRQ(seq uint16, epid string, ras, signal netip.AddrPort) *h225ras.RRQ {
	m := fullRRQ(seq, "", ras, signal, 60)
	m.TerminalAlias, m.DiscoveryComplete, m.KeepAlive, m.EndpointID = nil, false, true, epid
	return m
}

// The gatekeeper's decisions, step by step (H.225.0 §7.2, §7.6, §7.7,
// §7.9.1; spec §3.2.3 for a registration another phone takes).
func TestGatekeeperCore(t *testing.T) {
	reg := NewRegistrar([]string{"1001", "1002"})
	g := NewGatekeeper("MX-ONE", gkRAS, gkSIP, reg, 120*time.Second)
	now := 10 * time.Second

	d := g.Step(now, phoneRAS, &h225ras.GRQ{RequestSeqNum: 1, Protocol: h225ras.ProtocolV4, RASAddress: phoneRAS, EndpointType: h225ras.Terminal()})
	if gcf, ok := d.Reply.(*h225ras.GCF); !ok || gcf.GatekeeperID != "MX-ONE" || gcf.RASAddress != gkRAS || gcf.RequestSeqNum != 1 {
		t.Fatalf("GRQ: %#v, want GCF from MX-ONE at %s", d.Reply, gkRAS)
	}
	d = g.Step(now, phoneRAS, &h225ras.GRQ{RequestSeqNum: 2, Protocol: h225ras.ProtocolV4, RASAddress: phoneRAS, GatekeeperID: "other"})
	if grj, ok := d.Reply.(*h225ras.GRJ); !ok || grj.Reason != h225ras.GRJTerminalExcluded {
		t.Fatalf("GRQ for another gatekeeper: %#v, want GRJ terminalExcluded", d.Reply)
	}

	d = g.Step(now, phoneRAS, fullRRQ(3, "1001", phoneRAS, phoneSIP, 600))
	rcf, ok := d.Reply.(*h225ras.RCF)
	if !ok || rcf.TimeToLive != 120 || rcf.EndpointID == "" || rcf.CallSignal[0] != gkSIP {
		t.Fatalf("RRQ: %#v, want RCF with ttl capped at 120 and an endpoint id", d.Reply)
	}
	want := Registration{Ext: "1001", Contact: phoneSIP, Model: "7434", RecordingPort: 7300, Expires: now + 120*time.Second, CallID: "ras:" + rcf.EndpointID}
	if !d.Changed || d.Outcome != RegNew || d.Reg != want {
		t.Fatalf("RRQ: %+v, want a new binding %+v", d, want)
	}
	epid := rcf.EndpointID

	later := now + 60*time.Second
	d = g.Step(later, phoneRAS, lightRRQ(4, epid, phoneRAS, phoneSIP))
	if r, ok := d.Reply.(*h225ras.RCF); !ok || r.EndpointID != epid || d.Outcome != RegRefresh || d.Reg.Expires != later+60*time.Second {
		t.Fatalf("lightweight RRQ: %+v %#v, want a refresh to %s", d, d.Reply, later+60*time.Second)
	}
	d = g.Step(later, otherRAS, lightRRQ(5, "1001-99", otherRAS, mustAP("127.20.1.2:5060")))
	if r, ok := d.Reply.(*h225ras.RRJ); !ok || r.Reason != h225ras.RRJFullRegistrationRequired || d.Changed || d.Err != nil {
		t.Errorf("unknown endpoint: %+v %#v, want RRJ fullRegistrationRequired", d, d.Reply)
	}

	for name, tc := range map[string]struct {
		src    netip.AddrPort
		m      *h225ras.RRQ
		reason h225ras.RRJReason
		err    string
	}{
		"not in the directory":   {otherRAS, fullRRQ(7, "4711", otherRAS, mustAP("127.20.1.2:5060"), 60), h225ras.RRJInvalidAlias, "4711 from 127.20.1.2:1719: not in the directory"},
		"rasAddress not the src": {otherRAS, fullRRQ(8, "1002", phoneRAS, mustAP("127.20.1.2:5060"), 60), h225ras.RRJInvalidRASAddress, "rasAddress [127.20.1.1:1719] is not the address it came from"},
		"signal on another host": {otherRAS, fullRRQ(9, "1002", otherRAS, phoneSIP, 60), h225ras.RRJInvalidCallSignalAddress, "callSignalAddress [127.20.1.1:5060] is not on the sender's address"},
		// Issue 11: without H.235 a live binding is not taken over RAS.
		"1001 held by A":           {otherRAS, fullRRQ(10, "1001", otherRAS, mustAP("127.20.1.2:5060"), 60), h225ras.RRJDuplicateAlias, "RRQ 1001 from 127.20.1.2:1719 refused: 1001 is registered from 127.20.1.1"},
		"A's id from another host": {otherRAS, lightRRQ(11, epid, otherRAS, mustAP("127.20.1.2:5060")), h225ras.RRJSecurityDenial, `lightweight RRQ from 127.20.1.2:1719 refused: endpoint "` + epid + `" registered from 127.20.1.1:1719`},
		"A's id, A's addresses":    {otherRAS, lightRRQ(12, epid, phoneRAS, phoneSIP), h225ras.RRJSecurityDenial, "registered from 127.20.1.1:1719"},
	} {
		d = g.Step(later, tc.src, tc.m)
		if r, ok := d.Reply.(*h225ras.RRJ); !ok || r.Reason != tc.reason || d.Changed || d.Err == nil || !strings.Contains(d.Err.Error(), tc.err) {
			t.Errorf("%s: %#v, error %v; want RRJ %s and an error with %q", name, d.Reply, d.Err, tc.reason, tc.err)
		}
	}
	urqA := &h225ras.URQ{RequestSeqNum: 13, CallSignal: []netip.AddrPort{phoneSIP}, EndpointID: epid}
	d = g.Step(later, otherRAS, urqA)
	if r, ok := d.Reply.(*h225ras.URJ); !ok || r.Reason != h225ras.URJSecurityDenial || d.Changed || d.Err == nil || !strings.Contains(d.Err.Error(), "URQ from 127.20.1.2:1719 refused") {
		t.Errorf("A's URQ from another host: %+v %#v, want URJ securityDenial and an error", d, d.Reply)
	}
	if b, _ := reg.Lookup("1001"); b.CallID != "ras:"+epid || b.Expires != later+60*time.Second {
		t.Fatalf("after the refusals 1001 is %+v, want A's binding unchanged", b)
	}

	// A SIP phone, authenticated, takes 1001 (spec §3.2.3): A is sent away
	// with a URQ to its RAS address and its refresh is refused.
	out, prev := reg.Register(Registration{Ext: "1001", Contact: mustAP("127.20.1.3:5060"), CallID: "abc@127.20.1.3", Expires: later + time.Second}, time.Second)
	if out != RegMoved || prev.CallID != "ras:"+epid {
		t.Fatalf("SIP REGISTER of 1001: %s from %+v, want moved from A", out, prev)
	}
	urq, to, ok := g.SendAway(prev)
	if !ok || to != phoneRAS || urq.EndpointID != epid || urq.Reason == nil {
		t.Fatalf("SendAway: %+v to %s %v, want a URQ to A's %s", urq, to, ok, phoneRAS)
	}
	d = g.Step(later, phoneRAS, lightRRQ(14, epid, phoneRAS, phoneSIP))
	if _, ok := d.Reply.(*h225ras.RRJ); !ok {
		t.Fatalf("A's refresh after being sent away: %#v, want RRJ", d.Reply)
	}
	if _, _, ok := g.SendAway(Registration{Ext: "1002", CallID: "abc@127.20.1.9"}); ok {
		t.Fatal("SendAway took a SIP binding")
	}

	// Once the SIP phone has unregistered, B registers 1001 over RAS, leaves
	// (UCF), and leaving again is URJ notCurrentlyRegistered.
	reg.Register(Registration{Ext: "1001", Contact: mustAP("127.20.1.3:5060"), CallID: "abc@127.20.1.3"}, 0)
	d = g.Step(later, otherRAS, fullRRQ(15, "1001", otherRAS, mustAP("127.20.1.2:5060"), 60))
	rcfB, ok := d.Reply.(*h225ras.RCF)
	if !ok || d.Outcome != RegNew {
		t.Fatalf("B's RRQ for a free 1001: %+v %#v, want RCF", d, d.Reply)
	}
	urqB := &h225ras.URQ{RequestSeqNum: 16, CallSignal: []netip.AddrPort{mustAP("127.20.1.2:5060")}, EndpointID: rcfB.EndpointID}
	d = g.Step(later, otherRAS, urqB)
	if _, ok := d.Reply.(*h225ras.UCF); !ok || d.Outcome != RegRemoved {
		t.Fatalf("URQ: %+v %#v, want UCF and removed", d, d.Reply)
	}
	d = g.Step(later, otherRAS, urqB)
	if r, ok := d.Reply.(*h225ras.URJ); !ok || r.Reason != h225ras.URJNotCurrentlyRegistered || d.Changed {
		t.Fatalf("second URQ: %#v, want URJ notCurrentlyRegistered", d.Reply)
	}
	if d = g.Step(later, otherRAS, &h225ras.GCF{RequestSeqNum: 1}); d.Err == nil || d.Reply != nil {
		t.Fatalf("a GCF to the gatekeeper: %+v, want an error and no answer", d)
	}
}

// rasEndpoint is a bare H.225.0 endpoint on a lab node: it sends what the
// test says and reads the answers, through sim's socket.
type rasPeer struct {
	t    *testing.T
	conn *sim.PacketConn
	gk   netip.AddrPort
}

func (l *testLab) rasPeer(name string, host byte) *rasPeer {
	l.t.Helper()
	node, err := l.net.AddNode(name, l.ip(host))
	if err != nil {
		l.t.Fatal(err)
	}
	c, err := node.ListenPacket(sim.RASPort)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { c.Close() })
	return &rasPeer{t: l.t, conn: c, gk: netip.AddrPortFrom(l.pbx.Addr().Addr(), sim.RASPort)}
}

func (p *rasPeer) send(m h225ras.Message) {
	p.t.Helper()
	b, err := h225ras.Encode(m)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToAddrPort(b, p.gk); err != nil {
		p.t.Fatal(err)
	}
}

// next reads the next RAS message; the deadline only stops a broken test.
func (p *rasPeer) next() h225ras.Message {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 2048)
	n, _, err := p.conn.ReadFromAddrPort(buf)
	if err != nil {
		p.t.Fatalf("no RAS message came: %v", err)
	}
	m, err := h225ras.Decode(buf[:n])
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

// The gatekeeper on a lab: discovery, registration with CSTA's
// BackInService as for SIP (IP, recording port 7300, model), a lightweight
// refresh with no CSTA event, URQ with OutOfService, ageing out, and a SIP
// phone taking the extension sends the RAS phone a URQ (spec §3.2.3).
func TestGatekeeperOnTheLab(t *testing.T) {
	l := newTestLab(t, Config{})
	rec := l.recorder("rec", 2)
	rec.monitor("1001")
	ep := l.rasPeer("dbc", 11)
	self := ep.conn.LocalAddrPort()
	signal := netip.AddrPortFrom(self.Addr(), 5060)

	ep.send(&h225ras.GRQ{RequestSeqNum: 1, Protocol: h225ras.ProtocolV4, RASAddress: self, EndpointType: h225ras.Terminal()})
	if gcf, ok := ep.next().(*h225ras.GCF); !ok || gcf.RASAddress != ep.gk {
		t.Fatalf("GRQ: %#v, want GCF", gcf)
	}
	ep.send(fullRRQ(2, "1001", self, signal, 60))
	rcf, ok := ep.next().(*h225ras.RCF)
	if !ok || rcf.TimeToLive != 60 {
		t.Fatalf("RRQ: %#v, want RCF ttl 60", rcf)
	}
	bis := rec.expect("BackInServiceEvent")[0].(csta.BackInServiceEvent)
	if want := (csta.DeviceInfo{IP: l.ip(11), RecordingPort: 7300, Model: "7434"}); bis.Info == nil || *bis.Info != want {
		t.Fatalf("BackInService: %+v, want %v", bis.Info, want)
	}
	ep.send(lightRRQ(3, rcf.EndpointID, self, signal))
	if r, ok := ep.next().(*h225ras.RCF); !ok || r.RequestSeqNum != 3 {
		t.Fatalf("lightweight RRQ: %#v, want RCF #3", r)
	}
	ep.send(&h225ras.URQ{RequestSeqNum: 4, CallSignal: []netip.AddrPort{signal}, EndpointID: rcf.EndpointID})
	if _, ok := ep.next().(*h225ras.UCF); !ok {
		t.Fatal("URQ: no UCF")
	}
	// The refresh made no CSTA event: the next is the URQ's.
	if oos := rec.expect("OutOfServiceEvent")[0].(csta.OutOfServiceEvent); oos.Device != "1001" {
		t.Fatalf("OutOfService: %+v", oos)
	}

	// Ageing out: a 1 s time to live, never refreshed.
	ep.send(fullRRQ(5, "1001", self, signal, 1))
	if _, ok := ep.next().(*h225ras.RCF); !ok {
		t.Fatal("RRQ ttl 1: no RCF")
	}
	rec.expect("BackInServiceEvent")
	if oos := rec.expect("OutOfServiceEvent")[0].(csta.OutOfServiceEvent); oos.Device != "1001" {
		t.Fatalf("ageing out: %+v", oos)
	}

	// Registered again, then a SIP phone takes 1001: the RAS phone gets a URQ.
	ep.send(fullRRQ(6, "1001", self, signal, 60))
	if _, ok := ep.next().(*h225ras.RCF); !ok {
		t.Fatal("RRQ: no RCF")
	}
	rec.expect("BackInServiceEvent")
	sipPhone := l.phone("b", "1001", 12, "6867i")
	sipPhone.mustRegister("60")
	urq, ok := ep.next().(*h225ras.URQ)
	if !ok || urq.GatekeeperID != "MX-ONE" || len(urq.EndpointAlias) != 1 || urq.EndpointAlias[0].Value != "1001" {
		t.Fatalf("after the SIP phone took 1001: %#v, want a URQ for 1001", urq)
	}
	ep.send(&h225ras.UCF{RequestSeqNum: urq.RequestSeqNum})
}

// Bad RAS input is an error event naming the sender, and the gatekeeper
// goes on.
func TestGatekeeperNamesBadInput(t *testing.T) {
	l := newTestLab(t, Config{})
	ep := l.rasPeer("dbc", 11)
	bad := l.watch(func(e sim.Event) bool { return e.Kind == sim.KindError && e.From == "pbx" })
	if _, err := ep.conn.WriteToAddrPort([]byte{0x0c, 0x01}, ep.gk); err != nil {
		t.Fatal(err)
	}
	e := bad()
	if !strings.Contains(e.Summary, ep.conn.LocalAddrPort().String()) || !strings.Contains(e.Summary, "decode RRQ") {
		t.Fatalf("error event %q does not name the sender and the message", e.Summary)
	}
	ep.send(&h225ras.GRQ{RequestSeqNum: 1, Protocol: h225ras.ProtocolV4, RASAddress: ep.conn.LocalAddrPort()})
	if _, ok := ep.next().(*h225ras.GCF); !ok {
		t.Fatal("no GCF after bad input")
	}
}

// spec §3.2.6 with a real 7434 over RAS: the PBX stops; the phone's
// lightweight RRQ goes unanswered, it tries URQ and rediscovers with GRQ;
// once the PBX is back it registers in full and a recorder that connects
// anew hears BackInService with recording port 7300.
func TestRestartRealPhoneRAS(t *testing.T) {
	l := newTestLab(t, Config{})
	recNode, err := l.net.AddNode("rec", l.ip(2))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := l.realPhone("p7434", "1001", 11, "7434", "",
		phones.Options{KeepAlive: 100 * time.Millisecond, RegisterRetry: 100 * time.Millisecond})
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	rec := l.dialRecorder(recNode)
	rec.monitor("1001")
	rec.expect("BackInServiceEvent")

	ras := func(text string) func(sim.Event) bool {
		return func(e sim.Event) bool {
			return e.Kind == sim.KindMessage && e.Proto == sim.ProtoRAS && e.From == "p7434" && strings.HasPrefix(e.Summary, text)
		}
	}
	urq := l.watch(ras("URQ 1001"))
	rediscover := l.net.Trace().WatchN(2, ras("GRQ 1001"))
	l.pbx.Stop()
	recv(t, rec.errs, "the CSTA link to drop")
	urq()
	if _, err := rediscover.Wait(ctxT(t)); err != nil {
		t.Fatalf("the phone did not rediscover the gatekeeper: %v", err)
	}
	registered := l.watch(func(e sim.Event) bool {
		return e.Kind == sim.KindNote && e.From == "pbx" && strings.HasPrefix(e.Summary, "1001 registered over RAS from")
	})
	if err := l.pbx.Start(); err != nil {
		t.Fatal(err)
	}
	registered()
	rec = l.dialRecorder(recNode)
	rec.monitor("1001")
	if bis := rec.expect("BackInServiceEvent")[0].(csta.BackInServiceEvent); bis.Info.IP != l.ip(11) || bis.Info.RecordingPort != 7300 || bis.Info.Model != "7434" {
		t.Fatalf("BackInService after the restart: %+v", bis.Info)
	}
}
