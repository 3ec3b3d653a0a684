package pbx

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
)

// The CSTA server of design.md "CSTA" against a fake recorder.
func TestCSTAServer(t *testing.T) {
	l := newTestLab(t, Config{CSTAKeepAlive: 20 * time.Millisecond})
	rec := l.recorder("rec", 2)

	t.Run("SystemStatus from the recorder is answered", func(t *testing.T) {
		if _, ok := rec.request(csta.SystemStatus{Status: csta.StatusNormal}).(csta.SystemStatusResponse); !ok {
			t.Fatal("no SystemStatusResponse")
		}
		if n := l.pbx.CSTAClients(); n != 1 {
			t.Fatalf("CSTAClients = %d, want 1", n)
		}
	})

	t.Run("SystemStatus from the PBX", func(t *testing.T) {
		for f := range rec.in {
			if ss, ok := f.msg.(csta.SystemStatus); ok {
				if f.id < 1 || f.id > csta.MaxInvokeID || ss.Status != csta.StatusNormal {
					t.Fatalf("keep-alive %04d %+v", f.id, ss)
				}
				if err := rec.conn.Send(f.id, csta.SystemStatusResponse{}); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		t.Fatal("link closed before a keep-alive came")
	})

	t.Run("MonitorStart for an unknown device", func(t *testing.T) {
		got := rec.request(csta.MonitorStart{Device: "4711"})
		if e, ok := got.(csta.ErrorResponse); !ok || e.Category != csta.CategoryOperation || e.Value != csta.OperationInvalidDeviceID {
			t.Fatalf("got %s, want CSTAErrorCode operation/invalidDeviceID", got)
		}
	})

	t.Run("a malformed frame gets an error and the link lives on", func(t *testing.T) {
		bad, err := csta.AppendFrame(nil, 42, []byte(`<?xml version="1.0"?><MonitorStart xmlns="`+csta.Namespace+`"><monitorObject>`))
		if err != nil {
			t.Fatal(err)
		}
		errEv := l.watch(func(e sim.Event) bool {
			return e.Kind == sim.KindError && e.From == "pbx" && strings.Contains(e.Summary, "CSTA")
		})
		if _, err := rec.conn.NetConn().Write(bad); err != nil {
			t.Fatal(err)
		}
		f := rec.next()
		if e, ok := f.msg.(csta.ErrorResponse); !ok || f.id != 42 || e.Value != csta.OperationGeneric {
			t.Fatalf("got %04d %s, want 0042 CSTAErrorCode operation/generic", f.id, f.msg)
		}
		e := errEv()
		if e.Src.Addr() != l.ip(2) {
			t.Fatalf("error event does not name the recorder %s: %s", l.ip(2), e)
		}
		if _, ok := rec.request(csta.SystemStatus{Status: csta.StatusNormal}).(csta.SystemStatusResponse); !ok {
			t.Fatal("the link did not live on")
		}
	})

	t.Run("MonitorStart for a registered device, then BackInService; MonitorStop", func(t *testing.T) {
		a := l.phone("a", "1001", 11, "7434")
		a.mustRegister("3600")
		ref := rec.monitor("1001")
		bis := rec.expect("BackInServiceEvent")[0].(csta.BackInServiceEvent)
		if bis.CrossRefID != ref || bis.Info == nil || bis.Info.IP != l.ip(11) || bis.Info.RecordingPort != 7300 {
			t.Fatalf("BackInService after MonitorStart: %+v", bis)
		}
		if _, ok := rec.request(csta.MonitorStop{CrossRefID: ref}).(csta.MonitorStopResponse); !ok {
			t.Fatal("no MonitorStopResponse")
		}
		got := rec.request(csta.MonitorStop{CrossRefID: ref})
		if e, ok := got.(csta.ErrorResponse); !ok || e.Value != csta.OperationInvalidCrossRefID {
			t.Fatalf("second MonitorStop: %s, want invalidCrossRefID", got)
		}
		// The monitor is gone: un-REGISTER sends it nothing, so the next
		// message is the answer to the next request.
		a.mustRegister("0")
		if _, ok := rec.request(csta.SystemStatus{Status: csta.StatusNormal}).(csta.SystemStatusResponse); !ok {
			t.Fatal("an event reached a stopped monitor")
		}
	})

	t.Run("a phone with no model in its User-Agent", func(t *testing.T) {
		ref := rec.monitor("1003")
		c := l.phone("c", "1003", 13, "")
		c.ua = "softphone/1.0"
		c.mustRegister("3600")
		bis := rec.expect("BackInServiceEvent")[0].(csta.BackInServiceEvent)
		if bis.CrossRefID != ref || bis.Info == nil || bis.Info.Model != UnknownModel || bis.Info.RecordingPort != 5060 {
			t.Fatalf("BackInService: %+v", bis)
		}
	})
}

func TestCallEvents(t *testing.T) {
	c := &call{id: csta.FormatCallID(7), from: "1001", to: "1002"}
	type ev struct{ device, summary string }
	tests := []struct {
		kind             callEventKind
		cause, releasing string
		want             []ev
	}{
		{evServiceInitiated, "", "", []ev{{"1001", "ServiceInitiatedEvent 1001"}}},
		{evOriginated, "", "", []ev{{"1001", "OriginatedEvent 1001→1002"}}},
		{evDelivered, "", "", []ev{{"1001", "DeliveredEvent 1001→1002"}, {"1002", "DeliveredEvent 1001→1002"}}},
		{evEstablished, "", "", []ev{{"1001", "EstablishedEvent 1001→1002"}, {"1002", "EstablishedEvent 1001→1002"}}},
	}
	for _, tc := range tests {
		got := callEvents(c, tc.kind, tc.cause, tc.releasing)
		if len(got) != len(tc.want) {
			t.Fatalf("%v: %d events, want %d", tc.kind, len(got), len(tc.want))
		}
		for i, e := range got {
			m := e.build("9")
			if e.device != tc.want[i].device || !strings.HasPrefix(csta.Summary(m), tc.want[i].summary) {
				t.Errorf("%v: event %d to %s: %s, want %s to %s", tc.kind, i, e.device, csta.Summary(m), tc.want[i].summary, tc.want[i].device)
			}
			if _, err := csta.Encode(m); err != nil {
				t.Errorf("%v: %v", tc.kind, err)
			}
		}
	}
	// ConnectionCleared: each party's own connection, the same releasing
	// device for both, "" (notKnown) when the PBX ended the call.
	for _, releasing := range []string{"1001", "1002", ""} {
		got := callEvents(c, evCleared, "", releasing)
		for i, dev := range []string{"1001", "1002"} {
			cc := got[i].build("9").(csta.ConnectionClearedEvent)
			if got[i].device != dev || cc.Device != dev || cc.Releasing != releasing || cc.Cause != csta.CauseNormalClearing || cc.LocalConnection != csta.StateNull {
				t.Errorf("released by %q: %s's event %+v", releasing, dev, cc)
			}
			if _, err := csta.Encode(cc); err != nil {
				t.Error(err)
			}
		}
	}
	for code, want := range map[int]string{486: csta.CauseBusy, 480: csta.CauseCallNotAnswered, 487: csta.CauseCallCancelled, 503: csta.CauseDestNotObtainable} {
		if got := causeOfRefusal(code); got != want {
			t.Errorf("causeOfRefusal(%d) = %s, want %s", code, got, want)
		}
	}
}

func TestPeerGone(t *testing.T) {
	wrote := func(errno syscall.Errno) error {
		return fmt.Errorf("csta: send ConnectionClearedEvent 9999: %w", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", errno)})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"EOF: the peer closed", io.EOF, true},
		{"our own side closed (PBX stopping)", fmt.Errorf("csta: send: %w", net.ErrClosed), true},
		{"broken pipe: write after the peer closed", wrote(syscall.EPIPE), true},
		{"reset by the peer", wrote(syscall.ECONNRESET), true},
		{"link cut by an impairment", fmt.Errorf("sim: CSTA a → b: link cut by impairment 1 (blackhole): %w", syscall.ECONNRESET), true},
		{"a message that does not encode", errors.New("csta: invokeID 0000 out of range"), false},
		{"a write timeout", wrote(syscall.ETIMEDOUT), false},
		{"refused", wrote(syscall.ECONNREFUSED), false},
	}
	for _, tc := range tests {
		if got := peerGone(tc.err); got != tc.want {
			t.Errorf("%s: peerGone(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// pbxCSTAClient is the server's side of the one CSTA link open.
func (l *testLab) pbxCSTAClient() (*cstaServer, *cstaClient) {
	l.t.Helper()
	r := l.pbx.current()
	s := r.csta
	var clients []*cstaClient
	r.do(func() {
		for c := range s.clients {
			clients = append(clients, c)
		}
	})
	if len(clients) != 1 {
		l.t.Fatalf("%d CSTA clients, want 1", len(clients))
	}
	return s, clients[0]
}

// A recorder that closed its link, and a PBX that stops, make the PBX's
// next event fail (EPIPE, ECONNRESET, net.ErrClosed): the client is dropped
// with a note, and the trace counts no error.
func TestCSTAClientGone(t *testing.T) {
	t.Run("the recorder closed its link", func(t *testing.T) {
		l := newTestLab(t, Config{})
		rec := l.recorder("rec", 2)
		rec.monitor("1001")
		s, c := l.pbxCSTAClient()
		gone := l.watch(func(e sim.Event) bool {
			return e.Kind == sim.KindNote && e.From == "pbx" && strings.Contains(e.Summary, "CSTA client") && strings.Contains(e.Summary, "gone")
		})
		rec.conn.Close()
		// Events queued after the close: the writer's first write may
		// still succeed (the peer's kernel answers it with RST), the next
		// fail; the serving goroutine may also read EOF first and drop the
		// client. Either way the client goes, quietly, and the queue takes
		// no more.
		ev := csta.OutOfServiceEvent{CrossRefID: "1", Device: "1001", Info: &csta.DeviceInfo{IP: l.ip(11), RecordingPort: 7300, Model: UnknownModel}}
		for range 3 {
			s.deliver(c, csta.EventInvokeID, ev)
		}
		gone()
		if s.deliver(c, csta.EventInvokeID, ev) {
			t.Fatal("deliver to a dropped client reported the link usable")
		}
		if n := l.pbx.CSTAClients(); n != 0 {
			t.Fatalf("CSTAClients = %d after the recorder left, want 0", n)
		}
		if n := l.net.Trace().Count(sim.KindError); n != 0 {
			t.Fatalf("%d error events, want none", n)
		}
	})
	t.Run("the PBX stopped", func(t *testing.T) {
		l := newTestLab(t, Config{})
		rec := l.recorder("rec", 2)
		rec.monitor("1001")
		s, c := l.pbxCSTAClient()
		l.pbx.Stop()
		// An event that was on its way when Stop closed the link.
		if s.deliver(c, c.conn.NextInvokeID(), csta.SystemStatus{Status: csta.StatusNormal}) {
			t.Fatal("deliver on a link the PBX closed reported it usable")
		}
		if n := l.net.Trace().Count(sim.KindError); n != 0 {
			for _, e := range l.net.Trace().Recent() {
				t.Log(e.String())
			}
			t.Fatalf("%d error events, want none", n)
		}
	})
}

// A CSTA client that monitors the phones and never reads must not hold up
// any call (issue: one client that does not read stalled call set-up): its
// queue fills, it is cut with an error naming it, and the calls go on, the
// well-behaved recorder's events with them.
func TestCSTAClientThatDoesNotRead(t *testing.T) {
	l := newCallLab(t)
	node, err := l.net.AddNode("stuck", l.ip(3))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := node.Dial(l.pbx.CSTAAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	stuck := csta.NewConn(nc)
	cut := l.net.Trace().Watch(func(e sim.Event) bool {
		return e.Kind == sim.KindError && e.From == "pbx" && strings.Contains(e.Summary, "CSTA client does not read")
	}).C
	// Monitors on both phones, and requests until the PBX's answers have
	// filled the client's socket and then its queue; bounded, and it stops
	// as soon as the PBX cuts the link.
	flood := make(chan int, 1)
	go func() {
		n := 0
		for ; n < 200_000; n++ {
			if stuck.Send(stuck.NextInvokeID(), csta.MonitorStart{Device: []string{"1001", "1002"}[n%2]}) != nil {
				break
			}
		}
		flood <- n
	}()
	// Calls until the PBX has cut the stuck client (its queue full of
	// events it does not read); every call goes through meanwhile, and the
	// recorder that reads has all of each call's events.
	cutSeen := false
	for n := 1; !cutSeen; n++ {
		if n > 50 {
			t.Fatal("50 calls and the client that does not read was never cut")
		}
		out := l.a.dial("1002", sdpA)
		in := recv(t, l.b.invites, "the B-leg INVITE")
		for code := 0; code != 180; { // the PBX has B's 180: DeliveredEvent is out
			code = recv(t, out.provision, "180 Ringing at A")
		}
		in.answer <- answer{200, sdpB}
		if code := out.finalCode(t); code != 200 {
			t.Fatalf("call %d: A got %d, want 200", n, code)
		}
		if err := out.dlg.Ack(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := out.dlg.Bye(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		recv(t, l.b.byes, "the BYE at B")
		a, b := l.monitorEvents(8)
		if got := kinds(a) + "/ " + kinds(b); strings.Count(got, "EstablishedEvent") != 2 || strings.Count(got, "ConnectionClearedEvent") != 2 {
			t.Fatalf("call %d: the recorder's events: %s", n, got)
		}
		select {
		case <-cut:
			cutSeen = true
			t.Logf("cut during call %d", n)
		default:
		}
	}
	t.Logf("the client sent %d requests before its link was cut", <-flood)
	if n := l.pbx.CSTAClients(); n != 1 {
		t.Errorf("%d CSTA clients after the cut, want the recorder alone", n)
	}
}

func kinds(ms []csta.Message) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.Kind() + " ")
	}
	return b.String()
}

// A request with the events' invokeID 9999 is refused with valueOutOfRange
// and an error naming it; the monitor it asked for is not made.
func TestCSTARequestWithEventInvokeID(t *testing.T) {
	l := newTestLab(t, Config{})
	rec := l.recorder("rec", 2)
	refused := l.watch(func(e sim.Event) bool {
		return e.Kind == sim.KindError && e.From == "pbx" && strings.Contains(e.Summary, "MonitorStart with invokeID 9999 refused")
	})
	// csta.Conn refuses to send it; a client that does is written by hand.
	doc, err := csta.Encode(csta.MonitorStart{Device: "1001"})
	if err != nil {
		t.Fatal(err)
	}
	frame, err := csta.AppendFrame(nil, csta.EventInvokeID, doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.conn.NetConn().Write(frame); err != nil {
		t.Fatal(err)
	}
	f := rec.next()
	if er, ok := f.msg.(csta.ErrorResponse); !ok || er.Value != csta.OperationValueOutOfRange {
		t.Fatalf("answer %s, want CSTAErrorCode valueOutOfRange", f.msg)
	}
	refused()
	// The link lives on: a proper request is served.
	if ref := rec.monitor("1001"); ref == "" {
		t.Fatal("no monitor after the refused request")
	}
}

// The CSTA port takes links only from its allowed clients, and one link
// only so many monitors (issue 11 item 4); each refusal names what it is.
func TestCSTAAccessControl(t *testing.T) {
	l := newTestLabWith(t, func(l *testLab) Config {
		return Config{CSTAClients: []netip.Addr{l.ip(2)}, MaxMonitors: 2}
	})

	refused := l.watch(func(e sim.Event) bool {
		return e.Kind == sim.KindError && e.From == "pbx" && strings.Contains(e.Summary, "CSTA link refused: "+l.ip(9).String()+" is not among the PBX's allowed CSTA clients")
	})
	stranger := l.recorder("stranger", 9)
	refused()
	if err := <-stranger.errs; err == nil {
		t.Fatal("the stranger's link stayed open")
	}

	rec := l.recorder("rec", 2)
	rec.monitor("1001")
	rec.monitor("1002")
	limit := l.watch(func(e sim.Event) bool {
		return e.Kind == sim.KindError && e.From == "pbx" && strings.Contains(e.Summary, "MonitorStart 1003 refused: the link holds 2 monitors")
	})
	res := rec.request(csta.MonitorStart{Device: "1003"})
	if er, ok := res.(csta.ErrorResponse); !ok || er.Category != csta.CategorySystemResourceAvailability || er.Value != csta.ResourceOverallMonitorLimit {
		t.Fatalf("a third MonitorStart: %s, want systemResourceAvailability/overallMonitorLimitExceeded", res)
	}
	limit()
}

// A client that begins a frame and never finishes it holds nothing open
// past three keep-alive periods (issue 11 item 4: held open forever).
func TestCSTAPartialFrameIsCut(t *testing.T) {
	l := newTestLab(t, Config{CSTAKeepAlive: 100 * time.Millisecond})
	cut := l.watch(func(e sim.Event) bool {
		return e.Kind == sim.KindError && e.From == "pbx" && strings.Contains(e.Summary, "CSTA link idle or a frame unfinished")
	})
	rec := l.recorder("rec", 2)
	if _, err := rec.conn.NetConn().Write([]byte{0, 0, 0, 200}); err != nil { // half a header, promising 200 bytes
		t.Fatal(err)
	}
	cut()
	if err := <-rec.errs; err == nil {
		t.Fatal("the link stayed open")
	}
}
