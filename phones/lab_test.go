package phones

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// Addresses of the test lab (design.md "Address plan").
var (
	pbxIP      = netip.MustParseAddr("127.20.0.1")
	recorderIP = netip.MustParseAddr("127.20.0.2")
	rogueIP    = netip.MustParseAddr("127.20.9.9")
	pbxAddr    = netip.AddrPortFrom(pbxIP, 5060)
)

const waitLimit = 10 * time.Second

type testLab struct {
	t   *testing.T
	net *sim.Network
}

func newTestLab(t *testing.T) *testLab {
	t.Helper()
	n, err := sim.NewNetwork(sim.Config{StreamIdle: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Close()
		if t.Failed() || os.Getenv("RECLAB_TRACE") != "" {
			for _, e := range n.Trace().Recent() {
				t.Log(e.String())
			}
		}
	})
	return &testLab{t: t, net: n}
}

func (l *testLab) node(name string, ip netip.Addr) *sim.Node {
	l.t.Helper()
	nd, err := l.net.AddNode(name, ip)
	if err != nil {
		l.t.Fatal(err)
	}
	return nd
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// watchNote returns a watch for a note from node containing text; set it
// up before the action.
func (l *testLab) watchNote(node, text string) *sim.Watch {
	return l.net.Trace().Watch(func(e sim.Event) bool {
		return e.Kind == sim.KindNote && e.From == node && strings.Contains(e.Summary, text)
	})
}

func (l *testLab) watchError(node, text string) *sim.Watch {
	return l.net.Trace().Watch(func(e sim.Event) bool {
		return e.Kind == sim.KindError && e.From == node && strings.Contains(e.Summary, text)
	})
}

// watchStream waits for an RTP stream from src to dst to start or stop.
func (l *testLab) watchStream(kind sim.Kind, src, dst netip.AddrPort) *sim.Watch {
	return l.net.Trace().Watch(func(e sim.Event) bool {
		return e.Kind == kind && e.Src == src && e.Dst == dst
	})
}

func (l *testLab) wait(w *sim.Watch, what string) sim.Event {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	e, err := w.Wait(ctx)
	if err != nil {
		l.t.Fatalf("waiting for %s: %v", what, err)
	}
	return e
}

// awaitRecording waits until p's recording session is in want: the typed
// state event (RecordingState) that says so, or p already there. The
// watch is set before the look, so a change between them is not missed.
func (l *testLab) awaitRecording(p *Phone, want RecState) {
	l.t.Helper()
	w := sim.WatchState(l.net.Trace(), func(s RecordingState) bool { return s.Phone == p.Name() && s.State == want })
	defer w.Cancel()
	if p.State().Recording == want {
		return
	}
	l.wait(w, fmt.Sprintf("%s recording session %s", p.Name(), want))
}

// eventually polls cond until it holds; it waits on a condition, never for
// a fixed time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// newPhone makes a powered-on phone on ip with a configuration file.
func (l *testLab) newPhone(name string, ip netip.Addr, modelName, cfgText string) *Phone {
	l.t.Helper()
	return l.newPhoneOpts(name, ip, modelName, cfgText, Options{PBX: pbxAddr, ToneHz: media.ToneFrequency(1), RegisterExpiry: 120 * time.Second})
}

func (l *testLab) newPhoneOpts(name string, ip netip.Addr, modelName, cfgText string, opts Options) *Phone {
	l.t.Helper()
	nd := l.node(name, ip)
	m, err := LookupModel(modelName)
	if err != nil {
		l.t.Fatal(err)
	}
	cfg, err := ParseConfig(name+".cfg", strings.NewReader(cfgText))
	if err != nil {
		l.t.Fatal(err)
	}
	// This package's fake PBX is a SIP registrar: the DBC phones' RAS is
	// tested against the real gatekeeper (lab, scenarios).
	opts.SIPRegister = true
	p, err := New(nd, m, cfg, opts)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := p.PowerOn(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(p.PowerOff)
	return p
}

// ---- a minimal PBX: registrar, callee, caller ----

type fakePBX struct {
	lab    *testLab
	node   *sim.Node
	stack  *sim.SIPStack
	srv    *sipgo.DialogServerCache
	cli    *sipgo.DialogClientCache
	rtp    *sim.PacketConn // where its calls' media goes: 127.20.0.1:30000
	status atomic.Int32    // REGISTER answer; 0 = 200

	mu        sync.Mutex
	registers []*sip.Request
	invites   []*sip.Request
	byes      chan string       // Call-IDs of BYEs received
	options   chan *sip.Request // keep-alive OPTIONS received (spec §3.2.6)
	regs      chan *sip.Request // every REGISTER, as it arrives
}

func (l *testLab) newPBX() *fakePBX {
	l.t.Helper()
	f := &fakePBX{lab: l, node: l.node("pbx", pbxIP), byes: make(chan string, 8),
		options: make(chan *sip.Request, 64), regs: make(chan *sip.Request, 64)}
	f.start()
	l.t.Cleanup(func() { f.stop() })
	var err error
	if f.rtp, err = f.node.ListenPacket(30000); err != nil {
		l.t.Fatal(err)
	}
	return f
}

// start brings the PBX's SIP stack up (again, after stop: a PBX restart,
// spec §3.2.6).
func (f *fakePBX) start() {
	f.lab.t.Helper()
	stack, err := f.node.StartSIP(5060, "pbx", func(s *sipgo.Server) {
		s.OnRegister(f.onRegister)
		s.OnInvite(f.onInvite)
		s.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { f.srv.ReadAck(req, tx) })
		s.OnBye(f.onBye)
		s.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
			select {
			case f.options <- req.Clone():
			default:
			}
		})
	})
	if err != nil {
		f.lab.t.Fatal(err)
	}
	f.mu.Lock()
	f.stack = stack
	f.srv = sipgo.NewDialogServerCache(stack.Client, *stack.Contact("pbx"))
	f.cli = sipgo.NewDialogClientCache(stack.Client, *stack.Contact("pbx"))
	f.mu.Unlock()
}

// stop closes the PBX's SIP stack: from now on nothing answers on 5060.
func (f *fakePBX) stop() {
	f.mu.Lock()
	stack := f.stack
	f.mu.Unlock()
	stack.Close()
}

func (f *fakePBX) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	f.mu.Lock()
	f.registers = append(f.registers, req.Clone())
	f.mu.Unlock()
	select {
	case f.regs <- req.Clone():
	default:
	}
	code, reason := 200, "OK"
	if s := f.status.Load(); s != 0 {
		code, reason = int(s), "Forbidden"
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if code == 200 {
		if c := req.Contact(); c != nil {
			c = c.Clone()
			exp := "60"
			if h := req.GetHeader("Expires"); h != nil {
				exp = h.Value()
			}
			c.Params.Add("expires", exp)
			res.AppendHeader(c)
		}
	}
	tx.Respond(res)
}

func (f *fakePBX) lastRegister() *sip.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.registers) == 0 {
		return nil
	}
	return f.registers[len(f.registers)-1]
}

// onInvite answers a phone's call as the far end: 404 for 1009, else 180
// then 200 with media at 127.20.0.1:30000.
func (f *fakePBX) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	f.mu.Lock()
	f.invites = append(f.invites, req.Clone())
	f.mu.Unlock()
	if req.Recipient.User == "1009" {
		tx.Respond(sip.NewResponseFromRequest(req, 404, "Not Found", nil))
		return
	}
	if req.Recipient.User == "1008" {
		// Rings until cancelled: sipgo answers the CANCEL with 200 and the
		// INVITE with 487 (RFC 3261 §9.2).
		dlg, err := f.srv.ReadInvite(req, tx)
		if err != nil {
			return
		}
		defer dlg.Close()
		dlg.Respond(180, "Ringing", nil)
		<-dlg.Context().Done()
		return
	}
	offer, err := media.ParseCall(req.Body())
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	dlg, err := f.srv.ReadInvite(req, tx)
	if err != nil {
		return
	}
	dlg.Respond(180, "Ringing", nil) // the dialog stays in the cache until BYE
	body, _ := media.CallAnswer(offer, 77, pbxIP, 30000)
	dlg.RespondSDP(body)
}

func (f *fakePBX) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := f.srv.ReadBye(req, tx); err != nil {
		if err := f.cli.ReadBye(req, tx); err != nil {
			tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
			return
		}
	}
	f.byes <- req.CallID().Value()
}

// call places a call from the PBX to the phone (as the B-leg of a B2BUA
// would) with media at 127.20.0.1:30000 and returns the dialog once the
// INVITE is out.
func (f *fakePBX) call(ctx context.Context, from string, p *Phone) (*sipgo.DialogClientSession, error) {
	offer, err := media.CallOffer(55, pbxIP, 30000, []media.Codec{media.PCMA, media.PCMU})
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.INVITE, sip.Uri{User: p.Ext(), Host: p.SIPAddr().Addr().String(), Port: int(p.SIPAddr().Port())})
	fh := &sip.FromHeader{Address: sip.Uri{User: from, Host: pbxIP.String()}}
	fh.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(fh)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{User: p.Ext(), Host: pbxIP.String()}})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	return f.cli.WriteInvite(ctx, req)
}

// notifyLogOff sends the forced log-off NOTIFY of docs/wire.md to p.
func (f *fakePBX) notifyLogOff(ctx context.Context, p *Phone) (*sip.Response, error) {
	contact := p.SIPAddr()
	req := sip.NewRequest(sip.NOTIFY, sip.Uri{User: p.Ext(), Host: contact.Addr().String(), Port: int(contact.Port())})
	req.AppendHeader(sip.NewHeader("Event", "reg"))
	req.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=deactivated"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/reginfo+xml"))
	req.SetBody([]byte(fmt.Sprintf(`<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="1" state="full">
 <registration aor="sip:%s@%s" id="r1" state="terminated">
  <contact id="c1" state="terminated" event="deactivated">sip:%s@%s</contact>
 </registration>
</reginfo>`, p.Ext(), pbxIP, p.Ext(), contact)))
	return f.stack.Client.Do(ctx, req)
}

// notifyCheckSync sends the update order of spec §3.2.5 (docs/wire.md):
// NOTIFY Event: check-sync.
func (f *fakePBX) notifyCheckSync(ctx context.Context, p *Phone) (*sip.Response, error) {
	contact := p.SIPAddr()
	req := sip.NewRequest(sip.NOTIFY, sip.Uri{User: p.Ext(), Host: contact.Addr().String(), Port: int(contact.Port())})
	req.AppendHeader(sip.NewHeader("Event", "check-sync"))
	req.AppendHeader(sip.NewHeader("Subscription-State", "terminated"))
	f.mu.Lock()
	stack := f.stack
	f.mu.Unlock()
	return stack.Client.Do(ctx, req)
}

// rtpSender sends a tone from conn to dst every 20 ms until stop closes.
func rtpSender(conn *sim.PacketConn, dst netip.AddrPort, codec media.Codec, stop <-chan struct{}) {
	s := media.NewSender(0xFEED0001, 1000, 0, codec)
	tone := media.NewTone(1000, 8000)
	pcm := make([]int16, media.FrameSamples)
	buf := make([]byte, media.HeaderSize+media.FrameSamples)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		tone.Next(pcm)
		if _, err := conn.WriteToAddrPort(s.EncodePacket(buf, pcm, false), dst); err != nil {
			return
		}
	}
}

// ---- a minimal recorder ----

type fakeRecorder struct {
	lab    *testLab
	node   *sim.Node
	stack  *sim.SIPStack
	ua     *sipgo.DialogUA
	tx, rx *sim.PacketConn
	byes   chan *sip.Request
}

func (l *testLab) newRecorder(name string, ip netip.Addr) *fakeRecorder {
	l.t.Helper()
	r := &fakeRecorder{lab: l, node: l.node(name, ip), byes: make(chan *sip.Request, 8)}
	stack, err := r.node.StartSIP(5060, name, func(s *sipgo.Server) {
		s.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
			r.byes <- req.Clone()
		})
	})
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { stack.Close() })
	r.stack = stack
	r.ua = &sipgo.DialogUA{Client: stack.Client, ContactHDR: *stack.Contact("recorder")}
	if r.tx, err = r.node.ListenPacket(20000); err != nil {
		l.t.Fatal(err)
	}
	if r.rx, err = r.node.ListenPacket(20002); err != nil {
		l.t.Fatal(err)
	}
	return r
}

func (r *fakeRecorder) offer(sessID uint64) []byte {
	body, err := media.BuildRecordingOffer(media.RecordingOffer{SessionID: sessID, SessionVersion: 1, Origin: r.node.Addr(),
		TX: r.tx.LocalAddrPort(), RX: r.rx.LocalAddrPort()})
	if err != nil {
		r.lab.t.Fatal(err)
	}
	return body
}

// invite sends the recording INVITE to the phone's recording address and
// returns once it is sent.
func (r *fakeRecorder) invite(ctx context.Context, p *Phone, sessID uint64) *sipgo.DialogClientSession {
	r.lab.t.Helper()
	return r.inviteTo(ctx, p.Ext(), p.RecordingAddr(), r.offer(sessID))
}

func (r *fakeRecorder) inviteTo(ctx context.Context, ext string, to netip.AddrPort, body []byte) *sipgo.DialogClientSession {
	r.lab.t.Helper()
	dlg, err := r.ua.Invite(ctx, sip.Uri{User: ext, Host: to.Addr().String(), Port: int(to.Port())}, body,
		sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		r.lab.t.Fatal(err)
	}
	return dlg
}

// forked is one packet read from a forked stream.
type forked struct {
	h   media.Header
	src netip.AddrPort
}

// collect reads n RTP packets from conn.
func collect(t *testing.T, conn *sim.PacketConn, n int) []forked {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(waitLimit))
	defer conn.SetReadDeadline(time.Time{})
	buf := make([]byte, 1500)
	out := make([]forked, 0, n)
	for len(out) < n {
		k, src, err := conn.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("reading forked RTP on %s after %d packets: %v", conn.LocalAddrPort(), len(out), err)
		}
		h, _, err := media.ParseHeader(buf[:k])
		if err != nil {
			t.Fatalf("forked packet on %s: %v", conn.LocalAddrPort(), err)
		}
		out = append(out, forked{h, src})
	}
	return out
}

// checkStream checks one forked stream: one SSRC, contiguous sequence.
func checkStream(t *testing.T, name string, pkts []forked) uint32 {
	t.Helper()
	ssrc := pkts[0].h.SSRC
	for i, p := range pkts {
		if p.h.SSRC != ssrc {
			t.Fatalf("%s packet %d: SSRC %08x, stream started with %08x", name, i, p.h.SSRC, ssrc)
		}
		if i > 0 && p.h.Seq != pkts[i-1].h.Seq+1 {
			t.Fatalf("%s packet %d: seq %d after %d, want contiguous", name, i, p.h.Seq, pkts[i-1].h.Seq)
		}
		if !p.h.PT.Valid() {
			t.Fatalf("%s packet %d: payload type %s", name, i, p.h.PT)
		}
	}
	return ssrc
}

const cfg7434 = `sip line1 user name: 1001
recording allowed ip: 127.20.0.2
`
