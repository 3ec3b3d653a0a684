package media

import (
	"encoding/binary"
	"fmt"

	"github.com/pion/rtp"
)

// HeaderSize is the size of a fixed RTP header without CSRCs or extension
// (RFC 3550 §5.1); Sender writes exactly this much before the payload.
const HeaderSize = 12

// Header is the part of an RTP header the lab looks at.
type Header struct {
	PT     Codec // payload type; Valid for PCMA/PCMU, 101 for telephone-event
	Seq    uint16
	TS     uint32
	SSRC   uint32
	Marker bool
}

// ParseHeader splits an RTP packet into its header and payload, skipping
// CSRCs and a header extension and stripping padding (RFC 3550 §5.1, §5.3.1).
// payload aliases pkt. It does not allocate on success. We parse by hand
// because pion's Header.Unmarshal allocates for CSRC lists and extensions.
func ParseHeader(pkt []byte) (Header, []byte, error) {
	if len(pkt) < HeaderSize {
		return Header{}, nil, fmt.Errorf("media: rtp packet of %d bytes is shorter than the %d-byte header", len(pkt), HeaderSize)
	}
	if v := pkt[0] >> 6; v != 2 {
		return Header{}, nil, fmt.Errorf("media: rtp version %d, want 2", v)
	}
	n := HeaderSize + 4*int(pkt[0]&0x0f)
	if len(pkt) < n {
		return Header{}, nil, fmt.Errorf("media: rtp packet of %d bytes is shorter than its %d-byte header with %d CSRCs", len(pkt), n, pkt[0]&0x0f)
	}
	if pkt[0]&0x10 != 0 {
		if len(pkt) < n+4 {
			return Header{}, nil, fmt.Errorf("media: rtp packet of %d bytes ends inside its header extension at byte %d", len(pkt), n)
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(pkt[n+2:]))
		if len(pkt) < n {
			return Header{}, nil, fmt.Errorf("media: rtp header extension runs to byte %d, packet has %d", n, len(pkt))
		}
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 {
		pad := int(pkt[end-1])
		if pad == 0 || end-pad < n {
			return Header{}, nil, fmt.Errorf("media: rtp padding of %d bytes does not fit a %d-byte payload", pad, end-n)
		}
		end -= pad
	}
	h := Header{
		PT:     Codec(pkt[1] & 0x7f),
		Marker: pkt[1]&0x80 != 0,
		Seq:    binary.BigEndian.Uint16(pkt[2:]),
		TS:     binary.BigEndian.Uint32(pkt[4:]),
		SSRC:   binary.BigEndian.Uint32(pkt[8:]),
	}
	return h, pkt[n:end:end], nil
}

// Sender numbers the packets of one outgoing RTP stream (RFC 3550 §5.1).
// SSRC and PT may be changed between packets; sequence and timestamp are
// the Sender's own.
type Sender struct {
	SSRC uint32
	PT   Codec
	seq  uint16
	ts   uint32
}

// NewSender starts a stream whose first packet carries seq and ts.
func NewSender(ssrc uint32, seq uint16, ts uint32, codec Codec) *Sender {
	return &Sender{SSRC: ssrc, PT: codec, seq: seq, ts: ts}
}

// Seq is the sequence number the next packet will carry.
func (s *Sender) Seq() uint16 { return s.seq }

// Timestamp is the RTP timestamp the next packet will carry.
func (s *Sender) Timestamp() uint32 { return s.ts }

// Packet writes an RTP packet with payload into dst, reusing dst's capacity
// (it allocates only when cap(dst) < HeaderSize+len(payload)), and returns
// it. Then sequence advances by one and timestamp by len(payload), which is
// the sample count for G.711. Set marker on the first packet of a talkspurt
// (RFC 3551 §4.1).
func (s *Sender) Packet(dst, payload []byte, marker bool) []byte {
	dst = grow(dst, HeaderSize+len(payload))
	s.header(dst, marker)
	copy(dst[HeaderSize:], payload)
	s.advance(len(payload))
	return dst
}

// EncodePacket is Packet with the payload encoded from pcm by s.PT straight
// into dst, saving a copy. If s.PT is not Valid the packet has no payload.
func (s *Sender) EncodePacket(dst []byte, pcm []int16, marker bool) []byte {
	dst = grow(dst, HeaderSize+len(pcm))
	s.header(dst, marker)
	payload := s.PT.EncodeFrame(dst[HeaderSize:], pcm)
	s.advance(len(payload))
	return dst[:HeaderSize+len(payload)]
}

// Skip advances the timestamp by samples that are not sent (muted or held
// audio), so the receiver keeps true time. Mark the next packet.
func (s *Sender) Skip(samples uint32) { s.ts += samples }

func (s *Sender) header(dst []byte, marker bool) {
	h := rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    uint8(s.PT) & 0x7f,
		SequenceNumber: s.seq,
		Timestamp:      s.ts,
		SSRC:           s.SSRC,
	}
	// dst holds at least HeaderSize bytes and h has no CSRCs or
	// extensions, so MarshalTo cannot fail.
	_, _ = h.MarshalTo(dst)
}

func (s *Sender) advance(samples int) {
	s.seq++
	s.ts += uint32(samples)
}

// Forker turns the packets a phone sends or receives into one forked
// stream towards the recorder (design.md, "The recording session"): each
// copy carries the forked stream's own SSRC and its own consecutive
// sequence numbers. Timestamps keep the original's offsets, so a gap or a
// late packet upstream shows as a timestamp gap, not as loss. The first
// packet keeps its timestamp; when the original SSRC changes (a new call
// leg, RFC 3550 §8.2) the forked timeline continues right after the last
// packet and the first new packet gets the marker bit, so the recorder sees
// one unbroken stream.
type Forker struct {
	ssrc    uint32
	seq     uint16
	started bool
	srcSSRC uint32 // SSRC of the original stream being forked now
	inBase  uint32 // original timestamp of the anchor packet
	outBase uint32 // forked timestamp of the anchor packet
	nextTS  uint32 // forked timestamp just past the newest packet
}

// NewForker starts a forked stream with its own SSRC whose first packet
// carries seq.
func NewForker(ssrc uint32, seq uint16) *Forker {
	return &Forker{ssrc: ssrc, seq: seq}
}

// SSRC is the forked stream's SSRC.
func (f *Forker) SSRC() uint32 { return f.ssrc }

// Seq is the sequence number the next forked packet will carry.
func (f *Forker) Seq() uint16 { return f.seq }

// Rewrite copies pkt into dst (reusing its capacity; it allocates only when
// cap(dst) < len(pkt)) with the forked SSRC, sequence and timestamp, and
// returns it. CSRCs, extensions, padding, payload type and payload are
// copied as they are. A packet that does not parse is refused and changes
// nothing.
func (f *Forker) Rewrite(dst, pkt []byte) ([]byte, error) {
	h, payload, err := ParseHeader(pkt)
	if err != nil {
		return nil, err
	}
	marker := h.Marker
	first := !f.started
	switch {
	case first:
		f.started = true
		f.srcSSRC, f.inBase, f.outBase = h.SSRC, h.TS, h.TS
	case h.SSRC != f.srcSSRC:
		f.srcSSRC, f.inBase, f.outBase = h.SSRC, h.TS, f.nextTS
		marker = true
	}
	ts := f.outBase + (h.TS - f.inBase) // modulo 2^32, as RTP timestamps are
	dur := uint32(FrameSamples)
	if h.PT.Valid() {
		dur = uint32(len(payload))
	}
	if end := ts + dur; first || int32(end-f.nextTS) > 0 {
		f.nextTS = end
	}

	dst = grow(dst, len(pkt))
	copy(dst, pkt)
	if marker {
		dst[1] |= 0x80
	}
	binary.BigEndian.PutUint16(dst[2:], f.seq)
	binary.BigEndian.PutUint32(dst[4:], ts)
	binary.BigEndian.PutUint32(dst[8:], f.ssrc)
	f.seq++
	return dst, nil
}
