package media

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/pion/rtp"
)

func TestSenderPacket(t *testing.T) {
	s := NewSender(0xdeadbeef, 65534, 0xffffff00, PCMA)
	payload := bytes.Repeat([]byte{0xd5}, FrameSamples)
	buf := make([]byte, 0, 1500)
	want := []Header{
		{PT: PCMA, Seq: 65534, TS: 0xffffff00, SSRC: 0xdeadbeef, Marker: true},
		{PT: PCMA, Seq: 65535, TS: 0xffffffa0, SSRC: 0xdeadbeef},
		{PT: PCMA, Seq: 0, TS: 0x40, SSRC: 0xdeadbeef}, // both wrap
	}
	for i, w := range want {
		pkt := s.Packet(buf, payload, i == 0)
		if len(pkt) != HeaderSize+FrameSamples || &pkt[0] != &buf[:1][0] {
			t.Fatalf("packet %d: %d bytes, reused buffer %v", i, len(pkt), &pkt[0] == &buf[:1][0])
		}
		h, p, err := ParseHeader(pkt)
		if err != nil || h != w || !bytes.Equal(p, payload) {
			t.Errorf("packet %d: %+v, %d payload bytes, %v; want %+v", i, h, len(p), err, w)
		}
		var pion rtp.Packet
		if err := pion.Unmarshal(pkt); err != nil || pion.Version != 2 || pion.SequenceNumber != w.Seq || pion.Timestamp != w.TS {
			t.Errorf("pion reads packet %d as %v, %v", i, pion.Header, err)
		}
	}
	if s.Seq() != 1 || s.Timestamp() != 0x40+FrameSamples {
		t.Errorf("next seq %d ts %#x", s.Seq(), s.Timestamp())
	}
	s.Skip(8000)
	if s.Timestamp() != 0x40+FrameSamples+8000 {
		t.Errorf("Skip: ts %#x", s.Timestamp())
	}
}

func TestSenderEncodePacket(t *testing.T) {
	pcm := make([]int16, FrameSamples)
	NewTone(1000, 5000).Next(pcm)
	for _, c := range []Codec{PCMA, PCMU} {
		a := NewSender(1, 10, 100, c)
		b := NewSender(1, 10, 100, c)
		got := a.EncodePacket(nil, pcm, true)
		want := b.Packet(nil, c.EncodeFrame(nil, pcm), true)
		if !bytes.Equal(got, want) {
			t.Errorf("%v: EncodePacket differs from Packet(EncodeFrame)", c)
		}
		if a.Seq() != 11 || a.Timestamp() != 100+FrameSamples {
			t.Errorf("%v: next seq %d ts %d", c, a.Seq(), a.Timestamp())
		}
	}
}

// packet builds a raw RTP packet by hand for parser tests.
func packet(first byte, pt byte, seq uint16, ts, ssrc uint32, rest ...byte) []byte {
	b := []byte{first, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return append(b, rest...)
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name    string
		pkt     []byte
		want    Header
		payload string
		err     string
	}{
		{"plain", packet(0x80, 8, 7, 160, 42, 'a', 'b'), Header{PT: PCMA, Seq: 7, TS: 160, SSRC: 42}, "ab", ""},
		{"marker and event", packet(0x80, 0x80|101, 7, 160, 42, 1, 2, 3, 4), Header{PT: 101, Seq: 7, TS: 160, SSRC: 42, Marker: true}, "\x01\x02\x03\x04", ""},
		{"empty payload", packet(0x80, 0, 1, 2, 3), Header{PT: PCMU, Seq: 1, TS: 2, SSRC: 3}, "", ""},
		{"two csrcs", packet(0x82, 0, 1, 2, 3, 0, 0, 0, 9, 0, 0, 0, 8, 'x'), Header{PT: PCMU, Seq: 1, TS: 2, SSRC: 3}, "x", ""},
		{"extension", packet(0x90, 0, 1, 2, 3, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0, 'x'), Header{PT: PCMU, Seq: 1, TS: 2, SSRC: 3}, "x", ""},
		{"padding", packet(0xa0, 0, 1, 2, 3, 'x', 'y', 0, 0, 3), Header{PT: PCMU, Seq: 1, TS: 2, SSRC: 3}, "xy", ""},
		{"short", []byte{0x80, 0, 1}, Header{}, "", "media: rtp packet of 3 bytes is shorter than the 12-byte header"},
		{"version 1", packet(0x40, 0, 1, 2, 3), Header{}, "", "media: rtp version 1, want 2"},
		{"csrc past end", packet(0x83, 0, 1, 2, 3, 0, 0, 0, 1), Header{}, "", "shorter than its 24-byte header with 3 CSRCs"},
		{"extension header cut", packet(0x90, 0, 1, 2, 3, 0xbe), Header{}, "", "ends inside its header extension"},
		{"extension past end", packet(0x90, 0, 1, 2, 3, 0xbe, 0xde, 0, 2, 0, 0, 0, 0), Header{}, "", "header extension runs to byte 24, packet has 20"},
		{"padding zero", packet(0xa0, 0, 1, 2, 3, 'x', 0), Header{}, "", "padding of 0 bytes"},
		{"padding too long", packet(0xa0, 0, 1, 2, 3, 'x', 9), Header{}, "", "padding of 9 bytes does not fit a 2-byte payload"},
		{"padding without payload", packet(0xa0, 0, 1, 2, 3), Header{}, "", "padding of 3 bytes does not fit a 0-byte payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, p, err := ParseHeader(tt.pkt)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || h != tt.want || string(p) != tt.payload {
				t.Fatalf("got %+v %q %v, want %+v %q", h, p, err, tt.want, tt.payload)
			}
			var pion rtp.Packet
			if err := pion.Unmarshal(tt.pkt); err != nil || string(pion.Payload) != tt.payload {
				t.Errorf("pion disagrees: payload %q, %v", pion.Payload, err)
			}
		})
	}
}

func TestForkerRewrite(t *testing.T) {
	f := NewForker(0xf0f0, 65535)
	orig := NewSender(0x1111, 5000, 1_000_000, PCMA)
	payload := make([]byte, FrameSamples)
	buf := make([]byte, 0, 1500)
	type step struct {
		in   []byte
		want Header
	}
	var steps []step
	add := func(pkt []byte, want Header) { steps = append(steps, step{bytes.Clone(pkt), want}) }

	add(orig.Packet(nil, payload, true), Header{PT: PCMA, Seq: 65535, TS: 1_000_000, SSRC: 0xf0f0, Marker: true})
	add(orig.Packet(nil, payload, false), Header{PT: PCMA, Seq: 0, TS: 1_000_160, SSRC: 0xf0f0})
	orig.Packet(nil, payload, false) // lost upstream: a timestamp gap, no sequence gap
	add(orig.Packet(nil, payload, false), Header{PT: PCMA, Seq: 1, TS: 1_000_480, SSRC: 0xf0f0})
	// The original changes source (a transfer): the forked stream goes on
	// right after the last packet, marked.
	other := NewSender(0x2222, 10, 77, PCMA)
	add(other.Packet(nil, payload, false), Header{PT: PCMA, Seq: 2, TS: 1_000_640, SSRC: 0xf0f0, Marker: true})
	add(other.Packet(nil, payload, false), Header{PT: PCMA, Seq: 3, TS: 1_000_800, SSRC: 0xf0f0})
	// A telephone-event keeps its timestamp offset too.
	ev := packet(0x80, TelephoneEventPT, other.Seq(), other.Timestamp(), 0x2222, 1, 0x0a, 0, 160)
	add(ev, Header{PT: TelephoneEventPT, Seq: 4, TS: 1_000_960, SSRC: 0xf0f0})

	for i, s := range steps {
		out, err := f.Rewrite(buf, s.in)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		h, p, err := ParseHeader(out)
		if err != nil || h != s.want {
			t.Errorf("step %d: %+v %v, want %+v", i, h, err, s.want)
		}
		_, inPayload, _ := ParseHeader(s.in)
		if !bytes.Equal(p, inPayload) {
			t.Errorf("step %d: payload changed", i)
		}
	}
	if _, err := f.Rewrite(buf, []byte{1, 2, 3}); err == nil {
		t.Error("Rewrite accepted a 3-byte packet")
	}
	if f.Seq() != 5 || f.SSRC() != 0xf0f0 {
		t.Errorf("refused packet changed the forker: seq %d ssrc %#x", f.Seq(), f.SSRC())
	}
}

func TestForkerKeepsExtrasAndDoesNotTouchInput(t *testing.T) {
	in := packet(0xb1, 8, 9, 1000, 0xaaaa, 0, 0, 0, 5, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0, 'p', 'q', 0, 2)
	keep := bytes.Clone(in)
	out, err := NewForker(0xbbbb, 100).Rewrite(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in, keep) {
		t.Error("Rewrite modified its input")
	}
	want := bytes.Clone(in)
	binary.BigEndian.PutUint16(want[2:], 100)
	binary.BigEndian.PutUint32(want[8:], 0xbbbb)
	if !bytes.Equal(out, want) {
		t.Errorf("got  % x\nwant % x", out, want)
	}
}
