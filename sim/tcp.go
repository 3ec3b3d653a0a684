package sim

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Listener is a traced TCP listener of a lab node; the connections it accepts
// are traced Conns.
type Listener struct {
	l     *net.TCPListener
	node  *Node
	local netip.AddrPort
	proto Proto
	once  sync.Once
}

var _ net.Listener = (*Listener)(nil)

// Listen opens a traced TCP listener serving proto (CSTA, HTTP) on the node.
func (nd *Node) Listen(port uint16, proto Proto) (*Listener, error) {
	tl, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(nd.AddrPort(port)))
	if err != nil {
		return nil, fmt.Errorf("sim: %s: listen tcp %s: %w", nd.name, nd.AddrPort(port), err)
	}
	local := tl.Addr().(*net.TCPAddr).AddrPort()
	if err := nd.net.register(local); err != nil {
		tl.Close()
		return nil, err
	}
	nd.net.mu.Lock()
	nd.net.listeners[local] = proto
	nd.net.mu.Unlock()
	l := &Listener{l: tl, node: nd, local: local, proto: proto}
	nd.track(l)
	return l, nil
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	tc, err := l.l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	remote := tc.RemoteAddr().(*net.TCPAddr).AddrPort()
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	c := newConn(l.node, tc, l.local, remote, l.proto)
	n := l.node.net
	if c.external {
		n.pcap.TCPOpen(n.wallNow(), remote, l.local)
	}
	return c, nil
}

func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		l.node.net.unregister(l.local)
		l.node.untrack(l)
		err = l.l.Close()
	})
	return err
}

func (l *Listener) Addr() net.Addr { return l.l.Addr() }

// Dial opens a traced TCP connection from the node to raddr.
func (nd *Node) Dial(raddr netip.AddrPort) (*Conn, error) {
	if err := nd.net.refuseDial(nd, raddr); err != nil {
		return nil, err
	}
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(nd.AddrPort(0)), Timeout: 5 * time.Second}
	c, err := d.Dial("tcp4", raddr.String())
	if err != nil {
		return nil, fmt.Errorf("sim: %s: dial %s: %w", nd.name, raddr, err)
	}
	tc := c.(*net.TCPConn)
	local := tc.LocalAddr().(*net.TCPAddr).AddrPort()
	n := nd.net
	if err := n.register(local); err != nil {
		tc.Close()
		return nil, err
	}
	proto := n.listenerProto(raddr)
	n.pcap.TCPOpen(n.wallNow(), local, raddr)
	conn := newConn(nd, tc, local, raddr, proto)
	conn.registered = true
	return conn, nil
}

// listenerProto is the protocol a lab listener at ap serves; OTHER for an
// address no lab listener holds.
func (n *Network) listenerProto(ap netip.AddrPort) Proto {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if proto, ok := n.listeners[ap]; ok {
		return proto
	}
	return ProtoOther
}

// Conn is a traced TCP connection. Each Write is traced as one message (the
// CSTA codec writes one frame per Write) and written to the pcap as TCP
// segments of a synthesised stream.
type Conn struct {
	c          *net.TCPConn
	node       *Node
	local      netip.AddrPort
	remote     netip.AddrPort
	proto      Proto
	external   bool // the peer is not a lab socket: trace what we read too
	registered bool
	once       sync.Once
	held       atomic.Int32          // writes an impairment delays, not yet delivered (impair.go)
	stepQ      stepQueue             // writes waiting for a step (step.go)
	cut        atomic.Pointer[error] // set when a blackhole reset the connection (impair.go)
	// wdl is the user's write deadline (unix nanoseconds, 0 for none). A
	// delayed write has returned to its writer long ago; the deadline it
	// set must not fail the bytes on the wire (sendHeld).
	wdl atomic.Int64
}

var _ net.Conn = (*Conn)(nil)

func newConn(nd *Node, tc *net.TCPConn, local, remote netip.AddrPort, proto Proto) *Conn {
	c := &Conn{c: tc, node: nd, local: local, remote: remote, proto: proto, external: !nd.net.isLab(remote)}
	nd.track(c)
	return c
}

func (c *Conn) Write(b []byte) (int, error) {
	// Step mode (step.go): the bytes wait in the connection for a step,
	// behind any write that already waits.
	if (c.node.net.step.on.Load() || c.stepQ.n.Load() > 0) && c.cut.Load() == nil && c.writeStepped(b) {
		return len(b), nil
	}
	return c.writeNow(b)
}

// writeNow writes b through the impairments, or straight to the wire.
func (c *Conn) writeNow(b []byte) (int, error) {
	// Held writes go first even once the delay is lifted: a stream keeps its order.
	if c.node.net.impairs.active() || c.held.Load() > 0 || c.cut.Load() != nil {
		return c.writeImpaired(b)
	}
	return c.send(b, packetMark{})
}

// send traces the bytes, writes them to the pcap and to the socket now; m
// says what an impairment did to them on the way.
func (c *Conn) send(b []byte, m packetMark) (int, error) {
	n := c.node.net
	n.tracePacket(c.proto, c.local, c.remote, b, m)
	n.pcap.TCPData(n.wallNow(), c.local, c.remote, b)
	return c.c.Write(b)
}

func (c *Conn) Read(b []byte) (int, error) {
	k, err := c.c.Read(b)
	if err != nil {
		if cut := c.cut.Load(); cut != nil {
			err = *cut // our end of a cut link: a reset, not "use of closed connection"
		}
	}
	if k > 0 && c.external {
		n := c.node.net
		n.packet(c.proto, c.remote, c.local, b[:k])
		n.pcap.TCPData(n.wallNow(), c.remote, c.local, b[:k])
	}
	return k, err
}

// Close closes the connection (FIN in the pcap). Bytes still held by a
// delay are delivered first, as TCP sends its FIN after the data.
func (c *Conn) Close() error {
	if c.stepQ.n.Load() > 0 {
		c.flushStep()
	}
	if c.held.Load() > 0 {
		c.node.net.impairs.line.add(c.node.net, streamKey{c.local, c.remote}, c.node.net.Now(), true, func() { c.closeNow() })
		return nil
	}
	return c.closeNow()
}

func (c *Conn) closeNow() error {
	var err error
	c.once.Do(func() {
		n := c.node.net
		n.pcap.TCPClose(n.wallNow(), c.local, c.remote)
		if c.registered {
			n.unregister(c.local)
		}
		c.node.untrack(c)
		err = c.c.Close()
		if c.cut.Load() != nil {
			err = nil // the reset closed the socket already
		}
	})
	return err
}

func (c *Conn) LocalAddr() net.Addr               { return c.c.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr              { return c.c.RemoteAddr() }
func (c *Conn) RemoteAddrPort() netip.AddrPort    { return c.remote }
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

func (c *Conn) SetDeadline(t time.Time) error {
	c.wdl.Store(deadlineNanos(t))
	return c.c.SetDeadline(t)
}

func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.Store(deadlineNanos(t))
	return c.c.SetWriteDeadline(t)
}

func deadlineNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// sendHeld writes bytes a delay held, with no write deadline: their
// writer returned long ago, as from a kernel's send buffer, and a deadline
// it set since (an HTTP or TLS timeout) is not the network's. The user's
// deadline is back in force afterwards.
func (c *Conn) sendHeld(b []byte, m packetMark) (int, error) {
	c.c.SetWriteDeadline(time.Time{})
	defer func() {
		var t time.Time
		if ns := c.wdl.Load(); ns != 0 {
			t = time.Unix(0, ns)
		}
		c.c.SetWriteDeadline(t)
	}()
	return c.send(b, m)
}
