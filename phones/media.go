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

// mediaPump is the RTP of one call: a sender goroutine that ticks every
// 20 ms and sends the phone's tone, and a reader goroutine, both on the
// call's RTP socket. Each packet sent or received is also copied to the
// recorder while fork holds targets. Per packet nothing is allocated: the
// buffers below are reused, and sim's WriteToAddrPort/ReadFromAddrPort do
// not allocate.
type mediaPump struct {
	conn   *sim.PacketConn
	remote netip.AddrPort
	sender *media.Sender // nil when the far end does not want our audio
	tone   *media.Tone
	// txSRTP protects what we send, rxSRTP unprotects what we receive: an
	// SRTP call's contexts (spec §1.3), nil for plain RTP.
	txSRTP, rxSRTP *media.SRTP
	fork           *atomic.Pointer[forkTargets]
	count          *mediaCounters
	now            func() time.Duration // lab time
	clock          sim.Clock            // the lab clock, for the 20 ms tick
	// bad reports the first unusable datagram of the call; later ones are
	// only dropped, so a flood cannot flood the trace.
	bad     func(src netip.AddrPort, err error)
	badOnce atomic.Bool

	stop chan struct{}
	wg   sync.WaitGroup

	// Sender goroutine only.
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
		stop:   make(chan struct{}),
	}
	if mp.send {
		ssrc := mp.ssrc
		if ssrc == 0 {
			ssrc = rand.Uint32()
		}
		m.sender = media.NewSender(ssrc, uint16(rand.Uint32()), rand.Uint32(), mp.codec)
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

// start runs the sender (if any) and the reader.
func (m *mediaPump) start() {
	if m.sender != nil {
		m.wg.Add(1)
		go m.sendLoop()
	}
	m.wg.Add(1)
	go m.readLoop()
}

// halt stops both goroutines and closes the socket; it returns when they
// are gone, so the forkers are free for the next call.
func (m *mediaPump) halt() {
	close(m.stop)
	m.conn.Close()
	m.wg.Wait()
}

// sendLoop sends one frame now and then, on every tick, as many frames as
// are due since the start, so the stream keeps 50 packets a second however
// late the ticks come (no drift).
func (m *mediaPump) sendLoop() {
	defer m.wg.Done()
	tick := m.clock.NewTicker(frameDuration)
	defer tick.Stop()
	start := m.now()
	m.sendFrame(true)
	sent := int64(1)
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		due := int64((m.now()-start)/frameDuration) + 1
		marker := false
		if lag := due - sent; lag > maxBurst {
			skip := lag - maxBurst
			m.sender.Skip(uint32(skip * media.FrameSamples))
			sent += skip
			marker = true // RFC 3551 §4.1: a new talkspurt after the gap
		}
		for ; sent < due; sent++ {
			m.sendFrame(marker)
			marker = false
		}
	}
}

// sendFrame sends one 20 ms packet of the tone (protected on an SRTP
// call, RFC 3711 §3.3) and its copy to the recorder. It allocates nothing.
func (m *mediaPump) sendFrame(marker bool) {
	m.tone.Next(m.pcm[:])
	pkt := m.sender.EncodePacket(m.out[:], m.pcm[:], marker)
	wire := pkt
	if m.txSRTP != nil {
		var err error
		if wire, err = m.txSRTP.Protect(m.wire[:], pkt); err != nil {
			return
		}
	}
	if _, err := m.conn.WriteToAddrPort(wire, m.remote); err != nil {
		return // socket closed: the call is ending
	}
	m.count.sent.Add(1)
	if f := m.fork.Load(); f != nil {
		m.forkCopy(f.txFork, f.txSRTP, m.txCopy[:], m.txEnc[:], pkt, wire, f.tx, &m.count.forkedTX)
	}
}

// forkCopy sends the recorder at to its copy of one packet, plain in the
// clear and wire as it went on the call, and counts it in forked. Spec
// §1.3: with no key of the recorder's (rec nil) an SRTP call's packet goes
// byte for byte; otherwise plain is rewritten through fk into buf (its own
// SSRC and sequence) and, with rec, protected into enc. It allocates
// nothing.
func (m *mediaPump) forkCopy(fk *media.Forker, rec *media.SRTP, buf, enc, plain, wire []byte, to netip.AddrPort, forked *atomic.Uint64) {
	cp := wire
	if rec != nil || m.txSRTP == nil {
		var err error
		if cp, err = fk.Rewrite(buf, plain); err != nil {
			return
		}
		if rec != nil {
			if cp, err = rec.Protect(enc, cp); err != nil {
				return
			}
		}
	}
	if _, err := m.conn.WriteToAddrPort(cp, to); err == nil {
		forked.Add(1)
	}
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
		m.forkCopy(f.rxFork, f.rxSRTP, m.rxCopy[:], m.rxEnc[:], plain, pkt, f.rx, &m.count.forkedRX)
	}
}
