package phones

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// A stall of the host (the sender's goroutine not running while 1 s of lab
// time passes) is not the phone's: every frame of it goes, late, with no
// gap in sequence or RTP time; past 2 s the rest is skipped in RTP time
// instead of flooding. The pump's reading of lab time jumps first, then
// the clock fires the ticks: ManualClock.Advance fires each 20 ms tick in
// turn, and a sender that woke between them would see no stall at all.
func TestMediaPumpCatchesUpAStall(t *testing.T) {
	clock := sim.NewManualClock(time.Unix(1_000_000, 0))
	n, err := sim.NewNetwork(sim.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, _ := n.AddNode("a", netip.MustParseAddr("127.20.79.1"))
	b, _ := n.AddNode("b", netip.MustParseAddr("127.20.79.2"))
	conn, err := a.ListenPacket(40000)
	if err != nil {
		t.Fatal(err)
	}
	far, err := b.ListenPacket(30000)
	if err != nil {
		t.Fatal(err)
	}
	var fork atomic.Pointer[forkTargets]
	var count mediaCounters
	var labTime atomic.Int64 // what the stalled sender sees when it runs again
	stall := func(d time.Duration) {
		labTime.Add(int64(d))
		clock.Advance(d)
	}
	m, _ := newMediaPump(mediaParams{conn: conn, remote: far.LocalAddrPort(), codec: media.PCMA, send: true, toneHz: 440,
		fork: &fork, count: &count, now: func() time.Duration { return time.Duration(labTime.Load()) }, clock: clock})
	m.start()
	defer m.halt()
	buf := make([]byte, 2048)
	var lastSeq uint16
	var lastTS uint32
	read := func(want int) (gaps int) {
		t.Helper()
		far.SetReadDeadline(sim.SocketDeadline(10 * time.Second))
		for i := 0; i < want; i++ {
			k, _, err := far.ReadFromAddrPort(buf)
			if err != nil {
				t.Fatalf("frame %d of %d: %v", i+1, want, err)
			}
			h, _, err := media.ParseHeader(buf[:k])
			if err != nil {
				t.Fatal(err)
			}
			seq, ts := h.Seq, h.TS
			if lastTS != 0 && (seq != lastSeq+1 || ts != lastTS+media.FrameSamples) {
				gaps++
			}
			lastSeq, lastTS = seq, ts
		}
		return gaps
	}
	read(1) // the first frame goes at once
	stall(time.Second)
	if gaps := read(50); gaps != 0 {
		t.Errorf("a 1 s stall: %d gaps in 50 late frames, want none", gaps)
	}
	stall(3 * time.Second)
	if gaps := read(maxBurst); gaps != 1 {
		t.Errorf("a 3 s stall: %d gaps in %d late frames, want the one skip", gaps, maxBurst)
	}
}
