package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// memFile is an in-memory io.WriteSeeker. Writes within cap(b) do not
// allocate, so alloc tests can preallocate.
type memFile struct {
	b   []byte
	off int64
}

func (m *memFile) Write(p []byte) (int, error) {
	end := int(m.off) + len(p)
	if end > len(m.b) {
		if end > cap(m.b) {
			m.b = slices.Grow(m.b, end-len(m.b))
		}
		m.b = m.b[:end]
	}
	copy(m.b[m.off:], p)
	m.off = int64(end)
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += m.off
	case io.SeekEnd:
		off += int64(len(m.b))
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	m.off = off
	return off, nil
}

// stream makes the packets of one tone, like a phone's forked stream.
type stream struct {
	snd  *Sender
	tone *Tone
	pcm  []int16
}

func newStream(ssrc uint32, seq uint16, ts uint32, codec Codec, freq float64) *stream {
	return &stream{NewSender(ssrc, seq, ts, codec), NewTone(freq, 8000), make([]int16, FrameSamples)}
}

func (s *stream) next() []byte {
	s.tone.Next(s.pcm)
	return s.snd.EncodePacket(nil, s.pcm, false)
}

func (s *stream) packets(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = s.next()
	}
	return out
}

// record pushes tx and rx packets interleaved (tx[i] then rx[i]) and
// returns the closed file's channels.
func record(t *testing.T, tx, rx [][]byte) (left, right []int16, w *StereoWAV) {
	t.Helper()
	f := &memFile{}
	w, err := NewStereoWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range max(len(tx), len(rx)) {
		if i < len(tx) && tx[i] != nil {
			if err := w.Push(ChannelTX, tx[i]); err != nil {
				t.Fatalf("push tx %d: %v", i, err)
			}
		}
		if i < len(rx) && rx[i] != nil {
			if err := w.Push(ChannelRX, rx[i]); err != nil {
				t.Fatalf("push rx %d: %v", i, err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	left, right, rate, err := ReadWAV(bytes.NewReader(f.b))
	if err != nil || rate != SampleRate {
		t.Fatalf("ReadWAV: rate %d, %v", rate, err)
	}
	return left, right, w
}

func candidates() []float64 {
	c := make([]float64, ToneFrequencyCount)
	for i := range c {
		c[i] = ToneFrequency(i)
	}
	return c
}

func isSilent(s []int16) bool {
	return !slices.ContainsFunc(s, func(v int16) bool { return v != 0 })
}

func TestWAVToneOnEachChannel(t *testing.T) {
	txFreq, rxFreq := ToneFrequency(3), ToneFrequency(5)
	tx := newStream(1, 100, 5000, PCMA, txFreq).packets(100)
	rx := newStream(2, 60000, 1<<31, PCMU, rxFreq).packets(100)
	left, right, w := record(t, tx, rx)
	if len(left) != 100*FrameSamples || len(right) != len(left) {
		t.Fatalf("%d/%d samples, want %d", len(left), len(right), 100*FrameSamples)
	}
	for name, ch := range map[string]struct {
		pcm  []int16
		want float64
	}{"left": {left, txFreq}, "right": {right, rxFreq}} {
		f, ratio := DominantTone(ch.pcm, SampleRate, candidates())
		if f != ch.want || ratio < 100 {
			t.Errorf("%s: dominant %v Hz (ratio %.0f), want %v Hz", name, f, ratio, ch.want)
		}
	}
	want := ChannelStats{Received: 100, Expected: 100, FirstSeq: 100, LastSeq: 199, AudioSeconds: 2}
	if st := w.Stats(ChannelTX); !reflect.DeepEqual(st, want) {
		t.Errorf("tx stats %+v, want %+v", st, want)
	}
	if st := w.Stats(ChannelRX); st.Received != 100 || st.Lost != 0 || st.FirstSeq != 60000 || st.LastSeq != 60099 {
		t.Errorf("rx stats %+v", st)
	}
}

func TestWAVHeader(t *testing.T) {
	f := &memFile{}
	f.Write([]byte("prefix")) // the WAV starts wherever w is
	w, err := NewStereoWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range newStream(1, 0, 0, PCMA, 1000).packets(3) {
		w.Push(ChannelTX, p)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	b := f.b[6:]
	data := 3 * FrameSamples * 4
	want := wavHeader(2, SampleRate, uint32(data))
	if !bytes.Equal(b[:wavHeaderSize], want[:]) || len(b) != wavHeaderSize+data {
		t.Errorf("header % x, %d bytes; want % x, %d", b[:wavHeaderSize], len(b), want, wavHeaderSize+data)
	}
	le := binary.LittleEndian
	if le.Uint32(b[4:]) != uint32(36+data) || le.Uint32(b[24:]) != 8000 || le.Uint32(b[28:]) != 32000 || le.Uint16(b[32:]) != 4 {
		t.Errorf("RIFF size %d, rate %d, byte rate %d, block %d", le.Uint32(b[4:]), le.Uint32(b[24:]), le.Uint32(b[28:]), le.Uint16(b[32:]))
	}
	if f.off != int64(len(f.b)) {
		t.Errorf("Close left the offset at %d of %d", f.off, len(f.b))
	}
	if err := w.Push(ChannelTX, newStream(1, 0, 0, PCMA, 1000).next()); err == nil || !strings.Contains(err.Error(), "after close") {
		t.Errorf("push after close: %v", err)
	}
}

func TestWAVLossFillsSilence(t *testing.T) {
	tx := newStream(1, 65500, 0, PCMA, 1000).packets(100) // wraps during the loss
	for i := 30; i < 40; i++ {
		tx[i] = nil
	}
	tx[99] = nil // lost at the very end: no trace of it
	left, right, w := record(t, tx, newStream(2, 0, 0, PCMA, 2000).packets(100))
	if len(left) != 100*FrameSamples {
		t.Fatalf("%d samples, want %d: time is not true", len(left), 100*FrameSamples)
	}
	if !isSilent(left[30*FrameSamples : 40*FrameSamples]) {
		t.Error("lost packets are not silence")
	}
	if isSilent(left[29*FrameSamples:30*FrameSamples]) || isSilent(left[40*FrameSamples:41*FrameSamples]) || isSilent(right) {
		t.Error("audio around the gap is missing")
	}
	st := w.Stats(ChannelTX)
	if st.Expected != 99 || st.Received != 89 || st.Lost != 10 || st.FirstSeq != 65500 || st.LastSeq != uint16((65500+98)%65536) {
		t.Errorf("stats %+v", st)
	}
}

func TestWAVDuplicatesAndReorder(t *testing.T) {
	clean := newStream(1, 65530, 4_294_967_000, PCMU, 700).packets(60) // seq and ts wrap
	wantLeft, _, _ := record(t, clean, nil)

	tests := []struct {
		name  string
		order func([][]byte) [][]byte
		want  ChannelStats
	}{
		{"each twice", func(p [][]byte) [][]byte {
			var out [][]byte
			for _, x := range p {
				out = append(out, x, x)
			}
			return out
		}, ChannelStats{Received: 60, Expected: 60, Duplicates: 60}},
		{"pairs swapped", func(p [][]byte) [][]byte {
			out := slices.Clone(p)
			for i := 0; i+1 < len(out); i += 2 {
				out[i], out[i+1] = out[i+1], out[i]
			}
			return out
		}, ChannelStats{Received: 60, Expected: 60, Reordered: 30}},
		{"blocks of 20 reversed", func(p [][]byte) [][]byte {
			out := slices.Clone(p)
			for i := 0; i < len(out); i += 20 {
				slices.Reverse(out[i : i+20])
			}
			return out
		}, ChannelStats{Received: 60, Expected: 60, Reordered: 57}},
		{"late duplicate", func(p [][]byte) [][]byte {
			return append(slices.Clone(p), p[10])
		}, ChannelStats{Received: 60, Expected: 60, Duplicates: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			left, _, w := record(t, tt.order(clean), nil)
			if !slices.Equal(left, wantLeft) {
				t.Error("audio differs from the clean stream")
			}
			st := w.Stats(ChannelTX)
			tt.want.FirstSeq, tt.want.LastSeq = st.FirstSeq, uint16((65530+59)%65536)
			tt.want.AudioSeconds = 1.2 // 60 packets of 20 ms, every one placed
			if !reflect.DeepEqual(st, tt.want) {
				t.Errorf("stats %+v, want %+v", st, tt.want)
			}
		})
	}
}

func TestWAVLatePacketIsDropped(t *testing.T) {
	const n, lateBy = 300, ReorderWindow/FrameSamples + 20 // past the window
	tx := newStream(1, 0, 0, PCMA, 1000).packets(n)
	late := tx[5]
	tx[5] = nil
	at := 5 + lateBy
	tx = append(tx[:at], append([][]byte{late}, tx[at:]...)...)
	left, _, w := record(t, tx, nil)
	if len(left) != n*FrameSamples || !isSilent(left[5*FrameSamples:6*FrameSamples]) {
		t.Errorf("%d samples; late packet's slot silent: %v", len(left), isSilent(left[5*FrameSamples:6*FrameSamples]))
	}
	// Too late for the sequence history as well: not received, its 20 ms lost.
	if st := w.Stats(ChannelTX); st.Late != 1 || st.Received != n-1 || st.Lost != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestWAVTelephoneEventsCountButAddNoAudio(t *testing.T) {
	s := newStream(1, 0, 0, PCMA, 1000)
	var tx [][]byte
	for i := range 20 {
		tx = append(tx, s.next())
		if i == 10 {
			// RFC 4733 events share the audio stream's SSRC and sequence
			// space; the timestamp is the event's start.
			ev := NewSender(1, s.snd.Seq(), s.snd.Timestamp(), TelephoneEventPT)
			tx = append(tx, ev.Packet(nil, []byte{5, 0x0a, 0, 160}, true))
			s.snd.seq++
		}
	}
	left, _, w := record(t, tx, nil)
	if len(left) != 20*FrameSamples {
		t.Errorf("%d samples, want %d", len(left), 20*FrameSamples)
	}
	if st := w.Stats(ChannelTX); st.Received != 21 || st.Expected != 21 || st.Lost != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestWAVSourceChangeContinues(t *testing.T) {
	a := newStream(1, 100, 0, PCMA, 1000).packets(20)
	b := newStream(2, 9000, 123456, PCMA, 1000).packets(20)
	left, _, w := record(t, slices.Concat(a, b), nil)
	if len(left) != 40*FrameSamples {
		t.Errorf("%d samples, want %d", len(left), 40*FrameSamples)
	}
	st := w.Stats(ChannelTX)
	if st.Resyncs != 1 || st.Expected != 40 || st.Received != 40 || st.FirstSeq != 100 || st.LastSeq != 9019 {
		t.Errorf("stats %+v", st)
	}
}

func TestWAVSequenceRestartNeedsTwoPackets(t *testing.T) {
	s := newStream(1, 100, 0, PCMA, 1000)
	tx := s.packets(10)
	stray := NewSender(1, 20000, s.snd.Timestamp()+999999, PCMA).Packet(nil, make([]byte, FrameSamples), false)
	tx = append(tx, stray)
	tx = append(tx, s.packets(10)...) // the stray is ignored
	s.snd.seq = 40000                 // the sender restarts its numbering
	tx = append(tx, s.packets(10)...)
	left, _, w := record(t, tx, nil)
	st := w.Stats(ChannelTX)
	// Late: the stray and the restart's first packet (RFC 3550 A.1
	// probation). Without arrival times the restart continues right after
	// the last packet.
	if st.Late != 2 || st.Resyncs != 1 || st.Received != 29 || st.Expected != 29 {
		t.Errorf("stats %+v", st)
	}
	if len(left) != 29*FrameSamples {
		t.Errorf("%d samples, want %d", len(left), 29*FrameSamples)
	}
}

func TestWAVTimestampGaps(t *testing.T) {
	s := newStream(1, 0, 0, PCMA, 1000)
	tx := s.packets(10)
	s.snd.Skip(2 * SampleRate) // two seconds not sent (muted)
	tx = append(tx, s.packets(10)...)
	left, _, w := record(t, tx, nil)
	if len(left) != 20*FrameSamples+2*SampleRate || !isSilent(left[10*FrameSamples:10*FrameSamples+2*SampleRate]) {
		t.Errorf("%d samples, want %d with 2 s of silence", len(left), 20*FrameSamples+2*SampleRate)
	}
	// No sequence number is missing, yet two seconds of audio are: the
	// metadata says so (issue 11 item 6: "lost": 0 over a 14 s gap).
	st := w.Stats(ChannelTX)
	want := []Gap{{At: 0.2, Seconds: 2, MissingSeq: 0, Why: GapNoPackets}}
	if st.Resyncs != 0 || st.Lost != 100 || !reflect.DeepEqual(st.Gaps, want) || st.AudioSeconds != 0.4 || st.SilentSeconds != 2 {
		t.Errorf("stats %+v; want 100 lost, gaps %+v, 0.4 s of audio and 2 s of silence", st, want)
	}

	// Beyond MaxGap the jump is a restarted clock: no silence is added.
	f := &memFile{}
	w, _ = NewStereoWAV(f)
	w.MaxGap = time.Second
	s = newStream(1, 0, 0, PCMA, 1000)
	for _, p := range s.packets(10) {
		w.Push(ChannelTX, p)
	}
	s.snd.Skip(5 * SampleRate)
	for _, p := range s.packets(10) {
		w.Push(ChannelTX, p)
	}
	w.Close()
	left, _, _, _ = ReadWAV(bytes.NewReader(f.b))
	if len(left) != 20*FrameSamples || w.Stats(ChannelTX).Resyncs != 1 {
		t.Errorf("%d samples, resyncs %d; want %d, 1", len(left), w.Stats(ChannelTX).Resyncs, 20*FrameSamples)
	}
	// Backwards: a timestamp behind what is written, with sequence going on.
	f = &memFile{}
	w, _ = NewStereoWAV(f)
	s = newStream(1, 0, 1_000_000, PCMA, 1000)
	for _, p := range s.packets(40) {
		w.Push(ChannelTX, p)
	}
	s.snd.ts = 0
	for _, p := range s.packets(10) {
		w.Push(ChannelTX, p)
	}
	w.Close()
	left, _, _, _ = ReadWAV(bytes.NewReader(f.b))
	if len(left) != 50*FrameSamples || w.Stats(ChannelTX).Resyncs != 1 {
		t.Errorf("%d samples, resyncs %d; want %d, 1", len(left), w.Stats(ChannelTX).Resyncs, 50*FrameSamples)
	}
}

func TestWAVChannelAlignment(t *testing.T) {
	const delay = 50 // rx starts one second after tx
	tx := newStream(1, 0, 0, PCMA, ToneFrequency(0)).packets(150)
	rx := newStream(2, 0, 777, PCMA, ToneFrequency(1)).packets(100)

	t.Run("Push", func(t *testing.T) {
		left, right, _ := record(t, tx, append(make([][]byte, delay), rx...))
		check(t, left, right, delay)
	})
	t.Run("PushAt", func(t *testing.T) {
		f := &memFile{}
		w, _ := NewStereoWAV(f)
		// Arrival times are whatever the lab clock says; the first packet
		// defines sample 0. Here rx's packets come in bursts, so Push's
		// guess would be off, but arrival times are right.
		at := func(i int) time.Duration { return 3*time.Second + time.Duration(i+1)*20*time.Millisecond }
		for i := range tx {
			w.PushAt(ChannelTX, tx[i], at(i))
			if i%10 == 9 && i >= delay {
				for j := i - 9 - delay; j <= i-delay; j++ {
					w.PushAt(ChannelRX, rx[j], at(j+delay))
				}
			}
		}
		w.Close()
		left, right, _, _ := ReadWAV(bytes.NewReader(f.b))
		check(t, left, right, delay)
	})
}

func check(t *testing.T, left, right []int16, delay int) {
	t.Helper()
	if len(left) != 150*FrameSamples || len(right) != len(left) {
		t.Fatalf("%d/%d samples, want %d", len(left), len(right), 150*FrameSamples)
	}
	if !isSilent(right[:delay*FrameSamples]) || isSilent(right[delay*FrameSamples:(delay+1)*FrameSamples]) {
		t.Error("rx does not start exactly one second in")
	}
	if f, _ := DominantTone(right[delay*FrameSamples:], SampleRate, candidates()); f != ToneFrequency(1) {
		t.Errorf("rx tone %v", f)
	}
}

func TestWAVStreamsWithBoundedMemory(t *testing.T) {
	f := &memFile{}
	w, _ := NewStereoWAV(f)
	s := newStream(1, 0, 0, PCMA, 1000)
	for range 500 {
		w.Push(ChannelTX, s.next())
	}
	if held := 500*FrameSamples - (len(f.b)-wavHeaderSize)/4; held > ReorderWindow {
		t.Errorf("%d samples held back, window is %d", held, ReorderWindow)
	}
	if w.Samples() != 500*FrameSamples {
		t.Errorf("Samples() = %d", w.Samples())
	}
}

type failWriter struct{ memFile }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(f.b) >= wavHeaderSize {
		return 0, errors.New("disk full")
	}
	return f.memFile.Write(p)
}

func TestWAVErrors(t *testing.T) {
	f := &memFile{}
	w, _ := NewStereoWAV(f)
	good := newStream(1, 0, 0, PCMA, 1000).next()
	for _, tc := range []struct {
		ch   int
		pkt  []byte
		want string
	}{
		{2, good, "media: wav: channel 2 is neither 0 (tx) nor 1 (rx)"},
		{-1, good, "channel -1"},
		{0, []byte{0x80}, "media: rtp packet of 1 bytes"},
		{0, NewSender(1, 0, 0, PCMA).Packet(nil, make([]byte, ReorderWindow+1), false), fmt.Sprintf("payload of %d samples exceeds", ReorderWindow+1)},
	} {
		if err := w.Push(tc.ch, tc.pkt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Push(%d, %d bytes) = %v, want %q", tc.ch, len(tc.pkt), err, tc.want)
		}
	}
	if st := w.Stats(ChannelTX); !reflect.DeepEqual(st, ChannelStats{}) {
		t.Errorf("refused packets changed the stats: %+v", st)
	}
	if st := w.Stats(5); !reflect.DeepEqual(st, ChannelStats{}) {
		t.Errorf("Stats(5) = %+v", st)
	}

	fw := &failWriter{}
	w, err := NewStereoWAV(fw)
	if err != nil {
		t.Fatal(err)
	}
	s := newStream(1, 0, 0, PCMA, 1000)
	var first error
	for range 2 * ReorderWindow / FrameSamples {
		if err := w.Push(ChannelTX, s.next()); err != nil {
			first = err
			break
		}
	}
	if first == nil || !strings.Contains(first.Error(), "disk full") {
		t.Fatalf("write error not reported: %v", first)
	}
	if err := w.Push(ChannelTX, s.next()); err != first {
		t.Errorf("error is not sticky: %v", err)
	}
	if err := w.Close(); err != first {
		t.Errorf("Close = %v", err)
	}
	if _, err := NewStereoWAV(&failWriter{memFile{b: make([]byte, 100)}}); err == nil {
		t.Error("NewStereoWAV ignored a failed header write")
	}
}

func TestReadWAV(t *testing.T) {
	var mono bytes.Buffer
	if err := WriteWAV(&mono, 16000, []int16{1, -2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	l, r, rate, err := ReadWAV(bytes.NewReader(mono.Bytes()))
	if err != nil || rate != 16000 || !slices.Equal(l, []int16{1, -2, 3}) || r != nil {
		t.Errorf("mono: %v %v %d %v", l, r, rate, err)
	}
	var stereo bytes.Buffer
	WriteWAV(&stereo, 8000, []int16{1, 2}, []int16{-1, -2})
	// A LIST chunk of odd size before data must be skipped, with its pad byte.
	withList := slices.Concat(stereo.Bytes()[:36], []byte("LIST\x03\x00\x00\x00abc\x00"), stereo.Bytes()[36:])
	l, r, _, err = ReadWAV(bytes.NewReader(withList))
	if err != nil || !slices.Equal(l, []int16{1, 2}) || !slices.Equal(r, []int16{-1, -2}) {
		t.Errorf("stereo with LIST: %v %v %v", l, r, err)
	}
	// A StereoWAV never closed still reads, to the end.
	f := &memFile{}
	w, _ := NewStereoWAV(f)
	for _, p := range newStream(1, 0, 0, PCMA, 1000).packets(100) {
		w.Push(ChannelTX, p)
	}
	if l, _, _, err := ReadWAV(bytes.NewReader(f.b)); err != nil || len(l) < 100*FrameSamples-ReorderWindow {
		t.Errorf("unclosed: %d samples, %v", len(l), err)
	}

	hdr := func(mut func(b []byte)) []byte {
		b := slices.Clone(stereo.Bytes())
		mut(b)
		return b
	}
	le := binary.LittleEndian
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":         {nil, "no RIFF/WAVE header"},
		"not riff":      {[]byte("RIFX0000WAVE"), "no RIFF/WAVE header"},
		"no data":       {stereo.Bytes()[:36], "no data chunk"},
		"float":         {hdr(func(b []byte) { le.PutUint16(b[20:], 3) }), "format 3 is not PCM"},
		"5 channels":    {hdr(func(b []byte) { le.PutUint16(b[22:], 5) }), "5 channels"},
		"8 bit":         {hdr(func(b []byte) { le.PutUint16(b[34:], 8) }), "8 bits per sample"},
		"short fmt":     {hdr(func(b []byte) { le.PutUint32(b[16:], 8) }), "fmt chunk of 8 bytes"},
		"data too long": {hdr(func(b []byte) { le.PutUint32(b[40:], 400) }), "data chunk claims 400 bytes, 8 present"},
		"odd data":      {hdr(func(b []byte) { le.PutUint32(b[40:], 6) }), "not whole 2-channel frames"},
		"data first":    {slices.Concat(stereo.Bytes()[:12], stereo.Bytes()[36:]), "data chunk before fmt chunk"},
	} {
		if _, _, _, err := ReadWAV(bytes.NewReader(tc.b)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if err := WriteWAV(io.Discard, 8000, []int16{1}, []int16{}); err == nil {
		t.Error("WriteWAV accepted channels of different lengths")
	}
}

// A gap of lost packets names how many sequence numbers it skipped, and
// the packets that come late take their place out of it.
func TestWAVGapsOfLoss(t *testing.T) {
	s := newStream(1, 0, 0, PCMA, 1000)
	pkts := s.packets(60)
	var tx [][]byte
	tx = append(tx, pkts[:10]...)
	tx = append(tx, pkts[30:32]...)     // 20 missing: 400 ms …
	tx = append(tx, pkts[14], pkts[15]) // … two of which come late, within the reorder window
	tx = append(tx, pkts[32:]...)
	_, _, w := record(t, tx, nil)
	st := w.Stats(ChannelTX)
	want := []Gap{
		{At: 0.2, Seconds: 0.08, MissingSeq: 4, Why: GapLoss},
		{At: 0.32, Seconds: 0.28, MissingSeq: 14, Why: GapLoss},
	}
	if st.Lost != 18 || !reflect.DeepEqual(st.Gaps, want) {
		t.Fatalf("stats %+v; want 18 lost in gaps %+v", st, want)
	}
	if st.AudioSeconds != 0.84 || st.SilentSeconds != 0.36 {
		t.Errorf("audio %v s and silence %v s, want 0.84 and 0.36 (the file's 1.2 s)", st.AudioSeconds, st.SilentSeconds)
	}
}

// A channel that lags the other by 2 s (its sender stalled on a loaded
// host, then caught up) lands in place: no resync, nothing lost, the tone
// unbroken (issue 10). While the channels keep pace the file trails the
// newest audio by ReorderHold only, so a killed process loses little.
func TestWAVLaggingChannelLandsInPlace(t *testing.T) {
	// rx keeps pace for 1 s, then stalls for 2 s while tx goes on, then
	// catches up at once and keeps pace again.
	const n, stall, lag = 400, 50, 100
	tx := newStream(1, 0, 0, PCMA, 1000).packets(n)
	rx := newStream(2, 0, 0, PCMA, 500).packets(n)
	f := &memFile{}
	w, err := NewStereoWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	push := func(ch int, p []byte) {
		if err := w.Push(ch, p); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		push(ChannelTX, tx[i])
		switch {
		case i < stall || i > stall+lag:
			push(ChannelRX, rx[i])
		case i == stall+lag:
			// Written up to the lagging channel's end less the hold.
			if held := stall*FrameSamples - (len(f.b)-wavHeaderSize)/4; held != ReorderHold {
				t.Errorf("in the stall: %d samples held behind the lagging channel, want %d", held, ReorderHold)
			}
			for j := stall; j <= i; j++ {
				push(ChannelRX, rx[j])
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for ch, name := range []string{"tx", "rx"} {
		if st := w.Stats(ch); st.Resyncs != 0 || st.Lost != 0 || st.Late != 0 || st.Received != n || len(st.Gaps) != 0 {
			t.Errorf("%s: %+v", name, st)
		}
	}
	left, right, _, err := ReadWAV(bytes.NewReader(f.b))
	if err != nil || len(left) != n*FrameSamples || len(right) != n*FrameSamples {
		t.Fatalf("%d/%d samples, %v", len(left), len(right), err)
	}
	for _, at := range []int{stall + lag/2, n - 10} {
		if got, _ := DominantTone(right[at*FrameSamples:(at+10)*FrameSamples], SampleRate, []float64{500, 1000}); got != 500 {
			t.Errorf("rx at packet %d: %g Hz", at, got)
		}
	}
}
