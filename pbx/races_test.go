package pbx

import (
	"testing"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
)

// The races of a call's last moments, as the load bench met them: a party
// that hangs up as soon as the other side answered. Each test ends when the
// monitors got ConnectionCleared, which the PBX sends after any error event
// of the call (a failed 200 OK or BYE), so counting errors then is exact.

// ringing dials 1002 from 1001 and returns once A heard 180 Ringing.
func (l *callLab) ringing() (*outgoing, *incoming) {
	l.t.Helper()
	out := l.a.dial("1002", sdpA)
	in := recv(l.t, l.b.invites, "the B-leg INVITE")
	for code := 0; code != 180; {
		code = recv(l.t, out.provision, "180 Ringing at A")
	}
	return out, in
}

// setBeforeRelay makes f run between the B-leg's ACK and the 200 OK to
// the caller. f runs on the PBX's goroutine: it reports with t.Errorf.
func (l *callLab) setBeforeRelay(f func()) {
	l.pbx.mu.Lock()
	l.pbx.beforeRelay = f
	l.pbx.mu.Unlock()
}

func (l *callLab) noErrors() {
	l.t.Helper()
	if n := l.net.Trace().Count(sim.KindError); n != 0 {
		l.t.Fatalf("%d error events, want none", n)
	}
}

// The caller hangs up the moment its callee has the ACK (the bench's brief
// first call): its CANCEL reaches the PBX before the 200 OK is relayed. The
// caller gets 487 and no 200 OK, the callee's answered leg a BYE, and both
// monitors ConnectionCleared (callCancelled, released by the caller).
func TestCancelCrossesAnswer(t *testing.T) {
	l := newCallLab(t)
	out, in := l.ringing()
	terminated := l.net.Trace().Watch(sipFrom("pbx", "a", "487"))
	l.setBeforeRelay(func() {
		out.cancel() // sipgo's WaitAnswer sends CANCEL
		if _, err := terminated.Wait(ctxT(t)); err != nil {
			t.Errorf("no 487 for the caller: %v", err)
		}
	})
	in.answer <- answer{200, sdpB}
	if code := out.finalCode(t); code != 487 {
		t.Fatalf("A got %d, want 487", code)
	}
	recv(t, l.b.byes, "BYE at B")
	evA, evB := l.monitorEvents(len(callerKinds) + len(calleeKinds))
	checkCall(t, "1001", evA, callerKinds, "1001", csta.CauseCallCancelled)
	checkCall(t, "1002", evB, calleeKinds, "1001", csta.CauseCallCancelled)
	l.noErrors()
	if calls := l.pbx.Calls(); len(calls) != 0 {
		t.Fatalf("Calls after the CANCEL: %v", calls)
	}
}

// The callee hangs up the moment it has the ACK, before the PBX relayed its
// 200 OK to the caller: the caller still gets the 200 OK, and its BYE
// follows its ACK (RFC 3261 §15) instead of failing before the answer.
func TestCalleeHangsUpBeforeRelay(t *testing.T) {
	l := newCallLab(t)
	out, in := l.ringing()
	l.setBeforeRelay(func() {
		if err := in.dlg.Bye(ctxT(t)); err != nil {
			t.Errorf("BYE from B: %v", err)
		}
	})
	in.answer <- answer{200, sdpB}
	if code := out.finalCode(t); code != 200 {
		t.Fatalf("A got %d, want 200", code)
	}
	if err := out.dlg.Ack(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	recv(t, l.a.byes, "BYE at A")
	evA, evB := l.monitorEvents(len(callerKinds) + len(calleeKinds))
	checkCall(t, "1001", evA, callerKinds, "1002", csta.CauseNormalClearing)
	checkCall(t, "1002", evB, calleeKinds, "1002", csta.CauseNormalClearing)
	l.noErrors()
}

// The caller sends BYE right behind its ACK, many times over: the PBX may
// handle the two in either order, or at once. Every BYE gets 200 OK, the
// callee gets its BYE, and no error event is raised.
func TestCallerByeRightAfterAck(t *testing.T) {
	const calls = 30
	l := newCallLab(t)
	for i := 0; i < calls; i++ {
		out, in := l.ringing()
		in.answer <- answer{200, sdpB}
		if code := out.finalCode(t); code != 200 {
			t.Fatalf("call %d: A got %d, want 200", i, code)
		}
		if err := out.dlg.Ack(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := out.dlg.Bye(ctxT(t)); err != nil {
			t.Fatalf("call %d: BYE right after the ACK: %v", i, err)
		}
		recv(t, l.b.byes, "BYE at B")
		evA, evB := l.monitorEvents(len(callerKinds) + len(calleeKinds))
		checkCall(t, "1001", evA, callerKinds, "1001", csta.CauseNormalClearing)
		checkCall(t, "1002", evB, calleeKinds, "1001", csta.CauseNormalClearing)
		l.noErrors()
	}
}
