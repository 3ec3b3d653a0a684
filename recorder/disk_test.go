package recorder

import (
	"bytes"
	"net/netip"
	"os"
	"testing"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// The RTP reader's path never touches the file: with the disk writer
// stalled (its goroutine not started), pushing packets and syncing the
// header each return, the file holds no audio yet, and once the writer
// runs the finished recording holds every packet, its header true.
func TestSinkPushNeverWaitsOnTheFile(t *testing.T) {
	n, err := sim.NewNetwork(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	disk := newIdleDiskWriter(1) // stalled: no goroutine yet
	f, err := createRecording(t.TempDir(), csta.FormatCallID(1), "1001", disk)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{net: n, node: "recorder", owner: "test"}
	s.swap(f.wav)
	snd := [2]*media.Sender{media.NewSender(1, 0, 0, media.PCMA), media.NewSender(2, 0, 0, media.PCMA)}
	pcm := make([]int16, media.FrameSamples)
	media.NewTone(800, 8000).Next(pcm)
	src := netip.MustParseAddrPort("127.21.1.1:40000")
	const packets = 500 // 10 s: several chunks of each channel
	var pkt []byte
	for i := range packets {
		for ch := range 2 {
			pkt = snd[ch].EncodePacket(pkt, pcm, false)
			s.push(ch, pkt, src)
		}
		if i%50 == 0 {
			f.wav.Sync() // what the sink does every second: seeks and small writes, all queued
		}
	}
	if st, err := os.Stat(f.path); err != nil || st.Size() > 44 {
		t.Fatalf("the file grew to %d bytes (%v) with its writer stalled: the reader wrote it", st.Size(), err)
	}
	if len(disk.lanes[0].jobs) == 0 {
		t.Fatal("no chunk handed to the disk writer")
	}
	disk.start()
	defer disk.stop()
	s.swap(nil)
	f.meta.TX, f.meta.RX = f.wav.Stats(media.ChannelTX), f.wav.Stats(media.ChannelRX)
	if _, err := f.finish(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	left, right, rate, err := media.ReadWAV(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	// StereoWAV places packets by arrival as well as timestamp: a sample
	// or so more than the packets' own length is its placement, not loss.
	if rate != 8000 || len(left) < packets*media.FrameSamples || len(left) >= (packets+1)*media.FrameSamples || len(right) != len(left) {
		t.Fatalf("rate %d, %d and %d samples; want 8000, %d each", rate, len(left), len(right), packets*media.FrameSamples)
	}
	if want := int64(44 + 4*len(left)); int64(len(b)) != want {
		t.Fatalf("file is %d bytes, want %d: the header declares what the file holds", len(b), want)
	}
	silent := 0
	for _, v := range left[media.FrameSamples:] {
		if v == 0 {
			silent++
		}
	}
	if silent > len(left)/10 {
		t.Errorf("%d of %d samples silent: chunks lost or misplaced", silent, len(left))
	}
}

// The chunked file is a true io.WriteSeeker: writes at the end, seeks
// back and small overwrites, SeekEnd, as StereoWAV makes them.
func TestBufferedFileWritesInPlace(t *testing.T) {
	disk := newDiskWriter()
	defer disk.stop()
	path := t.TempDir() + "/f"
	of, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	b := &bufferedFile{f: of, disk: disk}
	want := bytes.Repeat([]byte("0123456789abcdef"), fileBufSize/16*3+7) // three chunks and a bit
	b.Write(want[:100])
	b.Write(want[100:])
	for _, at := range []int64{4, 40, int64(fileBufSize) - 2, int64(len(want)) - 3} {
		if _, err := b.Seek(at, 0); err != nil {
			t.Fatal(err)
		}
		b.Write([]byte("XYZ"))
		copy(want[at:], "XYZ")
	}
	if end, _ := b.Seek(0, 2); end != int64(len(want)) {
		t.Fatalf("SeekEnd at %d, want %d", end, len(want))
	}
	b.Write([]byte("tail"))
	want = append(want, "tail"...)
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file differs from what was written (%d bytes, want %d)", len(got), len(want))
	}
}
