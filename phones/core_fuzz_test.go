package phones

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzRegistrationCore feeds the registration core any sequence of events
// (each byte one event): it never panics, never sends while powered off,
// and its REGISTER CSeqs only go up within a boot cycle (RFC 3261 §10.2.4).
func FuzzRegistrationCore(f *testing.F) {
	f.Add([]byte{0, 2, 5, 6, 5, 7, 10, 5, 4, 1})
	f.Add([]byte{0, 2, 8, 10, 11, 5, 3, 0, 2})
	f.Fuzz(func(t *testing.T, ops []byte) {
		r := NewRegistration(120*time.Second, 30*time.Second, 5*time.Second)
		var lastCSeq uint32
		for i, op := range ops {
			var acts []RegAction
			switch k := RegEventKind(op % 13); k {
			case 12: // the owner's Register
				if a, ok := r.Register(); ok {
					acts = []RegAction{a}
				}
			case RegPowerOn:
				lastCSeq = 0
				acts = r.Step(RegEvent{Kind: k, CallID: "boot"})
			case RegTimerFired:
				acts = r.Step(RegEvent{Kind: k, Timer: RegTimer(op % 3), Gen: uint64(op % 4)})
			default:
				acts = r.Step(RegEvent{Kind: k, Granted: time.Duration(op) * time.Second, Status: "403 Forbidden", Reason: "x"})
			}
			for _, a := range acts {
				if a.Kind != RegSendRegister && a.Kind != RegSendUnregister && a.Kind != RegSendOptions {
					continue
				}
				if r.State() == RegOff {
					t.Fatalf("op %d: %s while powered off", i, a)
				}
				if a.Kind != RegSendOptions {
					if a.CSeq <= lastCSeq {
						t.Fatalf("op %d: CSeq %d after %d", i, a.CSeq, lastCSeq)
					}
					lastCSeq = a.CSeq
				}
			}
		}
	})
}

// FuzzRecSessionCore feeds the phone's recording core any sequence of
// recorder requests and phone events: it never panics, and it forks only
// on an allowed ACK of the session it answered (spec §3.2).
func FuzzRecSessionCore(f *testing.F) {
	f.Add([]byte{0, 3, 4, 5, 6})
	f.Add([]byte{0, 3, 3, 4, 1, 3, 4, 2})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var s RecSession
		rec := netip.MustParseAddrPort("127.20.0.2:5060")
		for i, op := range ops {
			kind := RecEventKind(op % 8)
			ev := RecEvent{Kind: kind, CallID: []string{"a", "b"}[op>>3&1], Source: rec, Allowed: op&0x40 == 0, InDialog: op&0x20 != 0}
			before := s.State()
			for _, a := range s.Step(ev) {
				if a.Kind == RecStartFork && (kind != RecAck || !ev.Allowed || before != RecOffered) {
					t.Fatalf("op %d: forking started by %s (allowed %v) in state %s", i, kind, ev.Allowed, before)
				}
			}
		}
	})
}

// FuzzCallCore feeds the call core any sequence of events (each byte one
// event, its high bits choosing the call it claims to belong to): it never
// panics, every call it starts it releases exactly once, and it is idle
// exactly when every call started has been released.
func FuzzCallCore(f *testing.F) {
	f.Add([]byte{0, 1, 3, 4, 14, 15})
	f.Add([]byte{6, 7, 9, 11, 14, 15, 16})
	f.Add([]byte{0, 14, 1, 4, 15, 17, 6, 9, 14, 11})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var c Call
		begun, released := 0, 0
		for i, op := range ops {
			kind := CallEventKind(int(op&0x1f) % len(callEventNames))
			ev := CallEvent{Kind: kind, Call: c.n - uint64(op>>5&1), Remote: "1002", CallID: "x",
				Registered: op&0x80 == 0, Code: []int{180, 200, 486}[int(op>>5)%3], Reason: "r"}
			for _, a := range c.Step(time.Duration(i)*time.Second, ev) {
				switch {
				case a.Kind == CallPublish && (a.State == CallDialing || a.State == CallRinging):
					begun++
				case a.Kind == CallRelease:
					released++
				}
			}
			if released > begun || (c.State() == CallIdle) != (released == begun) {
				t.Fatalf("op %d (%s): %d calls begun, %d released, state %s", i, kind, begun, released, c.State())
			}
		}
	})
}
