package phones

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// frameDuration is one RTP packet of G.711 audio (a=ptime:20).
const frameDuration = 20 * time.Millisecond

// maxBurst bounds how many late frames the sender catches up on at once:
// 2 s of audio. A stall of the host the lab runs on (a loaded machine, a
// garbage collection) is not the phone's: a real phone would have sent
// those frames, so they all go, late, and the recording holds them (issue
// 10: stories hold under a scheduling stall of 2 s). A longer stall (a
// stopped debugger) is skipped in RTP time instead, so the receiver sees a
// gap rather than a flood.
const maxBurst = 100

// toneAmplitude is the peak of each phone's tone, about -12 dBFS.
const toneAmplitude = 8000

// maxDatagram is the largest RTP packet the reader takes.
const maxDatagram = 1500

// MediaStats counts a phone's RTP packets since it was created.
type MediaStats struct {
	Sent     uint64 // RTP packets sent to the far end
	Received uint64 // RTP packets received from the far end
	ForkedTX uint64 // copies of sent packets to the recorder's tx port
	ForkedRX uint64 // copies of received packets to the recorder's rx port
}

type mediaCounters struct {
	sent, received, forkedTX, forkedRX atomic.Uint64
}

func (c *mediaCounters) snapshot() MediaStats {
	return MediaStats{Sent: c.sent.Load(), Received: c.received.Load(), ForkedTX: c.forkedTX.Load(), ForkedRX: c.forkedRX.Load()}
}

// forkTargets is where an established recording session wants the copies
// (design.md "The recording session"). Each forked stream has its own
// Forker, so its own SSRC and sequence; the TX forker is used only by the
// call's sender goroutine and the RX forker only by its reader goroutine.
// A session outlives calls (static mapping, spec §3.1): the forkers carry on
// across calls and media.Forker keeps the recorder's timeline unbroken.
//
// Spec §1.3, encrypted calls: with no keys from the recorder (txSRTP nil)
// the copies of an SRTP call are its packets byte for byte, as MX-ONE's
// phones forward them, and the recorder decrypts them with the keys the PBX
// gives it over CSTA. With keys the recorder offered in its SDP (the lab's
// own mode, docs/wire.md "SRTP"), each copy is rewritten in the clear and
// protected with the recorder's key of its stream.
type forkTargets struct {
	tx, rx         netip.AddrPort
	txFork, rxFork *media.Forker
	txSRTP, rxSRTP *media.SRTP // the recorder's keys, nil for none
}

func newForkTargets(tx, rx netip.AddrPort) *forkTargets {
	return &forkTargets{
		tx: tx, rx: rx,
		txFork: media.NewForker(rand.Uint32(), uint16(rand.Uint32())),
		rxFork: media.NewForker(rand.Uint32(), uint16(rand.Uint32())),
	}
}

// withKeys protects the forks with the recorder's keys (both or neither).
func (f *forkTargets) withKeys(txKey, rxKey media.SDESKey) error {
	if !txKey.Valid() {
		return nil
	}
	var err error
	if f.txSRTP, err = media.NewSRTP(txKey); err != nil {
		return err
	}
	f.rxSRTP, err = media.NewSRTP(rxKey)
	return err
}

// suite is what the forks carry during a call of callSuite.
func (f *forkTargets) suite(callSuite media.CryptoSuite) media.CryptoSuite {
	if f.txSRTP != nil {
		return f.txSRTP.Key().Suite
	}
	return callSuite
}

// mediaPump is the RTP of one call: its sending half is paced by the lab's
// media engine (pacer.go: a few goroutines for every call, no ticker per
// call), which has it send the phone's tone every 20 ms, and a reader
// goroutine serves its receiving half, both on the call's RTP socket. Each
// packet sent or received is also copied to the recorder while fork holds
// targets; a sent packet and its copy leave in one sim.WriteBatch. Per
// packet nothing is allocated: the buffers below are reused, and sim's
// WriteBatch/WriteToAddrPort/ReadFromAddrPort do not allocate.
type mediaPump struct {
	conn   *sim.PacketConn
	remote netip.AddrPort
	sender *media.Sender // nil when the far end does not want our audio
	tone   *media.Tone
	// frames is the tone encoded for the call, one repetition of it, when
	// the tone repeats within maxToneFrames (toneFrames); nil: encode each
	// frame from tone.
	frames *toneFrames
	// txSRTP protects what we send, rxSRTP unprotects what we receive: an
	// SRTP call's contexts (spec §1.3), nil for plain RTP.
	txSRTP, rxSRTP *media.SRTP
	fork           *atomic.Pointer[forkTargets]
	count          *mediaCounters
	now            func() time.Duration // lab time
	clock          sim.Clock            // the lab clock: its pacer ticks the 20 ms
	// bad reports the first unusable datagram of the call; later ones are
	// only dropped, so a flood cannot flood the trace.
	bad     func(src netip.AddrPort, err error)
	badOnce atomic.Bool

	wg sync.WaitGroup // the reader

	// The pacer's, under its lane's lock (pacer.go).
	pacer  *pacer
	lane   *lane         // nil when not paced
	slot   int           // index in the lane's pumps
	began  time.Duration // lab time of the first frame
	sent   int64         // frames sent or skipped since start
	batch  [2]sim.Datagram
	pcm    [media.FrameSamples]int16
	out    [media.HeaderSize + media.FrameSamples]byte
	wire   [media.HeaderSize + media.FrameSamples + srtpRoom]byte
	txCopy [media.HeaderSize + media.FrameSamples]byte
	txEnc  [media.HeaderSize + media.FrameSamples + srtpRoom]byte
	// Reader goroutine only.
	in     [maxDatagram]byte
	dec    [maxDatagram]byte
	rxCopy [maxDatagram]byte
	rxEnc  [maxDatagram + srtpRoom]byte
}

// maxToneFrames bounds the encoded tone a call keeps: 10 frames (200 ms,
// 1.6 KB). Every tone of media.ToneFrequency's plan repeats every 320
// samples, two frames.
const maxToneFrames = 10

// toneFrames is a call's tone encoded once (issue 14: tone frames encoded
// once per call, not per packet): the frames of one repetition of the tone
// in the call's codec, played in turn. G.711 is stateless, one byte per
// sample (RFC 3551 §4.5.14), so the frames are what encoding each
// packet's samples would give.
type toneFrames struct {
	enc []byte // frames × media.FrameSamples bytes
	at  int    // offset of the next frame
}

// newToneFrames encodes tone's repetition for codec; nil when the tone does
// not repeat within maxToneFrames whole frames.
func newToneFrames(tone *media.Tone, codec media.Codec) *toneFrames {
	p := tone.Period()
	if p == 0 || !codec.Valid() {
		return nil
	}
	samples := p // whole periods, to whole frames
	for samples%media.FrameSamples != 0 {
		if samples += p; samples > maxToneFrames*media.FrameSamples {
			return nil
		}
	}
	pcm := make([]int16, samples)
	tone.Next(pcm) // a whole number of periods: the tone is back where it began
	return &toneFrames{enc: codec.EncodeFrame(make([]byte, samples), pcm)}
}

// next is the next frame's payload.
func (f *toneFrames) next() []byte {
	b := f.enc[f.at : f.at+media.FrameSamples]
	if f.at += media.FrameSamples; f.at == len(f.enc) {
		f.at = 0
	}
	return b
}

// srtpRoom is what SRTP adds to a packet at most: a GCM tag.
const srtpRoom = 16

// mediaParams describe the call the pump serves.
type mediaParams struct {
	conn   *sim.PacketConn
	remote netip.AddrPort
	codec  media.Codec
	send   bool // false when the far end is sendonly or inactive (RFC 3264 §6.1)
	toneHz float64
	fork   *atomic.Pointer[forkTargets]
	count  *mediaCounters
	now    func() time.Duration
	clock  sim.Clock
	bad    func(src netip.AddrPort, err error)
	// SRTP (spec §1.3): ssrc is our stream's (0: any), txKey ours, rxKey
	// the far end's; both invalid for a plain call.
	ssrc         uint32
	txKey, rxKey media.SDESKey
}

func newMediaPump(mp mediaParams) (*mediaPump, error) {
	m := &mediaPump{
		conn:   mp.conn,
		remote: mp.remote,
		tone:   media.NewTone(mp.toneHz, toneAmplitude),
		fork:   mp.fork,
		count:  mp.count,
		now:    mp.now,
		clock:  mp.clock,
		bad:    mp.bad,
	}
	if mp.send {
		ssrc := mp.ssrc
		if ssrc == 0 {
			ssrc = rand.Uint32()
		}
		m.sender = media.NewSender(ssrc, uint16(rand.Uint32()), rand.Uint32(), mp.codec)
		m.frames = newToneFrames(m.tone, mp.codec)
	}
	if mp.txKey.Valid() {
		var err error
		if m.txSRTP, err = media.NewSRTP(mp.txKey); err != nil {
			return nil, err
		}
		if m.rxSRTP, err = media.NewSRTP(mp.rxKey); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// start hands the sender (if any) to the lab's pacer, which sends its
// first frame at once, and runs the reader.
func (m *mediaPump) start() {
	m.wg.Add(1)
	go m.readLoop()
	if m.sender != nil {
		pacerOf(m.clock).add(m)
	}
}

// halt stops the sending and the reader and closes the socket; it returns
// when neither can touch the pump again, so the forkers are free for the
// next call.
func (m *mediaPump) halt() {
	m.conn.Close() // first, so a send under way fails at once
	if m.pacer != nil {
		m.pacer.remove(m)
	}
	m.wg.Wait()
}

// pace sends as many frames as are due since the start, so the stream
// keeps 50 packets a second however late the pacer's ticks come (no
// drift). The pacer calls it once at the start and on every tick.
func (m *mediaPump) pace() {
	due := int64((m.now()-m.began)/frameDuration) + 1
	marker := m.sent == 0 // RFC 3551 §4.1: the first packet of a talkspurt
	if lag := due - m.sent; lag > maxBurst {
		skip := lag - maxBurst
		m.sender.Skip(uint32(skip * media.FrameSamples))
		m.sent += skip
		marker = true // RFC 3551 §4.1: a new talkspurt after the gap
	}
	for ; m.sent < due; m.sent++ {
		m.sendFrame(marker)
		marker = false
	}
}

// sendFrame sends one 20 ms packet of the tone (protected on an SRTP
// call, RFC 3711 §3.3) and its copy to the recorder, in one batch: the
// frame is encoded once for both. It allocates nothing.
func (m *mediaPump) sendFrame(marker bool) {
	var pkt []byte
	if m.frames != nil {
		pkt = m.sender.Packet(m.out[:], m.frames.next(), marker)
	} else {
		m.tone.Next(m.pcm[:])
		pkt = m.sender.EncodePacket(m.out[:], m.pcm[:], marker)
	}
	wire := pkt
	if m.txSRTP != nil {
		var err error
		if wire, err = m.txSRTP.Protect(m.wire[:], pkt); err != nil {
			return
		}
	}
	m.batch[0] = sim.Datagram{B: wire, Dst: m.remote}
	batch := m.batch[:1]
	if f := m.fork.Load(); f != nil {
		if cp, ok := m.forkCopy(f.txFork, f.txSRTP, m.txCopy[:], m.txEnc[:], pkt, wire); ok {
			m.batch[1] = sim.Datagram{B: cp, Dst: f.tx}
			batch = m.batch[:2]
		}
	}
	k, _ := m.conn.WriteBatch(batch) // an error: socket closed, the call is ending
	if k > 0 {
		m.count.sent.Add(1)
	}
	if k > 1 {
		m.count.forkedTX.Add(1)
	}
	m.batch = [2]sim.Datagram{} // do not keep the buffers' views past the send
}

// forkCopy is the recorder's copy of one packet, plain in the clear and
// wire as it went on the call. Spec §1.3: with no key of the recorder's
// (rec nil) an SRTP call's packet goes byte for byte; otherwise plain is
// rewritten through fk into buf (its own SSRC and sequence) and, with rec,
// protected into enc. It allocates nothing.
func (m *mediaPump) forkCopy(fk *media.Forker, rec *media.SRTP, buf, enc, plain, wire []byte) ([]byte, bool) {
	cp := wire
	if rec != nil || m.txSRTP == nil {
		var err error
		if cp, err = fk.Rewrite(buf, plain); err != nil {
			return nil, false
		}
		if rec != nil {
			if cp, err = rec.Protect(enc, cp); err != nil {
				return nil, false
			}
		}
	}
	return cp, true
}

func (m *mediaPump) readLoop() {
	defer m.wg.Done()
	for {
		n, src, err := m.conn.ReadFromAddrPort(m.in[:])
		if err != nil {
			return // socket closed
		}
		m.received(m.in[:n], src)
	}
}

// received counts one datagram and copies it to the recorder. On an SRTP
// call it must authenticate first (RFC 3711 §3.4); what does not is
// dropped, not forked. It allocates nothing for a good packet.
func (m *mediaPump) received(pkt []byte, src netip.AddrPort) {
	plain := pkt
	var err error
	if m.rxSRTP != nil {
		plain, err = m.rxSRTP.Unprotect(m.dec[:], pkt)
	} else {
		_, _, err = media.ParseHeader(pkt)
	}
	if err != nil {
		if m.badOnce.CompareAndSwap(false, true) && m.bad != nil {
			m.bad(src, err)
		}
		return
	}
	m.count.received.Add(1)
	if f := m.fork.Load(); f != nil {
		if cp, ok := m.forkCopy(f.rxFork, f.rxSRTP, m.rxCopy[:], m.rxEnc[:], plain, pkt); ok {
			if _, err := m.conn.WriteToAddrPort(cp, f.rx); err == nil {
				m.count.forkedRX.Add(1)
			}
		}
	}
}
