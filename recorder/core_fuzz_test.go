package recorder

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzInviteRace: any sequence of answers, failures, retransmission and
// give-up; the race never panics, wins at most once, and once over has
// nothing out.
func FuzzInviteRace(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3})
	f.Add([]byte{3, 2, 2, 1, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		r, _ := NewInviteRace("a", 1, 500*time.Millisecond, time.Second)
		won := 0
		for i, op := range ops {
			in := RaceInput{Kind: RaceInputKind(op % 4), CallID: []string{"a", "b"}[op>>2&1], Reason: "x", Response: op&0x10 != 0, Cancelled: op&0x20 != 0}
			if in.Kind == RaceRetransmitDue {
				in.CallID = "b"
			}
			for _, a := range r.Step(in) {
				if a.Kind == RaceWon {
					if won++; won > 1 {
						t.Fatalf("op %d: a second winner %s", i, a.CallID)
					}
				}
			}
		}
	})
}

// FuzzPolicy: any sequence of CSTA events and session ends; the policy
// never panics and never starts a second session under a key it holds.
func FuzzPolicy(f *testing.F) {
	f.Add([]byte{0, 2, 3, 5, 0, 2}, true)
	f.Add([]byte{0, 2, 1, 5, 0}, false)
	f.Fuzz(func(t *testing.T, ops []byte, static bool) {
		m := Dynamic
		if static {
			m = Static
		}
		p := NewPolicy(m, OnDemandOff)
		live := map[string]bool{}
		for i, op := range ops {
			ext := []string{"1001", "1002"}[op>>3&1]
			ev := PolicyEvent{Kind: PolicyEventKind(op % 7), Ext: ext, Call: Call{ID: []string{"c1", "c2"}[op>>4&1]}}
			if op&0x40 == 0 {
				ev.Info = &DeviceInfo{IP: netip.AddrFrom4([4]byte{127, 20, 1, op >> 7}), RecordingPort: 7300}
			}
			if ev.Kind == PolicySessionEnded {
				for k := range live {
					ev.Key = k
					break
				}
				delete(live, ev.Key)
			}
			for _, a := range p.Step(ev) {
				if a.Kind == PolicyStart {
					if live[a.Key] {
						t.Fatalf("op %d: a second session %s", i, a.Key)
					}
					live[a.Key] = true
				}
			}
		}
	})
}
