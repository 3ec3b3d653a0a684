package sim

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Stepping (design.md: step mode holds packets; issue 12, Packet Tracer's
// simulation mode). While it is on, each message a lab socket sends that
// the display picks (SIP, CSTA, HTTP: every kind but RTP, which flows on)
// waits, before it is traced or captured, until Step lets it go; the
// messages go one per Step in the order they began to wait. Each message
// that starts to wait is published as a HeldMessage state, so a display
// shows what the next step sends. A datagram waits in its sender. A TCP
// write returns to its writer at once and its bytes wait in the
// connection, as in a kernel's send buffer, so no writer's timeout runs
// out behind a step (the PBX drops a CSTA client whose write blocks 10 s);
// a later write on the same connection, picked or not, goes after it, as a
// byte stream must. Off, it costs one atomic load per message.
type stepGate struct {
	on    atomic.Bool
	held  atomic.Int64
	mu    sync.Mutex
	queue []heldItem               // waiting, oldest first
	off   chan struct{}            // closed when stepping ends
	which func(Proto, []byte) bool // the messages held; nil: every one
}

// heldItem is one message waiting for a step: a datagram's sender, or a
// TCP write waiting in its connection.
type heldItem struct {
	release chan struct{} // UDP: closed to let the sender go
	conn    *Conn         // TCP: the connection whose oldest picked write goes
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

// SetStepping turns step mode on or off; off lets every held message go,
// in order. which, when not nil, picks the messages held (the others go at
// once): a display holds the story's messages and lets the keep-alives
// flow, since the lab's timers run on while a message waits (a phone whose
// keep-alive OPTIONS waited 30 s would log itself off, spec §3.2.6).
func (n *Network) SetStepping(on bool, which func(p Proto, payload []byte) bool) {
	g := &n.step
	g.mu.Lock()
	if on == g.on.Load() {
		g.mu.Unlock()
		return
	}
	if on {
		g.off, g.which = make(chan struct{}), which
		g.on.Store(true)
		g.mu.Unlock()
		return
	}
	g.on.Store(false)
	close(g.off)
	queue := g.queue
	g.queue = nil
	g.mu.Unlock()
	for _, it := range queue {
		g.let(it)
	}
}

// Stepping reports whether step mode is on.
func (n *Network) Stepping() bool { return n.step.on.Load() }

// Step lets the oldest held message go and reports whether one was waiting.
func (n *Network) Step() bool {
	g := &n.step
	for {
		g.mu.Lock()
		if !g.on.Load() || len(g.queue) == 0 {
			g.mu.Unlock()
			return false
		}
		it := g.queue[0]
		g.queue = g.queue[1:]
		g.mu.Unlock()
		if g.let(it) {
			return true
		}
		// A write of a connection closed meanwhile: it went with the close.
	}
}

// let sends one held message; false if it had gone already.
func (g *stepGate) let(it heldItem) bool {
	if it.release != nil {
		close(it.release)
		return true
	}
	return it.conn.releaseStep()
}

// Held is how many messages wait for a step.
func (n *Network) Held() int { return int(n.step.held.Load()) }

// picks says whether step mode holds this message, and queues it if so.
func (g *stepGate) picks(proto Proto, b []byte, it heldItem) bool {
	if proto == ProtoRTP || !g.on.Load() {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.on.Load() || (g.which != nil && !g.which(proto, b)) {
		return false
	}
	g.queue = append(g.queue, it)
	return true
}

// publishHeld says what waits now.
func (n *Network) publishHeld(proto Proto, src, dst netip.AddrPort, b []byte) {
	summary := ""
	if s := n.summarize(proto, b); len(s) > 0 {
		summary = s[0]
	}
	from := n.portName(src)
	n.PublishState(from, HeldMessage{From: from, To: n.portName(dst), Proto: proto, Summary: summary, Dst: dst, Held: int(n.step.held.Load())})
}

// hold makes a sender of a signalling datagram wait for a step while
// stepping is on; it returns at once otherwise, and when the lab closes.
func (n *Network) hold(proto Proto, src, dst netip.AddrPort, b []byte) {
	g := &n.step
	if proto == ProtoRTP || !g.on.Load() {
		return
	}
	g.mu.Lock()
	off := g.off
	g.mu.Unlock()
	it := heldItem{release: make(chan struct{})}
	if off == nil || !g.picks(proto, b, it) {
		return
	}
	g.held.Add(1)
	defer g.held.Add(-1)
	n.publishHeld(proto, src, dst, b)
	select {
	case <-it.release:
	case <-off:
	case <-n.stop:
	}
}

// stepWrite is one write waiting in a connection for step mode.
type stepWrite struct {
	b      []byte
	picked bool // step mode held it; the writes after it wait behind it
}

// stepQueue is a connection's writes waiting for a step, in order.
type stepQueue struct {
	mu     sync.Mutex
	writes []stepWrite
	n      atomic.Int32 // len(writes), for Write's fast path
}

// writeStepped queues b if step mode holds it or a held write is ahead of
// it on this connection; false: b goes the usual way.
func (c *Conn) writeStepped(b []byte) bool {
	n := c.node.net
	q := &c.stepQ
	q.mu.Lock()
	defer q.mu.Unlock()
	picked := n.step.picks(c.proto, b, heldItem{conn: c})
	if !picked && len(q.writes) == 0 {
		return false
	}
	q.writes = append(q.writes, stepWrite{b: bytes.Clone(b), picked: picked})
	q.n.Store(int32(len(q.writes)))
	if picked {
		n.step.held.Add(1)
		n.publishHeld(c.proto, c.local, c.remote, b)
	}
	return true
}

// releaseStep sends the oldest held write and the unpicked writes queued
// behind it, up to the next held one; false if nothing was held.
func (c *Conn) releaseStep() bool {
	q := &c.stepQ
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.writes) == 0 {
		return false
	}
	for i, w := range q.writes {
		if i > 0 && w.picked {
			q.writes = q.writes[i:]
			q.n.Store(int32(len(q.writes)))
			return true
		}
		if w.picked {
			c.node.net.step.held.Add(-1)
		}
		c.writeHeld(w.b)
	}
	q.writes = nil
	q.n.Store(0)
	return true
}

// writeHeld writes bytes a step held; their writer returned long ago, so a
// failure is the trace's to tell.
func (c *Conn) writeHeld(b []byte) {
	if _, err := c.writeNow(b); err != nil {
		c.node.net.Errorf(c.node.name, netip.AddrPort{}, "%s bytes to %s held for a step lost: %v", c.proto, c.remote, err)
	}
}

// flushStep sends every write still waiting for a step (the connection
// closes: TCP sends its data before the FIN).
func (c *Conn) flushStep() {
	q := &c.stepQ
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, w := range q.writes {
		if w.picked {
			c.node.net.step.held.Add(-1)
		}
		c.writeHeld(w.b)
	}
	q.writes = nil
	q.n.Store(0)
}
