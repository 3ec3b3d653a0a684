package phones

import (
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// TestPacerPacesEveryCall: the calls of a lab are paced by one pacer on
// its clock (issue 14: no goroutine or ticker per call). Each call's first
// frame goes at once, then one per 20 ms of lab time, in sequence, and the
// recorder gets each frame's copy; a call that ends leaves the pacer.
// With more calls than lanes, a lane paces several.
func TestPacerPacesEveryCall(t *testing.T) {
	for i, calls := range []int{3, 2*pacerLanes() + 5} {
		t.Run(strconv.Itoa(calls), func(t *testing.T) { testPacer(t, calls, byte(80+i)) })
	}
}

func testPacer(t *testing.T, calls int, net byte) {
	clock := sim.NewManualClock(time.Unix(1_000_000, 0))
	n, err := sim.NewNetwork(sim.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, _ := n.AddNode("a", netip.AddrFrom4([4]byte{127, 20, net, 1}))
	b, _ := n.AddNode("b", netip.AddrFrom4([4]byte{127, 20, net, 2}))
	rec, _ := n.AddNode("rec", netip.AddrFrom4([4]byte{127, 20, net, 3}))
	far, err := b.ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := rec.ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	var count mediaCounters
	var pumps []*mediaPump
	for range calls {
		conn, err := a.ListenPacket(0)
		if err != nil {
			t.Fatal(err)
		}
		// Each call's phone has its own recording session (one forker per
		// stream), as in a lab.
		fork := new(atomic.Pointer[forkTargets])
		fork.Store(newForkTargets(tx.LocalAddrPort(), tx.LocalAddrPort()))
		m, err := newMediaPump(mediaParams{conn: conn, remote: far.LocalAddrPort(), codec: media.PCMA, send: true, toneHz: 440,
			fork: fork, count: &count, now: n.Now, clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		m.start()
		pumps = append(pumps, m)
	}
	p := pacerOf(clock)
	p.mu.Lock()
	paced := p.calls
	p.mu.Unlock()
	if paced != calls {
		t.Errorf("the clock's pacer paces %d calls, want %d", paced, calls)
	}
	buf := make([]byte, 2048)
	frames := func(pc *sim.PacketConn, want int) map[uint32][]uint16 {
		t.Helper()
		got := map[uint32][]uint16{}
		pc.SetReadDeadline(sim.SocketDeadline(10 * time.Second))
		for i := 0; i < want; i++ {
			k, _, err := pc.ReadFromAddrPort(buf)
			if err != nil {
				t.Fatalf("frame %d of %d: %v", i+1, want, err)
			}
			h, _, err := media.ParseHeader(buf[:k])
			if err != nil {
				t.Fatal(err)
			}
			got[h.SSRC] = append(got[h.SSRC], h.Seq)
		}
		return got
	}
	const periods = 3
	check := func(who string, got map[uint32][]uint16) {
		t.Helper()
		for ssrc, seqs := range got {
			for i := 1; i < len(seqs); i++ {
				if seqs[i] != seqs[i-1]+1 {
					t.Errorf("%s: stream %08x: sequence %v, want one frame after another", who, ssrc, seqs)
				}
			}
		}
	}
	first := frames(far, calls) // the first frames go at once
	if len(first) != calls {
		t.Errorf("first frames from %d streams, want %d", len(first), calls)
	}
	for range periods - 1 {
		clock.Advance(frameDuration)
		for ssrc, seqs := range frames(far, calls) {
			first[ssrc] = append(first[ssrc], seqs...)
		}
	}
	check("far end", first)
	for ssrc, seqs := range first {
		if len(seqs) != periods {
			t.Errorf("stream %08x: %d frames in %d periods", ssrc, len(seqs), periods)
		}
	}
	copies := frames(tx, calls*periods)
	check("recorder", copies)
	if len(copies) != calls {
		t.Errorf("the recorder's copies came in %d streams, want %d", len(copies), calls)
	}
	for _, m := range pumps {
		m.halt()
	}
	p.mu.Lock()
	paced = p.calls
	for _, l := range p.lanes {
		paced += l.size()
	}
	p.mu.Unlock()
	if paced != 0 {
		t.Errorf("%d calls still paced after all ended", paced)
	}
	if c := count.snapshot(); c.Sent != uint64(calls*periods) || c.ForkedTX != uint64(calls*periods) {
		t.Errorf("counted %+v, want %d sent and forked", c, calls*periods)
	}
}

// TestToneFramesMatchEncodingEachFrame: the call's tone encoded once gives
// the payloads that encoding each frame's samples would, frame after frame;
// a tone that repeats too late for the table has none.
func TestToneFramesMatchEncodingEachFrame(t *testing.T) {
	for _, tc := range []struct {
		hz    float64
		codec media.Codec
		table bool
	}{
		{400, media.PCMA, true},  // 320 samples: two frames
		{125, media.PCMU, true},  // 64 samples: whole frames after 320
		{1000, media.PCMA, true}, // 8 samples
		{440.5, media.PCMA, false},
		{7, media.PCMU, false}, // repeats every 8,000 samples
	} {
		frames := newToneFrames(media.NewTone(tc.hz, toneAmplitude), tc.codec)
		if (frames != nil) != tc.table {
			t.Errorf("%g Hz: table %v, want %v", tc.hz, frames != nil, tc.table)
			continue
		}
		if frames == nil {
			continue
		}
		each := media.NewTone(tc.hz, toneAmplitude)
		pcm := make([]int16, media.FrameSamples)
		for i := range 3 * maxToneFrames {
			each.Next(pcm)
			if want := tc.codec.EncodeFrame(nil, pcm); string(frames.next()) != string(want) {
				t.Fatalf("%g Hz %s: frame %d differs from encoding its samples", tc.hz, tc.codec, i)
			}
		}
	}
}
