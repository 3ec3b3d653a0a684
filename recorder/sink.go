package recorder

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// sink receives one session's two forked RTP streams (design.md "The
// recording session": tx = what the phone sends, rx = what it receives) and
// writes them into the current call's StereoWAV. One reader goroutine per
// socket reads into its own reused buffer, so the packet path neither spawns
// goroutines nor allocates. The WAV is swapped at call boundaries (static
// mapping) under mu; StereoWAV itself is not safe for concurrent use.
type sink struct {
	net   *sim.Network
	node  string
	owner string // the session's name, for error lines

	mu         sync.Mutex
	wav        *media.StereoWAV
	malformed  int64 // packets StereoWAV refused, for the current file
	unrecorded int64 // packets that arrived with no file open

	// pushed, if set, is called after each packet went into a WAV: a test
	// hook, so tests can wait for the packets they sent instead of sleeping.
	pushed func(ch int)

	readers sync.WaitGroup
}

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

func (s *sink) push(ch int, pkt []byte, src netip.AddrPort) {
	s.mu.Lock()
	if s.wav == nil {
		s.unrecorded++
		s.mu.Unlock()
		return
	}
	err := s.wav.PushAt(ch, pkt, s.net.Now())
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
		side := "tx"
		if ch == media.ChannelRX {
			side = "rx"
		}
		s.net.Errorf(s.node, src, "recording %s: %s packet refused: %v", s.owner, side, err)
	}
}

// swap installs w (nil for none) and returns the previous WAV with the
// number of packets it refused.
func (s *sink) swap(w *media.StereoWAV) (old *media.StereoWAV, malformed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, malformed = s.wav, s.malformed
	s.wav, s.malformed = w, 0
	return old, malformed
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
