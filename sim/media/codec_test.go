package media

import (
	"math"
	"testing"
)

func TestCodecString(t *testing.T) {
	for c, want := range map[Codec]string{PCMA: "PCMA", PCMU: "PCMU", TelephoneEventPT: "telephone-event", 18: "pt18"} {
		if got := c.String(); got != want {
			t.Errorf("Codec(%d).String() = %q, want %q", uint8(c), got, want)
		}
	}
	for _, name := range []string{"PCMA", "pcma", "PCMU", "Pcmu"} {
		if _, err := ParseCodec(name); err != nil {
			t.Errorf("ParseCodec(%q): %v", name, err)
		}
	}
	if _, err := ParseCodec("G729"); err == nil || err.Error() != `media: codec "G729" is neither PCMA nor PCMU` {
		t.Errorf("ParseCodec(G729) error %v", err)
	}
}

// G.711 is 8-bit logarithmic: the error of a round trip grows with the
// magnitude, by at most 1/32 of it plus a small step near zero.
func TestCodecRoundTrip(t *testing.T) {
	pcm := make([]int16, 0, 65536)
	for v := math.MinInt16; v <= math.MaxInt16; v++ {
		pcm = append(pcm, int16(v))
	}
	for _, c := range []Codec{PCMA, PCMU} {
		enc := c.EncodeFrame(nil, pcm)
		dec := c.DecodeFrame(nil, enc)
		if len(enc) != len(pcm) || len(dec) != len(pcm) {
			t.Fatalf("%v: lengths %d, %d, want %d", c, len(enc), len(dec), len(pcm))
		}
		for i, v := range pcm {
			if diff := math.Abs(float64(dec[i]) - float64(v)); diff > math.Abs(float64(v))/32+64 {
				t.Fatalf("%v: %d decodes to %d", c, v, dec[i])
			}
		}
	}
}

func TestCodecReusesDst(t *testing.T) {
	dst := make([]byte, 3, FrameSamples)
	pcm := make([]int16, FrameSamples)
	out := PCMA.EncodeFrame(dst, pcm)
	if &out[0] != &dst[:1][0] || len(out) != FrameSamples {
		t.Error("EncodeFrame did not reuse dst's capacity")
	}
	if got := PCMA.EncodeFrame(dst, pcm[:2]); len(got) != 2 {
		t.Errorf("EncodeFrame of 2 samples returned %d bytes", len(got))
	}
	if got := Codec(18).EncodeFrame(dst, pcm); len(got) != 0 {
		t.Errorf("invalid codec encoded %d bytes", len(got))
	}
	if got := Codec(18).DecodeFrame(make([]int16, 4), []byte{1, 2}); len(got) != 0 {
		t.Errorf("invalid codec decoded %d samples", len(got))
	}
	// Silence encodes to the codecs' idle patterns.
	if a, u := PCMA.EncodeFrame(nil, []int16{0})[0], PCMU.EncodeFrame(nil, []int16{0})[0]; a != 0xd5 || u != 0xff {
		t.Errorf("silence encodes to A-law %#x, µ-law %#x; want 0xd5, 0xff", a, u)
	}
}
