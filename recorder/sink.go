package recorder

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// sink receives one session's two forked RTP streams (design.md "The
// recording session": tx = what the phone sends, rx = what it receives) and
// writes them into the current call's StereoWAV. One reader goroutine per
// socket reads into its own reused buffer, so the packet path neither spawns
// goroutines nor allocates. The WAV is swapped at call boundaries (static
// mapping) under mu; StereoWAV itself is not safe for concurrent use.
//
// Packets that arrive while no WAV is installed are held (up to maxHeld,
// the first ones kept) and replayed into the next WAV when it is
// installed: the phone forks from the ACK, which does not wait for the
// file's open (recorder.go, ActSendAck); in static mapping it resumes forking at the next
// call's start (spec §3.1: the session outlives calls), which can be before
// the recorder has seen that call's EstablishedEvent and opened its file.
// Held packets of a channel that come before that channel's first packet
// with the marker bit are the previous call's late packets (media.Forker
// marks the first packet of each new call leg) and are not replayed.
type sink struct {
	net   *sim.Network
	node  string
	owner string // the session's name, for error lines

	mu         sync.Mutex
	wav        *media.StereoWAV
	malformed  int64         // packets StereoWAV refused, for the current file
	synced     time.Duration // lab time of the WAV's last Sync
	unrecorded int64         // packets forked to us that no file got
	held       []heldPacket
	heldBytes  []byte        // the held packets' bytes, back to back
	lastAt     time.Duration // lab time of the latest packet, filed or held (callGone)
	srtp       srtpState     // srtp.go: decrypting an encrypted call's forks (spec §1.3)

	// pushed, if set, is called after each packet went into a WAV or was
	// held for the next one: a test hook, so tests can wait for the
	// packets they sent instead of sleeping.
	pushed func(ch int)

	readers sync.WaitGroup

	// ackAt is when the session's latest ACK went out (lab clock + 1, 0 for
	// none pending) and forkRTT how long after it the first forked copy
	// arrived: a round trip recorder → phone (SIP) → recorder (RTP),
	// which bounds how long forked packets are on the wire (drain.go).
	ackAt   atomic.Int64
	forkRTT atomic.Int64
}

// ackSent notes that an ACK went out at now: the next packet times the
// round trip.
func (s *sink) ackSent(now time.Duration) { s.ackAt.Store(int64(now) + 1) }

// timeFork takes the round trip from the pending ACK to this packet.
func (s *sink) timeFork() {
	a := s.ackAt.Load()
	if a == 0 || !s.ackAt.CompareAndSwap(a, 0) {
		return
	}
	s.forkRTT.Store(int64(s.net.Now()) - (a - 1))
}

// syncEvery is how often a WAV's header is made true to its data while
// audio flows.
const syncEvery = time.Second

// rtpBufSize holds any RTP packet a phone sends over loopback (MTU 65535 on
// lo, but G.711 at 20 ms is 172 bytes); a larger datagram is truncated and
// then refused by the parser.
const rtpBufSize = 2048

// start runs one reader per socket until the socket closes.
func (s *sink) start(tx, rx *sim.PacketConn) {
	s.readers.Add(2)
	go s.read(tx, media.ChannelTX)
	go s.read(rx, media.ChannelRX)
}

// last is the lab time of the latest packet forked to the session, 0 for none.
func (s *sink) last() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAt
}

// wait returns once both readers have stopped (their sockets are closed).
func (s *sink) wait() { s.readers.Wait() }

func (s *sink) read(conn *sim.PacketConn, ch int) {
	defer s.readers.Done()
	buf := make([]byte, rtpBufSize)
	for {
		n, src, err := conn.ReadFromAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient socket error; the stream goes on
		}
		s.push(ch, buf[:n], src)
	}
}

// heldPacket is one packet that arrived while no WAV was installed.
type heldPacket struct {
	ch       int
	at       time.Duration // arrival on the lab clock, for PushAt
	off, n   int           // its bytes in sink.heldBytes
	marker   bool          // the first packet of a new call leg (media.Forker)
	replayed bool          // scratch for replay
}

// maxHeld bounds the held packets: 10 s of both forked streams at 20 ms,
// about 220 KB while a session has no file. The ACK does not wait for the
// file's open, and in a set-up burst on a loaded machine the opens queue
// for seconds: with 2 s (200) a 500-call bench lost 9,650–65,987 packets
// past the bound, with 10 s none in two runs (issue 14). Later packets are
// not held; the gap they leave shows in the next file as sequence loss.
const maxHeld = 1000

func (s *sink) push(ch int, pkt []byte, src netip.AddrPort) {
	if s.ackAt.Load() != 0 {
		s.timeFork()
	}
	s.mu.Lock()
	s.lastAt = s.net.Now()
	if s.wav == nil {
		held := s.hold(ch, pkt)
		s.mu.Unlock()
		if held && s.pushed != nil {
			s.pushed(ch)
		}
		return
	}
	now := s.net.Now()
	pkt, clear := s.unprotect(ch, pkt)
	if !clear {
		// Spec §1.3: what cannot be decrypted is not recorded; the first
		// such packet of a file is reported, the count goes into the JSON.
		why, first := s.srtp.firstErr, s.srtp.failed == 1
		s.mu.Unlock()
		if first {
			s.net.Errorf(s.node, src, "recording %s: %s", s.owner, why)
		}
		return
	}
	err := s.wav.PushAt(ch, pkt, now)
	if now-s.synced >= syncEvery {
		// Against a killed process: the header declares what the file
		// holds, at most a second behind (issue 11 item 5).
		s.synced = now
		s.wav.Sync() // a write error is sticky: Close reports it in finish
	}
	first := false
	if err != nil {
		s.malformed++
		first = s.malformed == 1
	}
	s.mu.Unlock()
	if err == nil && s.pushed != nil {
		s.pushed(ch)
	}
	if first {
		// Report the first bad packet of a file only: a broken sender would
		// otherwise flood the trace. The count goes into the JSON.
		side := media.LabelTX
		if ch == media.ChannelRX {
			side = media.LabelRX
		}
		s.net.Errorf(s.node, src, "recording %s: %s packet refused: %v", s.owner, side, err)
	}
}

// hold keeps a packet that arrived with no WAV installed, if it parses and
// the bound allows; s.mu is held. It allocates only while the held buffer
// grows, between calls.
func (s *sink) hold(ch int, pkt []byte) bool {
	h, _, err := media.ParseHeader(pkt)
	if err != nil || len(s.held) >= maxHeld {
		s.unrecorded++
		return false
	}
	s.held = append(s.held, heldPacket{ch: ch, at: s.net.Now(), off: len(s.heldBytes), n: len(pkt), marker: h.Marker})
	s.heldBytes = append(s.heldBytes, pkt...)
	return true
}

// swap installs w (nil for none) and returns the previous WAV with the
// number of packets it refused. Installing a WAV first replays the held
// packets into it (see sink) and reports how many went in and how many
// were left out as the previous call's.
func (s *sink) swap(w *media.StereoWAV) (old *media.StereoWAV, malformed int64, replayed, stale int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, malformed = s.wav, s.malformed
	s.wav, s.malformed = w, 0
	if w != nil {
		replayed, stale = s.replay(w)
	}
	return old, malformed, replayed, stale
}

// replay pushes the held packets into w in arrival order, each channel
// from its first marked packet on (or all of the channel's when none is
// marked), and forgets them; s.mu is held.
func (s *sink) replay(w *media.StereoWAV) (replayed, stale int) {
	for ch := range 2 {
		from := 0
		for i, p := range s.held {
			if p.ch == ch && p.marker {
				from = i
				break
			}
		}
		for i := range s.held {
			if p := &s.held[i]; p.ch == ch {
				p.replayed = i >= from
			}
		}
	}
	for _, p := range s.held {
		if !p.replayed {
			stale++
			continue
		}
		pkt, clear := s.unprotect(p.ch, s.heldBytes[p.off:p.off+p.n])
		if !clear {
			continue
		}
		if err := w.PushAt(p.ch, pkt, p.at); err != nil {
			s.malformed++
			continue
		}
		replayed++
	}
	s.unrecorded += int64(stale)
	s.held, s.heldBytes = nil, nil // held only between calls: give the memory back
	return replayed, stale
}

// dropHeld forgets the held packets (the session ends) and reports how
// many there were.
func (s *sink) dropHeld() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.held)
	s.unrecorded += int64(n)
	s.held, s.heldBytes = nil, nil
	return n
}

// portPlan hands out the recorder's RTP ports: even ports from the first one
// up, walking on past the last port handed out (so a port just released is
// not reused at once and a late packet of an old session cannot land in a
// new one), skipping ports in use.
type portPlan struct {
	first, next uint16
	used        map[uint16]bool
}

func newPortPlan(first uint16) *portPlan {
	return &portPlan{first: first, next: first, used: map[uint16]bool{}}
}

// open binds the next free even port on node.
func (p *portPlan) open(node *sim.Node) (*sim.PacketConn, error) {
	var lastErr error
	for tries := (65536 - int(p.first)) / 2; tries > 0; tries-- {
		port := p.next
		if p.next >= 65534 {
			p.next = p.first
		} else {
			p.next += 2
		}
		if p.used[port] {
			continue
		}
		conn, err := node.ListenPacket(port)
		if err != nil {
			lastErr = err // taken by something else; try the next
			continue
		}
		p.used[port] = true
		return conn, nil
	}
	if lastErr == nil {
		return nil, fmt.Errorf("recorder: every even RTP port from %d is in use", p.first)
	}
	return nil, fmt.Errorf("recorder: no free even RTP port from %d: %w", p.first, lastErr)
}

func (p *portPlan) release(port uint16) { delete(p.used, port) }
