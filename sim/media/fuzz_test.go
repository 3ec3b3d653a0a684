package media

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// addSDPSeeds seeds a fuzz target with every SDP vector under testdata.
func addSDPSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "sdp", "*", "*.sdp"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
}

func FuzzParseCall(f *testing.F) {
	addSDPSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseCall(body)
		if err != nil {
			return
		}
		// Whatever parses can be answered, and the answer parses back.
		if m.Direction == "" || !m.Codec.Valid() || !m.Remote.IsValid() {
			t.Fatalf("ParseCall returned %+v without error", m)
		}
		var answer []byte
		if m.Secure {
			// Spec §1.3: an SRTP offer is answered with a key of its suite and tag.
			key, kerr := NewSDESKey(m.Key.Tag, m.Key.Suite)
			if kerr != nil {
				t.Fatal(kerr)
			}
			answer, err = CallAnswerSRTP(m, 1, netip.MustParseAddr("127.20.1.1"), 40000, SecureMedia{Key: key, SSRC: 7, CNAME: "x"})
		} else {
			answer, err = CallAnswer(m, 1, netip.MustParseAddr("127.20.1.1"), 40000)
		}
		if err != nil {
			t.Fatalf("CallAnswer(%+v): %v", m, err)
		}
		if back, err := ParseCall(answer); err != nil || back.Codec != m.Codec || back.Secure != m.Secure {
			t.Fatalf("answer does not parse back: %+v, %v\n%s", back, err, answer)
		}
	})
}

func FuzzParseRecordingOffer(f *testing.F) {
	addSDPSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := ParseRecordingOffer(body)
		if err != nil {
			return
		}
		if len(o.Codecs) == 0 || o.TX.Port() == 0 || o.RX.Port() == 0 {
			t.Fatalf("ParseRecordingOffer returned %+v without error", o)
		}
		b, err := BuildRecordingOffer(o)
		if err != nil {
			return // say, an offer whose o= address is an unspecified zone-less IPv6
		}
		if _, err := ParseRecordingOffer(b); err != nil {
			t.Fatalf("rebuilt offer does not parse: %v\n%s", err, b)
		}
		a, err := BuildRecordingAnswer(o, 1, netip.MustParseAddr("127.20.1.1"), 7400, 7402, o.Codecs[0])
		if err != nil {
			t.Fatal(err)
		}
		if c, err := ParseRecordingAnswer(a); err != nil || c != o.Codecs[0] {
			t.Fatalf("answer: %v, %v", c, err)
		}
	})
}

func FuzzParseRecordingAnswer(f *testing.F) {
	addSDPSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseRecordingAnswer(body)
		if err == nil && !c.Valid() {
			t.Fatalf("codec %v without error", c)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add(NewSender(1, 2, 3, PCMA).Packet(nil, []byte("abc"), true))
	f.Add(packet(0xb1, 8, 9, 1000, 0xaaaa, 0, 0, 0, 5, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0, 'p', 'q', 0, 2))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		h, payload, err := ParseHeader(pkt)
		if err != nil {
			return
		}
		if len(payload) > len(pkt)-HeaderSize || h.PT > 127 {
			t.Fatalf("%+v with %d payload bytes from %d", h, len(payload), len(pkt))
		}
		out, err := NewForker(9, 9).Rewrite(nil, pkt)
		if err != nil || len(out) != len(pkt) {
			t.Fatalf("Rewrite of a parsed packet: %v", err)
		}
	})
}

// FuzzStereoWAVPush feeds a stream of records (channel, arrival, packet)
// and checks that nothing panics, the file stays well formed and its
// length stays within what the timestamps allow.
func FuzzStereoWAVPush(f *testing.F) {
	var seed bytes.Buffer
	tx, rx := newStream(1, 65530, 1<<32-200, PCMA, 1000), newStream(2, 0, 0, PCMU, 2000)
	for i := range 40 {
		for ch, p := range [][]byte{tx.next(), rx.next()} {
			if i%7 == 3 {
				continue
			}
			seed.WriteByte(byte(ch))
			seed.WriteByte(byte(i))
			seed.WriteByte(byte(len(p)))
			seed.Write(p)
		}
	}
	f.Add(seed.Bytes())
	f.Add([]byte{0, 0, 12, 0x80, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		file := &memFile{}
		w, err := NewStereoWAV(file)
		if err != nil {
			t.Fatal(err)
		}
		w.MaxGap = 100 * time.Millisecond // keep inserted silence small
		var pushed int64
		useAt := len(data) > 0 && data[0]&0x80 != 0
		for len(data) >= 3 {
			ch, at, n := int(data[0]&1), time.Duration(data[1])*20*time.Millisecond, int(data[2])
			data = data[3:]
			n = min(n, len(data))
			pkt := data[:n]
			data = data[n:]
			if useAt {
				err = w.PushAt(ch, pkt, at)
			} else {
				err = w.Push(ch, pkt)
			}
			if err == nil && len(pkt) >= HeaderSize {
				pushed += int64(len(pkt))
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		left, right, rate, err := ReadWAV(bytes.NewReader(file.b))
		if err != nil || rate != SampleRate || len(left) != len(right) {
			t.Fatalf("ReadWAV: %d/%d samples at %d, %v", len(left), len(right), rate, err)
		}
		if got := int64(binary.LittleEndian.Uint32(file.b[40:])); got != int64(len(file.b)-wavHeaderSize) {
			t.Fatalf("data size %d, file has %d", got, len(file.b)-wavHeaderSize)
		}
		// Each packet adds at most its samples, one gap of MaxGap or one
		// reorder window, plus the arrival span.
		limit := pushed + int64(len(file.b)/1000+2)*(800+ReorderWindow) + 256*160
		if int64(len(left)) > limit {
			t.Fatalf("%d samples from %d pushed bytes", len(left), pushed)
		}
		for ch := range 2 {
			// Every packet counted as received has its own sequence
			// number within the span that Expected counts.
			if st := w.Stats(ch); st.Lost < 0 || st.Received > st.Expected {
				t.Fatalf("stats %+v", st)
			}
		}
	})
}

func FuzzReadWAV(f *testing.F) {
	var b bytes.Buffer
	WriteWAV(&b, 8000, []int16{1, 2, 3}, []int16{4, 5, 6})
	f.Add(b.Bytes())
	b.Reset()
	WriteWAV(&b, 8000, []int16{1, 2, 3}, nil)
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		l, r, _, err := ReadWAV(bytes.NewReader(data))
		if err == nil && r != nil && len(l) != len(r) {
			t.Fatalf("channels of %d and %d samples", len(l), len(r))
		}
	})
}
