package phones

import (
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// BenchmarkReceivedForked is the other half of a forked call's per-packet
// work (BenchmarkSendFrameForked is the first): a packet from the far end
// is parsed, counted, rewritten with the rx stream's SSRC and sequence and
// sent to the recorder's rx port (design.md "The recording session").
func BenchmarkReceivedForked(b *testing.B) {
	n, err := sim.NewNetwork(sim.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	phone, err := n.AddNode("phone", netip.MustParseAddr("127.20.78.1"))
	if err != nil {
		b.Fatal(err)
	}
	rec, err := n.AddNode("recorder", netip.MustParseAddr("127.20.78.2"))
	if err != nil {
		b.Fatal(err)
	}
	conn, err := phone.ListenPacket(0)
	if err != nil {
		b.Fatal(err)
	}
	rx, err := rec.ListenPacket(0)
	if err != nil {
		b.Fatal(err)
	}
	// Drain the recorder's socket so the kernel never drops for a full buffer.
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := rx.ReadFromAddrPort(buf); err != nil {
				return
			}
		}
	}()
	var fork atomic.Pointer[forkTargets]
	fork.Store(newForkTargets(rx.LocalAddrPort(), rx.LocalAddrPort()))
	var count mediaCounters
	m, _ := newMediaPump(mediaParams{conn: conn, remote: netip.MustParseAddrPort("127.20.78.3:40000"), codec: media.PCMA,
		toneHz: 440, fork: &fork, count: &count, now: n.Now, clock: n.Clock()})
	far := media.NewSender(7, 0, 0, media.PCMA)
	pkt := make([]byte, 0, 1500)
	payload := make([]byte, media.FrameSamples)
	src := netip.MustParseAddrPort("127.20.78.3:40000")
	b.ReportAllocs()
	for b.Loop() {
		pkt = far.Packet(pkt, payload, false)
		m.received(pkt, src)
	}
	b.StopTimer()
	if got := count.forkedRX.Load(); got == 0 {
		b.Fatal("nothing forked")
	}
}
