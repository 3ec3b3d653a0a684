package pbx

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/pbx/h225ras"
	"github.com/reclab/reclab/sim"
)

// The tests of this file run the PBX on real loopback sockets through sim,
// with fake phones (sipgo stacks from sim) and a fake recorder (a csta.Conn
// over a sim connection). Each lab gets its own 127.20.N.0/24, 100 ≤ N < 250,
// so tests of this package and of others (127.20.0.x, 127.20.1.x,
// 127.20.50.x) never share an address; labs of one test binary run one after
// the other, so N is reused only after the lab before it has closed. Nothing
// waits a fixed time: every wait is on a message or a trace event, bounded by
// waitLimit only to fail instead of hanging.

const waitLimit = 20 * time.Second

var subnet atomic.Uint32

type testLab struct {
	t    *testing.T
	net  *sim.Network
	pbx  *PBX
	net3 byte // third octet of every address of this lab
}

func newTestLab(t *testing.T, cfg Config) *testLab {
	t.Helper()
	return newTestLabWith(t, func(*testLab) Config { return cfg })
}

// newTestLabWith is newTestLab with a Config made once the lab's addresses
// are known.
func newTestLabWith(t *testing.T, config func(*testLab) Config) *testLab {
	t.Helper()
	n, err := sim.NewNetwork(sim.Config{Summarizers: map[sim.Proto]func([]byte) []string{sim.ProtoCSTA: csta.SummarizeFrames, sim.ProtoRAS: h225ras.TraceSummaries}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range n.Trace().Recent() {
				t.Log(e.String())
			}
		}
		n.Close()
	})
	l := &testLab{t: t, net: n, net3: byte(100 + (subnet.Add(1)-1)%150)}
	node, err := n.AddNode("pbx", l.ip(1))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(l)
	if len(cfg.Extensions) == 0 {
		cfg.Extensions = []string{"1001", "1002", "1003"}
	}
	if l.pbx, err = New(node, cfg); err != nil {
		t.Fatal(err)
	}
	if err := l.pbx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.pbx.Stop)
	return l
}

func (l *testLab) ip(host byte) netip.Addr { return netip.AddrFrom4([4]byte{127, 20, l.net3, host}) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// watch waits for a trace event matching match; set it up before the action.
func (l *testLab) watch(match func(sim.Event) bool) func() sim.Event {
	w := l.net.Trace().Watch(match)
	return func() sim.Event {
		l.t.Helper()
		e, err := w.Wait(ctxT(l.t))
		if err != nil {
			l.t.Fatalf("no trace event came: %v", err)
		}
		return e
	}
}

// sipFrom matches a SIP message from one node to another whose summary
// starts with prefix.
func sipFrom(from, to, prefix string) func(sim.Event) bool {
	return func(e sim.Event) bool {
		return e.Kind == sim.KindMessage && e.Proto == sim.ProtoSIP && e.From == from && e.To == to && strings.HasPrefix(e.Summary, prefix)
	}
}

func recv[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// ---- fake phone ----

// incoming is a call the PBX offered a fake phone; answer it with code.
type incoming struct {
	req    *sip.Request
	dlg    *sipgo.DialogServerSession
	answer chan answer
}

type answer struct {
	code int
	sdp  []byte
}

type fakePhone struct {
	t      *testing.T
	ua     string // User-Agent of its REGISTERs (docs/wire.md)
	lab    *testLab
	name   string
	ext    string
	st     *sim.SIPStack
	dlgSrv *sipgo.DialogServerCache
	dlgCli *sipgo.DialogClientCache

	notifyStatus atomic.Int32
	notifies     chan *sip.Request
	invites      chan *incoming
	cancelled    chan *sip.Request // an incoming INVITE whose dialog ended before an answer
	byes         chan *sip.Request
}

// phone starts a fake phone of model on 127.20.N.host:5060.
func (l *testLab) phone(name, ext string, host byte, model string) *fakePhone {
	t := l.t
	t.Helper()
	node, err := l.net.AddNode(name, l.ip(host))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePhone{t: t, lab: l, name: name, ext: ext, notifies: make(chan *sip.Request, 8),
		invites: make(chan *incoming, 8), cancelled: make(chan *sip.Request, 8), byes: make(chan *sip.Request, 8)}
	f.notifyStatus.Store(200)
	ua := fmt.Sprintf("Mitel %s MAC:02:00:7f:14:%02x:%02x V:6.2.0.1010", model, l.net3, host)
	f.ua = ua
	f.st, err = node.StartSIP(5060, ua, func(s *sipgo.Server) {
		s.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
			tx.Respond(sip.NewResponseFromRequest(req, int(f.notifyStatus.Load()), "Answer", nil))
			f.notifies <- req
		})
		s.OnInvite(f.onInvite)
		s.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { f.dlgSrv.ReadAck(req, tx) })
		s.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
			if err := f.dlgSrv.ReadBye(req, tx); err != nil {
				if err := f.dlgCli.ReadBye(req, tx); err != nil {
					tx.Respond(sip.NewResponseFromRequest(req, 481, "No Dialog", nil))
				}
			}
			f.byes <- req
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	contact := *f.st.Contact(ext)
	f.dlgSrv = sipgo.NewDialogServerCache(f.st.Client, contact)
	f.dlgCli = sipgo.NewDialogClientCache(f.st.Client, contact)
	return f
}

func (f *fakePhone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	d, err := f.dlgSrv.ReadInvite(req, tx)
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	d.Respond(180, "Ringing", nil)
	in := &incoming{req: req, dlg: d, answer: make(chan answer, 1)}
	f.invites <- in
	select {
	case a := <-in.answer:
		if a.code == 200 {
			d.RespondSDP(a.sdp)
		} else {
			d.Respond(a.code, "Answer", nil)
		}
	case <-d.Context().Done():
		f.cancelled <- req
	}
}

func (f *fakePhone) pbxURI(user string) sip.Uri {
	a := f.lab.pbx.Addr()
	return sip.Uri{User: user, Host: a.Addr().String(), Port: int(a.Port())}
}

// register sends a REGISTER; edit changes it before it goes.
func (f *fakePhone) register(expires string, edit func(*sip.Request)) *sip.Response {
	f.t.Helper()
	res, err := f.st.Client.Do(ctxT(f.t), f.registerRequest(expires, edit))
	if err != nil {
		f.t.Fatalf("%s: REGISTER: %v", f.name, err)
	}
	return res
}

// registerRequest is the phone's REGISTER, edited by edit.
func (f *fakePhone) registerRequest(expires string, edit func(*sip.Request)) *sip.Request {
	f.t.Helper()
	req := sip.NewRequest(sip.REGISTER, f.pbxURI(""))
	aor := f.pbxURI(f.ext)
	aor.Port = 0
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: tagParams()})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(f.st.Contact(f.ext))
	req.AppendHeader(sip.NewHeader("User-Agent", f.ua))
	// One Call-ID per boot cycle, as RFC 3261 §10.2.4 asks and the phones
	// do: a new one tells the PBX the phone restarted.
	callID := sip.CallIDHeader(f.name + "-boot@" + f.st.Addr.Addr().String())
	req.AppendHeader(&callID)
	if expires != "" {
		req.AppendHeader(sip.NewHeader("Expires", expires))
	}
	if edit != nil {
		edit(req)
	}
	return req
}

func (f *fakePhone) mustRegister(expires string) *sip.Response {
	f.t.Helper()
	res := f.register(expires, nil)
	if res.StatusCode != 200 {
		f.t.Fatalf("%s: REGISTER %s answered %d %s", f.name, f.ext, res.StatusCode, res.Reason)
	}
	return res
}

// outgoing is a call a fake phone placed through the PBX.
type outgoing struct {
	dlg       *sipgo.DialogClientSession
	cancel    context.CancelFunc
	provision chan int   // provisional status codes as they come
	done      chan error // WaitAnswer's result
}

// dial sends INVITE sip:number@pbx with sdp and waits for the answer in the
// background.
func (f *fakePhone) dial(number string, sdp []byte) *outgoing {
	f.t.Helper()
	req := sip.NewRequest(sip.INVITE, f.pbxURI(number))
	from := f.pbxURI(f.ext)
	from.Port = 0
	to := f.pbxURI(number)
	to.Port = 0
	req.AppendHeader(&sip.FromHeader{Address: from, Params: tagParams()})
	req.AppendHeader(&sip.ToHeader{Address: to})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(sdp)
	ctx, cancel := context.WithCancel(ctxT(f.t))
	d, err := f.dlgCli.WriteInvite(ctx, req)
	if err != nil {
		cancel()
		f.t.Fatalf("%s: INVITE %s: %v", f.name, number, err)
	}
	o := &outgoing{dlg: d, cancel: cancel, provision: make(chan int, 8), done: make(chan error, 1)}
	go func() {
		o.done <- d.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
			if res.IsProvisional() {
				o.provision <- res.StatusCode
			}
			return nil
		}})
	}()
	return o
}

// finalCode is the final status the caller got.
func (o *outgoing) finalCode(t *testing.T) int {
	t.Helper()
	err := recv(t, o.done, "the final answer")
	if err == nil {
		return o.dlg.InviteResponse.StatusCode
	}
	if o.dlg.InviteResponse != nil && o.dlg.InviteResponse.StatusCode >= 200 {
		return o.dlg.InviteResponse.StatusCode
	}
	t.Fatalf("no final answer: %v", err)
	return 0
}

// ---- fake recorder ----

type frame struct {
	id  int
	msg csta.Message
}

type fakeRecorder struct {
	t    *testing.T
	conn *csta.Conn
	in   chan frame
	errs chan error
}

func (l *testLab) recorder(name string, host byte) *fakeRecorder {
	t := l.t
	t.Helper()
	node, err := l.net.AddNode(name, l.ip(host))
	if err != nil {
		t.Fatal(err)
	}
	return l.dialRecorder(node)
}

func (l *testLab) dialRecorder(node *sim.Node) *fakeRecorder {
	t := l.t
	t.Helper()
	nc, err := node.Dial(l.pbx.CSTAAddr())
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRecorder{t: t, conn: csta.NewConn(nc), in: make(chan frame, 64), errs: make(chan error, 1)}
	t.Cleanup(func() { r.conn.Close() })
	go func() {
		for {
			id, m, err := r.conn.Recv()
			if err != nil {
				r.errs <- err
				close(r.in)
				return
			}
			r.in <- frame{id, m}
		}
	}()
	return r
}

// next is the next frame other than the PBX's keep-alive.
func (r *fakeRecorder) next() frame {
	r.t.Helper()
	for {
		select {
		case f, ok := <-r.in:
			if !ok {
				r.t.Fatalf("CSTA link closed: %v", <-r.errs)
			}
			if _, ka := f.msg.(csta.SystemStatus); ka {
				continue
			}
			return f
		case <-time.After(waitLimit):
			r.t.Fatal("timed out waiting for a CSTA message")
		}
	}
}

// request sends m and returns the answer to it.
func (r *fakeRecorder) request(m csta.Message) csta.Message {
	r.t.Helper()
	id := r.conn.NextInvokeID()
	if err := r.conn.Send(id, m); err != nil {
		r.t.Fatal(err)
	}
	f := r.next()
	if f.id != id {
		r.t.Fatalf("%s: answer %s has invokeID %04d, want %04d", m.Kind(), f.msg.Kind(), f.id, id)
	}
	return f.msg
}

// monitor starts a monitor on ext and returns its crossRefID.
func (r *fakeRecorder) monitor(ext string) string {
	r.t.Helper()
	res, ok := r.request(csta.MonitorStart{Device: ext}).(csta.MonitorStartResponse)
	if !ok {
		r.t.Fatalf("MonitorStart %s: not a MonitorStartResponse", ext)
	}
	return res.CrossRefID
}

// expect reads the next events and checks their kinds in order.
func (r *fakeRecorder) expect(kinds ...string) []csta.Message {
	r.t.Helper()
	var got []csta.Message
	for _, k := range kinds {
		f := r.next()
		if f.msg.Kind() != k {
			r.t.Fatalf("CSTA: got %s, want %s (after %v)", f.msg, k, got)
		}
		if f.id != csta.EventInvokeID {
			r.t.Fatalf("CSTA: event %s with invokeID %04d", f.msg, f.id)
		}
		got = append(got, f.msg)
	}
	return got
}
