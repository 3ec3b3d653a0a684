package media

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/zaf/g711"
)

// Audio constants shared by every stream in the lab. G.711 is 8 kHz, one
// byte per sample, so an RTP timestamp step equals the payload length
// (RFC 3551 §4.5.14).
const (
	// SampleRate is the sampling rate of G.711 and of every WAV we write.
	SampleRate = 8000
	// FrameSamples is one 20 ms packet (a=ptime:20).
	FrameSamples = 160
	// TelephoneEventPT is the dynamic payload type we use for RFC 4733
	// telephone-event (DTMF). It is untyped so it compares with both Codec
	// and uint8.
	TelephoneEventPT = 101
)

// Codec is a G.711 variant named by its static RTP payload type
// (RFC 3551 §6). Header.PT uses the same type, so other payload types
// (telephone-event 101, comfort noise 13, …) are representable but not
// Valid.
type Codec uint8

// The two codecs of the lab.
const (
	PCMU Codec = 0 // G.711 µ-law
	PCMA Codec = 8 // G.711 A-law
)

// String returns the rtpmap encoding name: "PCMA", "PCMU",
// "telephone-event", or "pt<N>" for anything else.
func (c Codec) String() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	case TelephoneEventPT:
		return "telephone-event"
	}
	return "pt" + strconv.Itoa(int(c))
}

// Valid reports whether c is PCMA or PCMU.
func (c Codec) Valid() bool { return c == PCMA || c == PCMU }

// ParseCodec accepts "PCMA" or "PCMU" in any case.
func ParseCodec(name string) (Codec, error) {
	switch strings.ToUpper(name) {
	case "PCMA":
		return PCMA, nil
	case "PCMU":
		return PCMU, nil
	}
	return 0, fmt.Errorf("media: codec %q is neither PCMA nor PCMU", name)
}

// EncodeFrame encodes pcm into dst, reusing dst's capacity (it allocates only
// when cap(dst) < len(pcm)), and returns dst[:len(pcm)]. A codec that is not
// Valid encodes nothing and returns dst[:0]; check Valid where the codec
// comes from outside.
func (c Codec) EncodeFrame(dst []byte, pcm []int16) []byte {
	if !c.Valid() {
		return dst[:0]
	}
	dst = grow(dst, len(pcm))
	if c == PCMA {
		for i, v := range pcm {
			dst[i] = g711.EncodeAlawFrame(v)
		}
	} else {
		for i, v := range pcm {
			dst[i] = g711.EncodeUlawFrame(v)
		}
	}
	return dst
}

// DecodeFrame decodes payload into dst, reusing dst's capacity, and returns
// dst[:len(payload)]. A codec that is not Valid returns dst[:0].
func (c Codec) DecodeFrame(dst []int16, payload []byte) []int16 {
	if !c.Valid() {
		return dst[:0]
	}
	dst = grow(dst, len(payload))
	c.decodeInto(dst, payload)
	return dst
}

// decodeInto decodes len(payload) samples into dst, which must be long
// enough; c must be Valid.
func (c Codec) decodeInto(dst []int16, payload []byte) {
	if c == PCMA {
		for i, b := range payload {
			dst[i] = g711.DecodeAlawFrame(b)
		}
		return
	}
	for i, b := range payload {
		dst[i] = g711.DecodeUlawFrame(b)
	}
}

// decodeSample decodes one byte; c must be Valid.
func (c Codec) decodeSample(b byte) int16 {
	if c == PCMA {
		return g711.DecodeAlawFrame(b)
	}
	return g711.DecodeUlawFrame(b)
}

// grow returns b[:n], allocating only when cap(b) < n.
func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}
