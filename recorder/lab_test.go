package recorder

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// The lab of these tests: a fake PBX serving CSTA with the real codec, a
// fake phone answering recording sessions with sipgo, and the recorder, all
// on real loopback sockets through sim. Addresses are 127.21.<n>.x so that
// tests of other packages, which use the default plan 127.20.x.x, never
// collide with ours.

const waitLimit = 5 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// none fails if ch delivers anything before the recorder has had a chance
// to act: call it after waiting for a later event.
func none[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %v", what, v)
	default:
	}
}

func watchNote(n *sim.Network, from, substr string) *sim.Watch {
	return n.Trace().Watch(func(e sim.Event) bool {
		return e.Kind == sim.KindNote && e.From == from && strings.Contains(e.Summary, substr)
	})
}

func watchError(n *sim.Network, substr string) *sim.Watch {
	return n.Trace().Watch(func(e sim.Event) bool {
		return e.Kind == sim.KindError && strings.Contains(e.Summary, substr)
	})
}

func waitFor(t *testing.T, w *sim.Watch, what string) sim.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	e, err := w.Wait(ctx)
	if err != nil {
		t.Fatalf("timed out waiting for %s", what)
	}
	return e
}

// fakePBX is a CSTA server: it answers MonitorStart and SystemStatus and
// sends the events a test asks for.
type fakePBX struct {
	t        *testing.T
	l        *sim.Listener
	addr     netip.AddrPort
	monitors chan string // the extension of each MonitorStart
	statuses chan int    // invokeID of each SystemStatus from the recorder
	answers  chan int    // invokeID of each SystemStatusResponse to us

	mu   sync.Mutex
	conn *csta.Conn
	refs map[string]string // extension → crossRefID of its newest monitor
	next int
}

func startPBX(t *testing.T, node *sim.Node) *fakePBX {
	l, err := node.Listen(8882, sim.ProtoCSTA)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePBX{t: t, l: l, addr: node.AddrPort(8882), monitors: make(chan string, 16),
		statuses: make(chan int, 64), answers: make(chan int, 16), refs: map[string]string{}}
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(csta.NewConn(nc))
		}
	}()
	t.Cleanup(func() { l.Close() })
	return p
}

func (p *fakePBX) serve(c *csta.Conn) {
	p.mu.Lock()
	p.conn = c
	p.mu.Unlock()
	defer c.Close()
	for {
		id, m, err := c.Recv()
		if csta.Recoverable(err) {
			continue
		}
		if err != nil {
			return
		}
		switch m := m.(type) {
		case csta.MonitorStart:
			p.mu.Lock()
			p.next++
			ref := fmt.Sprintf("%d", 100+p.next)
			p.refs[m.Device] = ref
			p.mu.Unlock()
			c.Send(id, csta.MonitorStartResponse{CrossRefID: ref})
			p.monitors <- m.Device
		case csta.SystemStatus:
			c.Send(id, csta.SystemStatusResponse{})
			select {
			case p.statuses <- id:
			default:
			}
		case csta.SystemStatusResponse:
			p.answers <- id
		}
	}
}

func (p *fakePBX) ref(ext string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refs[ext]
}

func (p *fakePBX) send(invokeID int, m csta.Message) {
	p.t.Helper()
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if err := c.Send(invokeID, m); err != nil {
		p.t.Fatalf("fake PBX: send %s: %v", m.Kind(), err)
	}
}

func (p *fakePBX) event(m csta.Message) { p.t.Helper(); p.send(csta.EventInvokeID, m) }

// raw writes bytes straight onto the link, for malformed frames.
func (p *fakePBX) raw(b []byte) {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	c.NetConn().Write(b)
}

func (p *fakePBX) drop() {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	c.Close()
}

// fakePhone is a phone's recording SIP stack (spec §3.2).
type fakePhone struct {
	node      *sim.Node
	stack     *sim.SIPStack
	dialogs   *sipgo.DialogServerCache
	invites   chan *sip.Request // new INVITEs (no To tag)
	reinvites chan *sip.Request // re-INVITEs in a dialog (spec §3.2.2)
	acked     chan media.RecordingOffer
	ackedIDs  chan string // Call-ID of each ACKed INVITE, with acked
	updates   chan struct{}
	byes      chan struct{}
	byeIDs    chan string // Call-ID of each BYE, with byes
	// answer builds the 200 OK body; nil means a proper sendonly answer.
	answer func(media.RecordingOffer) []byte

	// Silence, as a phone whose answers are lost or whose power is cut:
	// with deaf set nothing is answered; UPDATE and re-INVITE in a dialog
	// whose Call-ID is in deafTo are not answered (spec §3.2.2).
	deaf   atomic.Bool
	deafTo sync.Map
	// holdFirst makes the phone answer a new INVITE only once the
	// recorder's second INVITE of the same session id has arrived, and
	// never answer the second (spec §3.2.1).
	holdFirst bool
	second    chan struct{}
	sessions  sync.Map // o= session id → true once an INVITE carried it

	mu   sync.Mutex
	last *sipgo.DialogServerSession
}

func startPhone(t *testing.T, node *sim.Node, port uint16) *fakePhone {
	ph := &fakePhone{node: node, invites: make(chan *sip.Request, 16), reinvites: make(chan *sip.Request, 16),
		acked: make(chan media.RecordingOffer, 16), ackedIDs: make(chan string, 16),
		updates: make(chan struct{}, 256), byes: make(chan struct{}, 16), byeIDs: make(chan string, 16),
		second: make(chan struct{})}
	stack, err := node.StartSIP(port, "Mitel 7434", func(srv *sipgo.Server) {
		srv.OnInvite(ph.onInvite)
		srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { ph.dialogs.ReadAck(req, tx) })
		srv.OnUpdate(func(req *sip.Request, tx sip.ServerTransaction) {
			if ph.silent(req) {
				return
			}
			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
			select {
			case ph.updates <- struct{}{}:
			default:
			}
		})
		srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
			if err := ph.dialogs.ReadBye(req, tx); err != nil {
				tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
				return
			}
			ph.byeIDs <- req.CallID().Value()
			ph.byes <- struct{}{}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ph.stack = stack
	ph.dialogs = sipgo.NewDialogServerCache(stack.Client, *stack.Contact("1001"))
	t.Cleanup(func() { stack.Close() })
	return ph
}

func (ph *fakePhone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if tag, _ := req.To().Params.Get("tag"); tag != "" {
		ph.reinvites <- req
		if ph.silent(req) {
			return
		}
		// The session refresher gets the same answer again.
		ph.mu.Lock()
		body := ph.last.InviteResponse.Body()
		ph.mu.Unlock()
		tx.Respond(sip.NewSDPResponseFromRequest(req, body))
		return
	}
	ph.invites <- req
	if ph.deaf.Load() {
		return
	}
	offer, err := media.ParseRecordingOffer(req.Body())
	if ph.holdFirst && err == nil {
		if _, seen := ph.sessions.LoadOrStore(offer.SessionID, true); seen {
			close(ph.second) // the recorder's second INVITE: never answered
			return
		}
		<-ph.second
	}
	dlg, derr := ph.dialogs.ReadInvite(req, tx)
	if derr != nil {
		return
	}
	if err != nil {
		dlg.Respond(488, "Not Acceptable Here", nil)
		return
	}
	var body []byte
	if ph.answer != nil {
		body = ph.answer(offer)
	} else {
		body, _ = media.BuildRecordingAnswer(offer, 7, ph.node.Addr(), 40100, 40102, media.PCMA)
	}
	ph.mu.Lock()
	ph.last = dlg
	ph.mu.Unlock()
	if err := dlg.Respond(200, "OK", body, sip.NewHeader("Content-Type", "application/sdp")); err == nil {
		ph.ackedIDs <- req.CallID().Value()
		ph.acked <- offer
	}
}

// silent reports whether an in-dialog request goes unanswered.
func (ph *fakePhone) silent(req *sip.Request) bool {
	_, deafTo := ph.deafTo.Load(req.CallID().Value())
	return deafTo || ph.deaf.Load()
}

// bye is the phone's own BYE (spec §3.2: on unregistration).
func (ph *fakePhone) bye(t *testing.T) {
	ph.mu.Lock()
	dlg := ph.last
	ph.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := dlg.Bye(ctx); err != nil {
		t.Fatalf("phone BYE: %v", err)
	}
}

// rtp sends n packets of a tone to dst from conn, leaving out the sequence
// numbers in skip (lost on the way).
func rtp(t *testing.T, conn *sim.PacketConn, dst netip.AddrPort, ssrc uint32, n int, skip ...int) {
	snd := media.NewSender(ssrc, 0, 0, media.PCMA)
	tone := media.NewTone(1000, 8000)
	pcm := make([]int16, media.FrameSamples)
	var buf []byte
	for i := range n {
		tone.Next(pcm)
		buf = snd.EncodePacket(buf, pcm, i == 0)
		if contains(skip, i) {
			continue
		}
		if _, err := conn.WriteToAddrPort(buf, dst); err != nil {
			t.Fatal(err)
		}
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

type lab struct {
	net     *sim.Network
	pbx     *fakePBX
	phone   *fakePhone
	rec     *Recorder
	packets chan int
	recNode *sim.Node
}

// newLab builds the lab on 127.21.<subnet>.x and starts the recorder with
// cfg (CSTA, OutDir and fast keep-alives filled in).
func newLab(t *testing.T, subnet int, cfg Config) *lab {
	t.Helper()
	n, err := sim.NewNetwork(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range n.Trace().Recent() {
				t.Log(e)
			}
		}
		n.Close()
	})
	addr := func(host int) netip.Addr { return netip.AddrFrom4([4]byte{127, 21, byte(subnet), byte(host)}) }
	pbxNode, _ := n.AddNode("pbx", addr(1))
	recNode, _ := n.AddNode("recorder", addr(2))
	phoneNode, _ := n.AddNode("phone1", addr(10))
	l := &lab{net: n, pbx: startPBX(t, pbxNode), phone: startPhone(t, phoneNode, 7300), packets: make(chan int, 4096), recNode: recNode}

	cfg.CSTA = l.pbx.addr
	if cfg.OutDir == "" {
		cfg.OutDir = t.TempDir() + "/recordings"
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 100 * time.Millisecond
	}
	if cfg.InviteRetransmit == 0 {
		// No second INVITE (spec §3.2.1) unless a test asks: on a loaded
		// machine a late 200 OK would otherwise add one.
		cfg.InviteRetransmit = time.Hour
	}
	rec, err := New(recNode, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec.packetHook = func(ch int) {
		select {
		case l.packets <- ch:
		default:
		}
	}
	if err := rec.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	l.rec = rec
	for range cfg.Monitored {
		recv(t, l.pbx.monitors, "MonitorStart")
	}
	return l
}

// register tells the recorder where 1001 is, as the PBX does on REGISTER.
func (l *lab) register(t *testing.T) {
	t.Helper()
	w := watchNote(l.net, "recorder", "device 1001 at")
	l.pbx.event(csta.BackInServiceEvent{CrossRefID: l.pbx.ref("1001"), Device: "1001",
		Info: &csta.DeviceInfo{IP: l.phone.node.Addr(), RecordingPort: 7300, Model: "7434"}})
	waitFor(t, w, "device table update")
}

func (l *lab) established(callID string) {
	l.pbx.event(csta.EstablishedEvent{CrossRefID: l.pbx.ref("1001"), CallID: callID, Device: "1002",
		Answering: "1002", Calling: "1001", Called: "1002", LocalConnection: csta.StateConnected, Cause: csta.CauseNewCall})
}

func (l *lab) cleared(callID string) {
	l.pbx.event(csta.ConnectionClearedEvent{CrossRefID: l.pbx.ref("1001"), CallID: callID, Device: "1002",
		Releasing: "1002", LocalConnection: csta.StateNull, Cause: csta.CauseNormalClearing})
}

// media sends tx and rx packets and waits until the recorder has them all.
func (l *lab) media(t *testing.T, offer media.RecordingOffer, txN, rxN int, txSkip ...int) {
	t.Helper()
	l.mediaSSRC(t, offer, 0x1111, 0x2222, txN, rxN, txSkip...)
}

// mediaSSRC is media with the streams' SSRCs: a phone's new forked streams
// after a new session (spec §3.2.2 recovery) have new ones.
func (l *lab) mediaSSRC(t *testing.T, offer media.RecordingOffer, txSSRC, rxSSRC uint32, txN, rxN int, txSkip ...int) {
	t.Helper()
	// The sockets stay open until the recorder has read everything, as a
	// phone's would: the trace counts a packet from a closed socket as one
	// from outside the lab. One stream after the other: a burst is not
	// paced like real RTP, and interleaved bursts would place the channels
	// by scheduling luck.
	for _, s := range []struct {
		dst  netip.AddrPort
		ssrc uint32
		n    int
		skip []int
	}{{offer.TX, txSSRC, txN, txSkip}, {offer.RX, rxSSRC, rxN, nil}} {
		conn, err := l.phone.node.ListenPacket(0)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		rtp(t, conn, s.dst, s.ssrc, s.n, s.skip...)
		for range s.n - len(s.skip) {
			recv(t, l.packets, "RTP at the recorder")
		}
	}
}
