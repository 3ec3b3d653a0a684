package tui

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/reclab/reclab/sim"
)

// FuzzView feeds the model random events (any kind, protocol, node, bytes)
// and random keys at random sizes, from 40×12 up, and draws each screen
// with render itself (View would catch a panic and show it): nothing may
// panic. `go test -fuzz FuzzView ./cmd/reclab/tui` searches further.
func FuzzView(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(7), uint64(99))
	f.Add(uint64(12345), uint64(0))
	real := loadTrace(f, "testdata/basic-call.jsonl")
	f.Fuzz(func(t *testing.T, seed1, seed2 uint64) {
		r := rand.New(rand.NewPCG(seed1, seed2))
		b := newFakeBackend()
		m := New(context.Background(), b)
		defer m.sub.Close()
		nodes := []string{"pbx", "recorder", "recorder tx", "7434", "6867i", "4422", "rogue", "", "127.20.9.9:5060"}
		protos := []sim.Proto{sim.ProtoSIP, sim.ProtoCSTA, sim.ProtoHTTP, sim.ProtoRTP, sim.ProtoOther, sim.ProtoLab}
		var keys []string
		for _, bd := range bindings {
			if bd.id != kQuit {
				keys = append(keys, bd.keys...)
			}
		}
		keys = append(keys, "enter", "esc", "tab", "C", "D", "w", "T", "1", "0", "x", "y")
		text := func() string {
			alphabet := []rune("INVITE sip:1002@127.20.1.1:7300 SIP/2.0\r\nCall-ID: ab\r\nCSeq: 1 BYE\r\nFrom: <sip:1001@x>\r\nTo: <sip:1002@y>\r\n\r\n200 OK (INVITE) 180 call 0001 EstablishedEvent 1001→1002 Δ…│\x00\xff")
			n := r.IntN(120)
			out := make([]rune, n)
			for i := range out {
				out[i] = alphabet[r.IntN(len(alphabet))]
			}
			return string(out)
		}
		at := time.Duration(0)
		for step := 0; step < 60; step++ {
			switch r.IntN(4) {
			case 0:
				m.Update(tea.WindowSizeMsg{Width: 40 + r.IntN(200), Height: 12 + r.IntN(60)})
			case 1:
				var batch []sim.Event
				for range 1 + r.IntN(20) {
					at += time.Duration(r.IntN(2000)) * time.Millisecond
					e := sim.Event{Seq: uint64(step*100 + len(batch)), At: at, Kind: sim.Kind(r.IntN(7)), Proto: protos[r.IntN(len(protos))],
						From: nodes[r.IntN(len(nodes))], To: nodes[r.IntN(len(nodes))], Summary: text(), Bytes: []byte(text()),
						Packets: uint64(r.IntN(1000)), Delayed: time.Duration(r.IntN(2)) * time.Second, Duplicate: r.IntN(5) == 0}
					if r.IntN(3) == 0 {
						e = real[r.IntN(len(real))]
						e.At = at
					}
					e.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 20, 1, byte(r.IntN(8))}), uint16(r.IntN(65536)))
					batch = append(batch, e)
				}
				m.Update(batchMsg{events: batch, lost: uint64(r.IntN(3))})
			case 2:
				m.Update(key(keys[r.IntN(len(keys))]))
			case 3:
				m.Update(actionMsg{text: text(), err: func() error {
					if r.IntN(2) == 0 {
						return fmt.Errorf("%s", text())
					}
					return nil
				}()})
			}
			if m.w > 0 {
				m.render()
			}
		}
	})
}
