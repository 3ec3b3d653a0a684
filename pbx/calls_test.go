package pbx

import (
	"bytes"
	"testing"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
)

var (
	sdpA = []byte("v=0\r\no=- 11 11 IN IP4 127.20.1.1\r\ns=-\r\nc=IN IP4 127.20.1.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n")
	sdpB = []byte("v=0\r\no=- 22 22 IN IP4 127.20.1.2\r\ns=-\r\nc=IN IP4 127.20.1.2\r\nt=0 0\r\nm=audio 40002 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n")
)

// callLab is a lab with phones 1001 (A, 7434) and 1002 (B, 6867i)
// registered and a recorder monitoring both.
type callLab struct {
	*testLab
	rec        *fakeRecorder
	refA, refB string
	a, b       *fakePhone
}

func newCallLab(t *testing.T) *callLab {
	l := &callLab{testLab: newTestLab(t, Config{})}
	l.rec = l.recorder("rec", 2)
	l.refA, l.refB = l.rec.monitor("1001"), l.rec.monitor("1002")
	l.a = l.phone("a", "1001", 11, "7434")
	l.b = l.phone("b", "1002", 12, "6867i")
	l.a.mustRegister("3600")
	l.b.mustRegister("3600")
	l.rec.expect("BackInServiceEvent", "BackInServiceEvent")
	return l
}

// monitorEvents reads n events and sorts them by monitor.
func (l *callLab) monitorEvents(n int) (a, b []csta.Message) {
	l.t.Helper()
	for _, m := range l.rec.expectN(n) {
		ce, ok := m.(csta.CallEvent)
		if !ok {
			l.t.Fatalf("not a call event: %s", m)
		}
		switch ref := ce.CallFields().CrossRefID; ref {
		case l.refA:
			a = append(a, m)
		case l.refB:
			b = append(b, m)
		default:
			l.t.Fatalf("event %s for unknown monitor %s", m, ref)
		}
	}
	return a, b
}

func (r *fakeRecorder) expectN(n int) []csta.Message {
	r.t.Helper()
	out := make([]csta.Message, n)
	for i := range out {
		f := r.next()
		if f.id != csta.EventInvokeID {
			r.t.Fatalf("CSTA: %s with invokeID %04d, want an event", f.msg, f.id)
		}
		out[i] = f.msg
	}
	return out
}

// checkCall checks one monitor's events: kinds in order, one 24-digit
// callID, and the releasing device and cause of ConnectionCleared.
func checkCall(t *testing.T, who string, got []csta.Message, kinds []string, releasing, cause string) {
	t.Helper()
	if len(got) != len(kinds) {
		t.Fatalf("%s's monitor got %v, want %v", who, got, kinds)
	}
	id := got[0].(csta.CallEvent).CallFields().CallID
	if err := csta.ValidateCallID(id); err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	for i, m := range got {
		if m.Kind() != kinds[i] {
			t.Fatalf("%s's monitor got %v, want %v", who, got, kinds)
		}
		if cid := m.(csta.CallEvent).CallFields().CallID; cid != id {
			t.Fatalf("%s: %s has callID %s, want %s", who, m.Kind(), cid, id)
		}
	}
	cc := got[len(got)-1].(csta.ConnectionClearedEvent)
	if cc.Releasing != releasing || cc.Cause != cause || cc.Device != who {
		t.Fatalf("%s's ConnectionCleared: releasing %q cause %s device %s, want releasing %q cause %s device %s",
			who, cc.Releasing, cc.Cause, cc.Device, releasing, cause, who)
	}
}

var (
	callerKinds = []string{"ServiceInitiatedEvent", "OriginatedEvent", "DeliveredEvent", "EstablishedEvent", "ConnectionClearedEvent"}
	calleeKinds = []string{"DeliveredEvent", "EstablishedEvent", "ConnectionClearedEvent"}
)

// A call relayed by the B2BUA with SDP unchanged both ways; BYE from either
// side reaches the other; CSTA events in order for both monitors, and
// ConnectionCleared names the party that hung up (docs/wire.md "CSTA").
func TestCallRelayAndHangup(t *testing.T) {
	for _, hangsUp := range []string{"1001", "1002"} {
		t.Run(hangsUp+" hangs up", func(t *testing.T) {
			l := newCallLab(t)
			out := l.a.dial("1002", sdpA)
			in := recv(t, l.b.invites, "the B-leg INVITE")
			if !bytes.Equal(in.req.Body(), sdpA) {
				t.Fatalf("B-leg INVITE body differs from the A-leg's:\n%s\nwant\n%s", in.req.Body(), sdpA)
			}
			if in.req.Recipient.User != "1002" || in.req.Recipient.Host != l.ip(12).String() {
				t.Fatalf("B-leg INVITE to %s, want 1002 at B's contact", in.req.Recipient.String())
			}
			if f := in.req.From(); f == nil || f.Address.User != "1001" {
				t.Fatalf("B-leg From %v, want the caller 1001", f)
			}
			for code := 0; code != 180; {
				code = recv(t, out.provision, "180 Ringing at A")
			}
			if calls := l.pbx.Calls(); len(calls) != 1 {
				t.Fatalf("Calls while ringing: %v", calls)
			}
			ackAtB := l.watch(sipFrom("pbx", "b", "ACK"))
			ackAtPBX := l.watch(sipFrom("a", "pbx", "ACK"))
			in.answer <- answer{200, sdpB}
			if code := out.finalCode(t); code != 200 {
				t.Fatalf("A got %d, want 200", code)
			}
			if got := out.dlg.InviteResponse.Body(); !bytes.Equal(got, sdpB) {
				t.Fatalf("200 OK body at A differs from B's:\n%s\nwant\n%s", got, sdpB)
			}
			if err := out.dlg.Ack(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			ackAtB()
			ackAtPBX()
			if calls := l.pbx.Calls(); len(calls) != 1 || !bytes.HasSuffix([]byte(calls[0]), []byte("1001→1002 talking")) {
				t.Fatalf("Calls while talking: %v", calls)
			}

			var err error
			if hangsUp == "1001" {
				err = out.dlg.Bye(ctxT(t))
				recv(t, l.b.byes, "BYE at B")
			} else {
				err = in.dlg.Bye(ctxT(t))
				recv(t, l.a.byes, "BYE at A")
			}
			if err != nil {
				t.Fatalf("BYE from %s: %v", hangsUp, err)
			}
			evA, evB := l.monitorEvents(len(callerKinds) + len(calleeKinds))
			checkCall(t, "1001", evA, callerKinds, hangsUp, csta.CauseNormalClearing)
			checkCall(t, "1002", evB, calleeKinds, hangsUp, csta.CauseNormalClearing)
			if a, b := evA[0].(csta.CallEvent).CallFields().CallID, evB[0].(csta.CallEvent).CallFields().CallID; a != b {
				t.Fatalf("the monitors got different callIDs %s and %s", a, b)
			}
			if calls := l.pbx.Calls(); len(calls) != 0 {
				t.Fatalf("Calls after BYE: %v", calls)
			}
		})
	}
}

// CANCEL before the answer: 487 to the caller, CANCEL on the B-leg, and
// ConnectionCleared (callCancelled) released by the caller.
func TestCallCancelled(t *testing.T) {
	l := newCallLab(t)
	out := l.a.dial("1002", sdpA)
	recv(t, l.b.invites, "the B-leg INVITE")
	for code := 0; code != 180; {
		code = recv(t, out.provision, "180 Ringing at A")
	}
	cancelB := l.watch(sipFrom("pbx", "b", "CANCEL"))
	terminated := l.watch(sipFrom("pbx", "a", "487"))
	out.cancel() // sipgo's WaitAnswer sends CANCEL when its context ends
	cancelB()
	terminated()
	recv(t, l.b.cancelled, "B's INVITE cancelled")
	evA, evB := l.monitorEvents(4 + 2)
	checkCall(t, "1001", evA, []string{"ServiceInitiatedEvent", "OriginatedEvent", "DeliveredEvent", "ConnectionClearedEvent"}, "1001", csta.CauseCallCancelled)
	checkCall(t, "1002", evB, []string{"DeliveredEvent", "ConnectionClearedEvent"}, "1001", csta.CauseCallCancelled)
}

// The called phone refuses: the caller gets its status, CSTA says who.
func TestCallRefusedByCallee(t *testing.T) {
	l := newCallLab(t)
	out := l.a.dial("1002", sdpA)
	in := recv(t, l.b.invites, "the B-leg INVITE")
	for code := 0; code != 180; { // B rings first, so the call is Delivered
		code = recv(t, out.provision, "180 Ringing at A")
	}
	in.answer <- answer{code: 486}
	if code := out.finalCode(t); code != 486 {
		t.Fatalf("A got %d, want B's 486", code)
	}
	evA, evB := l.monitorEvents(4 + 2)
	checkCall(t, "1001", evA, []string{"ServiceInitiatedEvent", "OriginatedEvent", "DeliveredEvent", "ConnectionClearedEvent"}, "1002", csta.CauseBusy)
	checkCall(t, "1002", evB, []string{"DeliveredEvent", "ConnectionClearedEvent"}, "1002", csta.CauseBusy)
}

// docs/wire.md "Calls": 404 unknown number, 480 known but unregistered,
// 403 for a caller that is not registered from where it calls.
func TestCallRefusedByPBX(t *testing.T) {
	l := newCallLab(t)
	c := l.phone("c", "1003", 13, "7434") // in the directory, not registered
	tests := []struct {
		name   string
		caller *fakePhone
		number string
		want   int
	}{
		{"unknown number", l.a, "1999", 404},
		{"known, not registered", l.a, "1003", 480},
		{"caller not registered", c, "1001", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refused := l.watch(func(e sim.Event) bool { return e.Kind == sim.KindNote && e.From == "pbx" })
			if code := tc.caller.dial(tc.number, sdpA).finalCode(t); code != tc.want {
				t.Fatalf("INVITE %s from %s: %d, want %d", tc.number, tc.caller.ext, code, tc.want)
			}
			refused()
		})
	}
	if len(l.b.invites) != 0 || len(l.a.invites) != 0 {
		t.Fatal("a refused call reached a phone")
	}
	// No call event went out: the next CSTA message is the answer to this.
	if _, ok := l.rec.request(csta.SystemStatus{Status: csta.StatusNormal}).(csta.SystemStatusResponse); !ok {
		t.Fatal("SystemStatus not answered")
	}
}
