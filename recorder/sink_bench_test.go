package recorder

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// BenchmarkSinkPush is the recorder's write path for one 20 ms packet per
// channel, as a session's two reader goroutines do it: lock, StereoWAV
// placement and mixing, and the chunked file under it (a real file in the
// test's temporary directory, written by the disk writer's goroutine).
func BenchmarkSinkPush(b *testing.B) {
	n, err := sim.NewNetwork(sim.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	f, err := os.Create(filepath.Join(b.TempDir(), "bench.wav"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	disk := newDiskWriter()
	defer disk.stop()
	buf := &bufferedFile{f: f, disk: disk}
	wav, err := media.NewStereoWAV(buf)
	if err != nil {
		b.Fatal(err)
	}
	s := &sink{net: n, node: "recorder", owner: "bench", wav: wav}
	tx := media.NewSender(1, 0, 0, media.PCMA)
	rx := media.NewSender(2, 0, 0, media.PCMA)
	payload := make([]byte, media.FrameSamples)
	tbuf := make([]byte, 0, 1500)
	rbuf := make([]byte, 0, 1500)
	src := netip.MustParseAddrPort("127.20.1.1:40000")
	b.ReportAllocs()
	for b.Loop() {
		tbuf = tx.Packet(tbuf, payload, false)
		rbuf = rx.Packet(rbuf, payload, false)
		s.push(media.ChannelTX, tbuf, src)
		s.push(media.ChannelRX, rbuf, src)
	}
	b.StopTimer()
	if s.malformed != 0 || s.unrecorded != 0 {
		b.Fatalf("malformed %d, unrecorded %d", s.malformed, s.unrecorded)
	}
}
