package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// Recording layout (design.md, "Recordings").
const (
	// ChannelTX is the left channel: what the phone sent.
	ChannelTX = 0
	// ChannelRX is the right channel: what the phone received.
	ChannelRX = 1

	// ReorderWindow is how many samples per channel a StereoWAV can hold
	// before writing them: 4.096 s, about 200 packets of 20 ms. One
	// channel may lag the other by that much and still land in place: a
	// phone's two forked streams take different paths (its own sender; the
	// far end's, through the far end's link) and either may stall on a
	// loaded host and then catch up (issue 10: a 2 s stall plus link
	// delays; with 512 ms a lagging channel was resynced and its audio
	// shifted). A packet whose place has already been written is dropped
	// and counted as Late. 64 KiB per channel.
	ReorderWindow = 1 << 15

	// ReorderHold is how far behind the lagging channel's newest sample
	// the file is written: 512 ms for reordering within a channel. While
	// the channels keep pace the file trails the audio by this much only,
	// so a killed process loses little (issue 11); the whole window is
	// used only while one channel lags.
	ReorderHold = 4096

	// DefaultMaxGap is the longest timestamp jump forward that StereoWAV
	// fills with silence; a longer one is taken as a restarted clock.
	DefaultMaxGap = 10 * time.Minute

	windowMask    = ReorderWindow - 1
	wavHeaderSize = 44
	// RIFF sizes are 32-bit; stop before the data chunk overflows.
	maxWAVFrames = (0xFFFFFFFF - (wavHeaderSize - 8)) / 4

	// Sequence tracking as in RFC 3550 Appendix A.1.
	maxDropout  = 3000 // a jump forward beyond this restarts the sequence
	maxMisorder = 100  // a packet this far behind is old, not a restart
	seqHistory  = 64   // how far back duplicates are recognised
)

// ChannelStats counts one channel's packets for the recording's sidecar.
// Expected, Lost and the sequence numbers follow RFC 3550 §6.4.1 and
// Appendix A.3, summed over every source the channel has seen.
type ChannelStats struct {
	Received   int64  `json:"received"`   // distinct packets, telephone-event included
	Expected   int64  `json:"expected"`   // span of sequence numbers seen
	Lost       int64  `json:"lost"`       // Expected - Received, never negative
	Duplicates int64  `json:"duplicates"` // dropped: same sequence number again
	Reordered  int64  `json:"reordered"`  // arrived after a later sequence number
	Late       int64  `json:"late"`       // dropped: their place was already written, or too old to judge
	Resyncs    int64  `json:"resyncs"`    // new SSRC, sequence restart or timestamp jump
	FirstSeq   uint16 `json:"first_seq"`
	LastSeq    uint16 `json:"last_seq"` // highest sequence number of the current source

	// Time, so that the metadata accounts for every second of the file
	// (lost counts sequence numbers, and a sender that sent nothing for a
	// while leaves none missing): AudioSeconds came as audio, SilentSeconds
	// of the file's length are silence on this channel (before its first
	// packet, in its gaps, after its last), and Gaps are the holes inside
	// the stream longer than a packet, with why. Lost adds to the
	// sequence loss the packets a gap without missing sequence numbers
	// stands for, so it is never 0 where audio is missing.
	AudioSeconds  float64 `json:"audio_seconds"`
	SilentSeconds float64 `json:"silent_seconds"`
	Gaps          []Gap   `json:"gaps,omitempty"`
	GapsOmitted   int     `json:"gaps_omitted,omitempty"` // beyond maxGapsKept
}

// Gap is a hole inside one channel's audio, filled with silence.
type Gap struct {
	At      float64 `json:"at"`      // seconds from the start of the file
	Seconds float64 `json:"seconds"` // its length
	// MissingSeq is how many sequence numbers the hole skipped: about its
	// length in packets when packets were lost on the way; 0 when the
	// sender sent nothing (forking stopped: a recording session lost and
	// recovered, a call on hold).
	MissingSeq int64  `json:"missing_seq"`
	Why        string `json:"why"`
}

// Why a gap is silence.
const (
	GapLoss      = "packets lost on the way (sequence numbers missing)"
	GapNoPackets = "no packets sent (forking stopped: the session was lost and recovered, or the sender paused)"
)

// maxGapsKept bounds the gaps a channel lists; the rest are counted.
const maxGapsKept = 64

// wavChannel is one side's reorder buffer and sequence state.
type wavChannel struct {
	ring  [ReorderWindow]int16 // sample at position p lives at ring[p&windowMask]
	stats ChannelStats

	started      bool
	ssrc         uint32
	highest      int64  // extended sequence number of the newest packet
	base         int64  // lowest extended sequence number of this source
	seen         uint64 // bit i: packet highest-i has arrived
	expectedDone int64  // Expected of earlier sources
	hasBad       bool
	badSeq       uint16 // RFC 3550 A.1 bad_seq: confirms a restart

	anchored  bool   // anchorTS/anchorPos valid for this source
	anchorTS  uint32 // RTP timestamp of the newest audio packet
	anchorPos int64  // its sample position in the file
	end       int64  // sample position just past the newest audio
	hasAudio  bool
	audio     int64     // samples of audio placed
	gaps      []gapSpan // holes inside the stream, oldest first; late packets fill them
	omitted   int       // gaps beyond maxGapsKept
}

// gapSpan is a Gap in samples, while late packets may still fill it.
type gapSpan struct {
	start, n  int64 // sample positions [start, start+n)
	noPackets bool  // the sender skipped no sequence number: it sent nothing
	packet    int64 // samples per packet around it
}

// newSource starts sequence and timestamp tracking afresh for a new SSRC
// or a restarted sequence.
func (c *wavChannel) newSource(h Header) {
	if c.started {
		c.expectedDone += c.highest - c.base + 1
	}
	c.started = true
	c.ssrc = h.SSRC
	c.highest = int64(h.Seq)
	c.base = c.highest
	c.seen = 1
	c.hasBad = false
	c.anchored = false
}

// StereoWAV writes one recorded party's call as it arrives: left = tx,
// right = rx, 8 kHz 16-bit PCM, streamed to an io.WriteSeeker with at most
// ReorderWindow samples per channel held in memory.
//
// Each packet is placed by its RTP timestamp relative to its source's
// first packet, so lost packets leave silence and time stays true;
// duplicates are dropped and reordering within the window is undone, by
// sequence number with 16-bit wraparound (RFC 3550 Appendix A.1).
//
// The channels start together: the first packet of either channel is
// sample 0. A channel's first packet (and the first after a resync) is
// placed as follows. With PushAt, at the arrival time it reports, so a
// channel that starts later is preceded by true silence. With Push, at the
// end of what the other channel has so far (a packet arrives when its last
// sample is due), or at 0 if the other channel has nothing yet: both forked
// streams start at the same ACK, so their first packets arrive together.
//
// A StereoWAV is not safe for concurrent use; the recorder's node
// goroutine owns it.
type StereoWAV struct {
	// MaxGap is the longest silence a timestamp jump may insert; zero means
	// DefaultMaxGap. Set it before the first Push.
	MaxGap time.Duration

	w         io.WriteSeeker
	start     int64 // offset of the RIFF header in w
	ch        [2]wavChannel
	fileStart int64 // sample position of the file's first frame
	written   int64 // sample position of the next frame to write to w
	flushed   bool  // some frames are in w: fileStart is final
	originSet bool  // origin valid (PushAt)
	origin    int64 // arrival time, in samples, of sample 0
	err       error // sticky write error
	closed    bool
	buf       [4096]byte
}

// NewStereoWAV writes a WAV header at w's current offset and returns a
// writer for it. The header's sizes say "unknown" (0xFFFFFFFF) until Close
// fixes them, so a file cut short by a crash still plays.
func NewStereoWAV(w io.WriteSeeker) (*StereoWAV, error) {
	start, err := w.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("media: wav: find start offset: %w", err)
	}
	s := &StereoWAV{w: w, start: start}
	hdr := wavHeader(2, SampleRate, 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(hdr[4:], 0xFFFFFFFF)
	if _, err := w.Write(hdr[:]); err != nil {
		return nil, fmt.Errorf("media: wav: write header: %w", err)
	}
	return s, nil
}

// wavHeader returns a canonical 44-byte PCM WAV header for dataBytes of
// 16-bit samples.
func wavHeader(channels, rate int, dataBytes uint32) [wavHeaderSize]byte {
	var h [wavHeaderSize]byte
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], dataBytes+wavHeaderSize-8)
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)
	le.PutUint16(h[20:], 1) // PCM
	le.PutUint16(h[22:], uint16(channels))
	le.PutUint32(h[24:], uint32(rate))
	le.PutUint32(h[28:], uint32(rate*channels*2)) // bytes per second
	le.PutUint16(h[32:], uint16(channels*2))      // bytes per frame
	le.PutUint16(h[34:], 16)                      // bits per sample
	copy(h[36:], "data")
	le.PutUint32(h[40:], dataBytes)
	return h
}

// Push adds one raw RTP packet to channel ch (ChannelTX or ChannelRX). PCMA
// and PCMU are decoded by payload type; telephone-event and other payload
// types count in the statistics but add no audio. A packet that does not
// parse is refused with an error and changes nothing; a failed write is
// returned now and by every later call. Push does not allocate unless it
// returns an error.
func (s *StereoWAV) Push(ch int, pkt []byte) error {
	return s.push(ch, pkt, 0, false)
}

// PushAt is Push with the packet's arrival time, measured on the lab clock
// from any fixed point (say, the ACK). It is used only to place a
// channel's first packet and the first after a resync; RTP timestamps
// place the rest. Use either Push or PushAt for one StereoWAV, not both.
func (s *StereoWAV) PushAt(ch int, pkt []byte, at time.Duration) error {
	return s.push(ch, pkt, int64(at/(time.Second/SampleRate)), true)
}

func (s *StereoWAV) push(ch int, pkt []byte, at int64, haveAt bool) error {
	if s.closed {
		return errors.New("media: wav: push after close")
	}
	if s.err != nil {
		return s.err
	}
	if ch != ChannelTX && ch != ChannelRX {
		return fmt.Errorf("media: wav: channel %d is neither %d (tx) nor %d (rx)", ch, ChannelTX, ChannelRX)
	}
	h, payload, err := ParseHeader(pkt)
	if err != nil {
		return err
	}
	if h.PT.Valid() && len(payload) > ReorderWindow {
		return fmt.Errorf("media: wav: payload of %d samples exceeds the %d-sample reorder window", len(payload), ReorderWindow)
	}
	c := &s.ch[ch]

	// Sequence numbers: duplicates, reordering, loss, restarts.
	newest := true
	advance := int64(0) // sequence numbers this packet moves the newest on by
	switch {
	case !c.started:
		c.stats.FirstSeq = h.Seq
		c.newSource(h)
	case h.SSRC != c.ssrc:
		c.stats.Resyncs++
		c.newSource(h)
	default:
		delta := int64(int16(h.Seq - uint16(c.highest)))
		switch {
		case delta == 0:
			c.stats.Duplicates++
			return nil
		case delta > 0 && delta <= maxDropout:
			if delta >= seqHistory {
				c.seen = 0
			} else {
				c.seen <<= uint(delta)
			}
			c.seen |= 1
			c.highest += delta
			c.hasBad = false
			advance = delta
		case delta < 0 && -delta < seqHistory:
			if c.seen&(1<<uint(-delta)) != 0 {
				c.stats.Duplicates++
				return nil
			}
			c.seen |= 1 << uint(-delta)
			c.base = min(c.base, c.highest+delta)
			c.stats.Reordered++
			newest = false
		case delta < 0 && -delta <= maxMisorder:
			c.stats.Late++
			return nil
		default:
			// A big jump: a restarted sender, or one stray packet. Believe
			// it when the next packet follows it (RFC 3550 A.1 bad_seq).
			if !c.hasBad || h.Seq != c.badSeq {
				c.hasBad, c.badSeq = true, h.Seq+1
				c.stats.Late++
				return nil
			}
			c.stats.Resyncs++
			c.newSource(h)
		}
	}
	c.stats.Received++

	// Audio: place by timestamp, then decode into the reorder buffer.
	if !h.PT.Valid() || len(payload) == 0 {
		return nil
	}
	n := int64(len(payload))
	var pos int64
	if c.anchored {
		pos = c.anchorPos + int64(int32(h.TS-c.anchorTS))
	}
	if newest {
		if !c.anchored || pos < s.written || pos-c.end > s.maxGapSamples() {
			if c.anchored {
				c.stats.Resyncs++ // the timestamp jumped; keep going from here
			}
			pos = s.place(ch, n, at, haveAt)
		}
		if c.hasAudio && pos-c.end >= n {
			s.noteGap(c, pos, n, advance)
		}
		c.anchored, c.anchorTS, c.anchorPos = true, h.TS, pos
	} else if !c.anchored || pos+n > c.end || !s.reachable(pos) {
		c.stats.Late++
		return nil
	}
	if over := pos + n - (s.written + ReorderWindow); over > 0 {
		if err := s.flush(s.written + over); err != nil {
			return err
		}
	}
	for i, b := range payload {
		c.ring[(pos+int64(i))&windowMask] = h.PT.decodeSample(b)
	}
	if !newest {
		c.fillGap(pos, n)
	}
	c.end = max(c.end, pos+n)
	c.hasAudio = true
	c.audio += n
	if upto := s.settled() - ReorderHold; newest && upto > s.written {
		return s.flush(upto)
	}
	return nil
}

// settled is the end of the channel that lags: what both channels with
// audio have reached.
func (s *StereoWAV) settled() int64 {
	tx, rx := &s.ch[ChannelTX], &s.ch[ChannelRX]
	switch {
	case !tx.hasAudio:
		return rx.end
	case !rx.hasAudio:
		return tx.end
	}
	return min(tx.end, rx.end)
}

// noteGap records the hole before a newest packet of n samples at pos:
// the packets between it and the channel's end did not come (yet).
func (s *StereoWAV) noteGap(c *wavChannel, pos, n, advance int64) {
	if len(c.gaps) >= maxGapsKept {
		c.omitted++
		return
	}
	c.gaps = append(c.gaps, gapSpan{start: c.end, n: pos - c.end, noPackets: advance <= 1, packet: n})
}

// fillGap takes a late packet's [pos, pos+n) out of the gap it lands in
// (reordering closes what it opened): the gap shrinks, splits or goes.
func (c *wavChannel) fillGap(pos, n int64) {
	for i := len(c.gaps) - 1; i >= 0; i-- {
		g := &c.gaps[i]
		if pos >= g.start+g.n || pos+n <= g.start {
			continue
		}
		lo, hi := max(pos, g.start), min(pos+n, g.start+g.n)
		switch {
		case lo == g.start && hi == g.start+g.n:
			c.gaps = slices.Delete(c.gaps, i, i+1)
		case lo == g.start:
			g.n, g.start = g.start+g.n-hi, hi
		case hi == g.start+g.n:
			g.n = lo - g.start
		default:
			tail := gapSpan{start: hi, n: g.start + g.n - hi, noPackets: g.noPackets, packet: g.packet}
			g.n = lo - g.start
			c.gaps = slices.Insert(c.gaps, i+1, tail)
		}
		return
	}
}

func seconds(samples int64) float64 {
	return math.Round(float64(samples)/SampleRate*1000) / 1000
}

// reachable reports whether an older packet at pos can still be placed.
// Until the first frame is written the file may grow backwards, within the
// window: the first packet to arrive need not be the first in time.
func (s *StereoWAV) reachable(pos int64) bool {
	if pos >= s.written {
		return true
	}
	if s.flushed || max(s.ch[0].end, s.ch[1].end)-pos > ReorderWindow {
		return false
	}
	s.written, s.fileStart = pos, pos
	return true
}

func (s *StereoWAV) maxGapSamples() int64 {
	g := s.MaxGap
	if g <= 0 {
		g = DefaultMaxGap
	}
	return int64(g / (time.Second / SampleRate))
}

// place chooses the position of a channel's first packet of n samples
// (see StereoWAV): never before what the channel or the file already has.
func (s *StereoWAV) place(ch int, n, at int64, haveAt bool) int64 {
	c, other := &s.ch[ch], &s.ch[1-ch]
	guess := c.end
	switch {
	case haveAt:
		if !s.originSet {
			s.origin, s.originSet = at-n, true
		}
		guess = at - n - s.origin
	case other.hasAudio:
		guess = other.end - n
	}
	return max(guess, c.end, s.written)
}

// flush writes frames up to (not including) sample position upto, as
// silence where no packet arrived, and clears their ring slots.
func (s *StereoWAV) flush(upto int64) error {
	if upto-s.fileStart > maxWAVFrames {
		s.err = fmt.Errorf("media: wav: recording of %d samples would overflow the 4 GiB RIFF limit", upto)
		return s.err
	}
	left, right := &s.ch[ChannelTX].ring, &s.ch[ChannelRX].ring
	for s.written < upto {
		k := min(upto-s.written, int64(len(s.buf)/4))
		for i := range k {
			idx := (s.written + i) & windowMask
			binary.LittleEndian.PutUint16(s.buf[4*i:], uint16(left[idx]))
			binary.LittleEndian.PutUint16(s.buf[4*i+2:], uint16(right[idx]))
			left[idx], right[idx] = 0, 0
		}
		if _, err := s.w.Write(s.buf[:4*k]); err != nil {
			s.err = fmt.Errorf("media: wav: write: %w", err)
			return s.err
		}
		s.written += k
		s.flushed = true
	}
	return nil
}

// Sync makes the header declare the frames written so far, so that a file
// cut short (the process killed) declares no more than it holds and plays
// up to its last Sync. It seeks, so a buffered writer below flushes first.
// Frames still in the reorder window are not written; Close writes them.
func (s *StereoWAV) Sync() error {
	if s.closed || s.err != nil {
		return s.err
	}
	if err := s.writeSizes(); err != nil {
		s.err = err
	}
	return s.err
}

// writeSizes writes the RIFF and data sizes of what is written and seeks
// back to the end of the data.
func (s *StereoWAV) writeSizes() error {
	data := uint32((s.written - s.fileStart) * 4)
	var b [4]byte
	for _, f := range []struct {
		off int64
		v   uint32
	}{{4, data + wavHeaderSize - 8}, {40, data}} {
		binary.LittleEndian.PutUint32(b[:], f.v)
		if _, err := s.w.Seek(s.start+f.off, io.SeekStart); err != nil {
			return fmt.Errorf("media: wav: seek to fix sizes: %w", err)
		}
		if _, err := s.w.Write(b[:]); err != nil {
			return fmt.Errorf("media: wav: fix sizes: %w", err)
		}
	}
	if _, err := s.w.Seek(s.start+wavHeaderSize+int64(data), io.SeekStart); err != nil {
		return fmt.Errorf("media: wav: seek to the end: %w", err)
	}
	return nil
}

// Samples is the length in samples per channel that the file has if closed
// now.
func (s *StereoWAV) Samples() int64 {
	return max(s.written, s.ch[0].end, s.ch[1].end) - s.fileStart
}

// Stats returns channel ch's counters; an unknown channel has none.
func (s *StereoWAV) Stats(ch int) ChannelStats {
	if ch != ChannelTX && ch != ChannelRX {
		return ChannelStats{}
	}
	c := &s.ch[ch]
	st := c.stats
	st.Expected = c.expectedDone
	if c.started {
		st.Expected += c.highest - c.base + 1
		st.LastSeq = uint16(c.highest)
	}
	st.Lost = max(0, st.Expected-st.Received)
	for _, g := range c.gaps {
		if g.n <= 2*g.packet && !g.noPackets {
			continue // a packet or two lost: Lost counts them; not worth a line
		}
		why := GapLoss
		if g.noPackets {
			why = GapNoPackets
			st.Lost += g.n / max(g.packet, 1) // none of these are in the sequence loss
		}
		missing := int64(0)
		if !g.noPackets {
			missing = g.n / max(g.packet, 1) // the packets of its length: none came late into it
		}
		st.Gaps = append(st.Gaps, Gap{At: seconds(g.start - s.fileStart), Seconds: seconds(g.n), MissingSeq: missing, Why: why})
	}
	st.GapsOmitted = c.omitted
	st.AudioSeconds = seconds(c.audio)
	st.SilentSeconds = seconds(max(s.Samples()-c.audio, 0))
	return st
}

// Close writes what the reorder buffers hold, fixes the RIFF and data
// sizes, and leaves w's offset at the end of the file. It does not close w.
// Calling it again does nothing.
func (s *StereoWAV) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.err != nil {
		return s.err
	}
	if err := s.flush(s.fileStart + s.Samples()); err != nil {
		return err
	}
	return s.writeSizes()
}

// WriteWAV writes a whole 16-bit PCM WAV: mono if right is nil, otherwise
// stereo (right must be as long as left). For test vectors and audio
// sources; recordings use StereoWAV.
func WriteWAV(w io.Writer, rate int, left, right []int16) error {
	channels := 1
	if right != nil {
		channels = 2
		if len(right) != len(left) {
			return fmt.Errorf("media: wav: right channel has %d samples, left %d", len(right), len(left))
		}
	}
	if rate <= 0 {
		return fmt.Errorf("media: wav: rate %d is not positive", rate)
	}
	if int64(len(left))*int64(channels)*2 > 0xFFFFFFFF-wavHeaderSize {
		return fmt.Errorf("media: wav: %d samples overflow the 4 GiB RIFF limit", len(left))
	}
	hdr := wavHeader(channels, rate, uint32(len(left)*channels*2))
	buf := make([]byte, 0, wavHeaderSize+len(left)*channels*2)
	buf = append(buf, hdr[:]...)
	for i, v := range left {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(v))
		if right != nil {
			buf = binary.LittleEndian.AppendUint16(buf, uint16(right[i]))
		}
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("media: wav: write: %w", err)
	}
	return nil
}

// ReadWAV reads a 16-bit PCM WAV, mono (right is nil) or stereo, skipping
// chunks other than fmt and data. A data size of 0xFFFFFFFF (a StereoWAV
// never closed) means "to the end".
func ReadWAV(r io.Reader) (left, right []int16, rate int, err error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("media: wav: read: %w", err)
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, nil, 0, errors.New("media: wav: no RIFF/WAVE header")
	}
	le := binary.LittleEndian
	channels := 0
	for p := 12; ; {
		if len(b)-p < 8 {
			return nil, nil, 0, errors.New("media: wav: no data chunk")
		}
		id, size := string(b[p:p+4]), int64(le.Uint32(b[p+4:]))
		p += 8
		rest := int64(len(b) - p)
		switch id {
		case "fmt ":
			if size < 16 || size > rest {
				return nil, nil, 0, fmt.Errorf("media: wav: fmt chunk of %d bytes, want 16 within the %d left", size, rest)
			}
			if f := le.Uint16(b[p:]); f != 1 {
				return nil, nil, 0, fmt.Errorf("media: wav: format %d is not PCM (1)", f)
			}
			channels, rate = int(le.Uint16(b[p+2:])), int(le.Uint32(b[p+4:]))
			if channels != 1 && channels != 2 {
				return nil, nil, 0, fmt.Errorf("media: wav: %d channels, want 1 or 2", channels)
			}
			if bits := le.Uint16(b[p+14:]); bits != 16 {
				return nil, nil, 0, fmt.Errorf("media: wav: %d bits per sample, want 16", bits)
			}
		case "data":
			if channels == 0 {
				return nil, nil, 0, errors.New("media: wav: data chunk before fmt chunk")
			}
			if size == 0xFFFFFFFF {
				size = rest - rest%int64(2*channels)
			}
			if size > rest {
				return nil, nil, 0, fmt.Errorf("media: wav: data chunk claims %d bytes, %d present", size, rest)
			}
			if size%int64(2*channels) != 0 {
				return nil, nil, 0, fmt.Errorf("media: wav: data chunk of %d bytes is not whole %d-channel frames", size, channels)
			}
			frames := int(size) / (2 * channels)
			left = make([]int16, frames)
			if channels == 2 {
				right = make([]int16, frames)
			}
			for i := range frames {
				q := p + i*2*channels
				left[i] = int16(le.Uint16(b[q:]))
				if channels == 2 {
					right[i] = int16(le.Uint16(b[q+2:]))
				}
			}
			return left, right, rate, nil
		}
		if size > rest {
			return nil, nil, 0, fmt.Errorf("media: wav: %q chunk claims %d bytes, %d present", id, size, rest)
		}
		p += int(size + size&1) // chunks are padded to even sizes
	}
}
