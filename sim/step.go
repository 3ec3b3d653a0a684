package sim

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Stepping (design.md: step mode holds packets; issue 12, Packet Tracer's
// simulation mode). While it is on, each SIP datagram (any UDP message but
// RTP) a lab socket sends waits in its sender, before it is traced or
// captured, until Step lets one go; RTP flows on. Each message that starts
// to wait is published as a HeldMessage state, so a display shows what the
// next step sends. TCP (CSTA, HTTP) is not held: a writer held past its
// peer's write timeout cuts the link (the PBX drops a CSTA client whose
// event waits 10 s), and the CSTA events follow the SIP messages that cause
// them anyway. Off, it costs one atomic load per message.
type stepGate struct {
	on     atomic.Bool
	held   atomic.Int64
	mu     sync.Mutex
	tokens chan struct{}
	off    chan struct{}            // closed when stepping ends
	which  func(Proto, []byte) bool // the messages held; nil: every one
}

// HeldMessage is a message that waits for a step (SetStepping): From and
// To as the trace names them, its summary, and how many wait now.
type HeldMessage struct {
	From    string         `json:"from"`
	To      string         `json:"to"`
	Proto   Proto          `json:"proto"`
	Summary string         `json:"summary"`
	Dst     netip.AddrPort `json:"dst"`
	Held    int            `json:"held"`
}

func (h HeldMessage) String() string {
	return fmt.Sprintf("held until the next step: %s %s → %s %s (%d waiting)", h.Proto, h.From, h.To, h.Summary, h.Held)
}

// SetStepping turns step mode on or off; off lets every held message go.
// which, when not nil, picks the messages held (the others go at once): a
// display holds the story's messages and lets the keep-alives flow, since
// the lab's timers run on while a message waits (a phone whose keep-alive
// OPTIONS waited 30 s would log itself off, spec §3.2.6).
func (n *Network) SetStepping(on bool, which func(p Proto, payload []byte) bool) {
	g := &n.step
	g.mu.Lock()
	defer g.mu.Unlock()
	if on == g.on.Load() {
		return
	}
	if on {
		g.tokens, g.off, g.which = make(chan struct{}), make(chan struct{}), which
		g.on.Store(true)
		return
	}
	g.on.Store(false)
	close(g.off)
}

// Stepping reports whether step mode is on.
func (n *Network) Stepping() bool { return n.step.on.Load() }

// Step lets one held message go and reports whether one was waiting.
func (n *Network) Step() bool {
	g := &n.step
	g.mu.Lock()
	tokens, off := g.tokens, g.off
	g.mu.Unlock()
	if !g.on.Load() || g.held.Load() == 0 {
		return false
	}
	select {
	case tokens <- struct{}{}:
		return true
	case <-off:
		return false
	}
}

// Held is how many messages wait for a step.
func (n *Network) Held() int { return int(n.step.held.Load()) }

// hold makes a sender of a signalling message wait for a step while
// stepping is on; it returns at once otherwise, and when the lab closes.
func (n *Network) hold(proto Proto, src, dst netip.AddrPort, b []byte) {
	g := &n.step
	if proto == ProtoRTP || !g.on.Load() {
		return
	}
	g.mu.Lock()
	tokens, off, which := g.tokens, g.off, g.which
	g.mu.Unlock()
	if off == nil || (which != nil && !which(proto, b)) {
		return
	}
	held := g.held.Add(1)
	defer g.held.Add(-1)
	summary := ""
	if s := n.summarize(proto, b); len(s) > 0 {
		summary = s[0]
	}
	from := n.portName(src)
	n.PublishState(from, HeldMessage{From: from, To: n.portName(dst), Proto: proto, Summary: summary, Dst: dst, Held: int(held)})
	select {
	case <-tokens:
	case <-off:
	case <-n.stop:
	}
}
