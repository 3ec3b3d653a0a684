package media

import (
	"io"
	"testing"
)

func BenchmarkToneNext(b *testing.B) {
	tone := NewTone(1000, 8000)
	pcm := make([]int16, FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		tone.Next(pcm)
	}
}

func BenchmarkEncodePCMA(b *testing.B) {
	pcm := make([]int16, FrameSamples)
	NewTone(1000, 8000).Next(pcm)
	dst := make([]byte, FrameSamples)
	b.ReportAllocs()
	b.SetBytes(FrameSamples * 2)
	for b.Loop() {
		dst = PCMA.EncodeFrame(dst, pcm)
	}
}

func BenchmarkDecodePCMU(b *testing.B) {
	payload := make([]byte, FrameSamples)
	pcm := make([]int16, FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		pcm = PCMU.DecodeFrame(pcm, payload)
	}
}

func BenchmarkSenderEncodePacket(b *testing.B) {
	snd := NewSender(1, 0, 0, PCMA)
	pcm := make([]int16, FrameSamples)
	buf := make([]byte, 0, 1500)
	b.ReportAllocs()
	for b.Loop() {
		buf = snd.EncodePacket(buf, pcm, false)
	}
}

func BenchmarkParseHeader(b *testing.B) {
	pkt := NewSender(1, 0, 0, PCMA).Packet(nil, make([]byte, FrameSamples), false)
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = ParseHeader(pkt)
	}
}

func BenchmarkForkerRewrite(b *testing.B) {
	snd := NewSender(1, 0, 0, PCMA)
	f := NewForker(2, 0)
	payload := make([]byte, FrameSamples)
	in := make([]byte, 0, 1500)
	out := make([]byte, 0, 1500)
	b.ReportAllocs()
	for b.Loop() {
		in = snd.Packet(in, payload, false)
		out, _ = f.Rewrite(out, in)
	}
}

// discardSeeker is an io.WriteSeeker that keeps nothing.
type discardSeeker struct{ off int64 }

func (d *discardSeeker) Write(p []byte) (int, error) { d.off += int64(len(p)); return len(p), nil }
func (d *discardSeeker) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekCurrent {
		off += d.off
	}
	d.off = off
	return off, nil
}

// BenchmarkStereoWAVPush is one packet per channel: 20 ms of a call.
func BenchmarkStereoWAVPush(b *testing.B) {
	w, _ := NewStereoWAV(&discardSeeker{})
	tx := NewSender(1, 0, 0, PCMA)
	rx := NewSender(2, 0, 0, PCMU)
	payload := make([]byte, FrameSamples)
	tbuf := make([]byte, 0, 1500)
	rbuf := make([]byte, 0, 1500)
	b.ReportAllocs()
	for b.Loop() {
		tbuf = tx.Packet(tbuf, payload, false)
		rbuf = rx.Packet(rbuf, payload, false)
		_ = w.Push(ChannelTX, tbuf)
		_ = w.Push(ChannelRX, rbuf)
	}
}

func BenchmarkGoertzelSecond(b *testing.B) {
	pcm := make([]int16, SampleRate)
	NewTone(1000, 8000).Next(pcm)
	b.ReportAllocs()
	for b.Loop() {
		Goertzel(pcm, SampleRate, 1000)
	}
}
