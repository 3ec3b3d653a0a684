package sim

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// PacketConn is a traced UDP socket of a lab node. It satisfies
// net.PacketConn, so sipgo's Server.ServeUDP can serve it; every datagram
// written through it is classified (SIP, RTP, …), traced and written to the
// pcap before it goes on the real loopback socket. It deliberately does not
// embed *net.UDPConn: no untraced Write path can leak out.
type PacketConn struct {
	conn  *net.UDPConn
	node  *Node
	local netip.AddrPort

	closeOnce sync.Once
	closed    atomic.Bool // a datagram an impairment still holds is then lost
	// sending is held (read-locked) by every send from count to wire, and
	// locked by Close: a datagram is counted and sent before its socket's
	// streams are said stopped, or refused, never counted after them.
	sending sync.RWMutex
	last    atomic.Value // netip.AddrPort of the last datagram read, if trackSource
	// trackSource is set, before the socket is served, on a SIP stack's
	// socket: its error handler names the sender from last. RTP sockets
	// skip the bookkeeping.
	trackSource bool
	// served, if set, is closed at the first read: sipgo reads its
	// listener only after it has put it in its connection pool (StartSIP).
	served     chan struct{}
	servedOnce sync.Once

	// labAddr caches the last source found to be a lab socket (fromLab), so
	// an RTP socket's next datagram from it skips the network's lock.
	labAddr atomic.Uint64

	// The RTP streams this socket sends, by destination (streams.go).
	streams    [streamCacheSize]atomic.Pointer[streamRef]
	streamNext atomic.Uint32

	batchMu sync.Mutex
	batch   *sendBatch // WriteBatch's sendmmsg state (batch.go); nil until the first

}

func (c *PacketConn) lastSource() netip.AddrPort {
	ap, _ := c.last.Load().(netip.AddrPort)
	return ap
}

var _ net.PacketConn = (*PacketConn)(nil)

// WriteTo sends one datagram. addr must be a *net.UDPAddr (as sipgo gives).
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("sim: %s: write to %v: not a UDP address", c.node.name, addr)
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// WriteToAddrPort sends one datagram without allocating (the RTP path).
func (c *PacketConn) WriteToAddrPort(b []byte, dst netip.AddrPort) (int, error) {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	proto := classifyDatagram(b, c.local, dst)
	// With no impairment set, this atomic load is all it costs (impair.go).
	if s := &c.node.net.impairs; s.active() {
		var rules []*impairRule
		if p := s.rules.Load(); p != nil {
			rules = *p
		}
		return c.writeImpaired(rules, proto, b, dst)
	}
	return c.send(proto, b, dst, packetMark{})
}

// send traces the datagram, writes it to the pcap and puts it on the wire
// now; m says what an impairment did to it on the way.
func (c *PacketConn) send(proto Proto, b []byte, dst netip.AddrPort, m packetMark) (int, error) {
	if !m.dropped {
		c.node.net.hold(proto, c.local, dst, b) // step mode (step.go); RTP never waits
	}
	c.sending.RLock() // not across hold: a held message must not hold up Close
	defer c.sending.RUnlock()
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	c.record(proto, b, dst, m)
	return c.conn.WriteToUDPAddrPort(b, dst)
}

// record is what every datagram a lab socket puts on the wire goes
// through first, alone (send) or in a batch (WriteBatch), after step
// mode's hold and under c.sending: the trace or the RTP stream counts,
// and the pcap.
func (c *PacketConn) record(proto Proto, b []byte, dst netip.AddrPort, m packetMark) {
	n := c.node.net
	if proto == ProtoRTP && !m.dropped {
		c.countRTP(dst)
	} else {
		n.tracePacket(proto, c.local, dst, b, m)
	}
	if n.pcap != nil { // the pcap's timestamp is a clock read per RTP packet: skip it with no pcap
		n.pcap.UDP(n.wallNow(), c.local, dst, b)
	}
}

// ReadFrom reads one datagram. Datagrams from outside the lab (a SIPp, a
// sipsak) are traced here, since no lab socket saw them leave.
func (c *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	k, src, err := c.ReadFromAddrPort(b)
	if err != nil {
		return k, nil, err
	}
	return k, net.UDPAddrFromAddrPort(src), nil
}

// ReadFromAddrPort reads one datagram without allocating (the RTP path).
func (c *PacketConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	if c.served != nil {
		c.servedOnce.Do(func() { close(c.served) })
	}
	for {
		k, src, err := c.readOne(b)
		// A SIP stack's socket answers what no stack may take (sipguard.go)
		// and reads on.
		if err == nil && c.trackSource && c.guardSIP(b[:k], src) {
			continue
		}
		return k, src, err
	}
}

func (c *PacketConn) readOne(b []byte) (int, netip.AddrPort, error) {
	k, src, err := c.conn.ReadFromUDPAddrPort(b)
	if err != nil {
		return k, src, err
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	if c.trackSource && c.lastSource() != src {
		// Storing boxes the address (an allocation): store on a change only.
		c.last.Store(src)
	}
	if !c.fromLab(src) {
		n := c.node.net
		n.packet(classifyDatagram(b[:k], src, c.local), src, c.local, b[:k])
		n.pcap.UDPArrived(n.wallNow(), src, c.local, b[:k])
	}
	return k, src, nil
}

// fromLab is Network.labSource with a one-source cache, for the RTP read
// path: the last source found to be a lab socket (its IPv4 address and
// port, plus one; 0 is none) skips the network's lock.
func (c *PacketConn) fromLab(src netip.AddrPort) bool {
	if !src.Addr().Is4() {
		return c.node.net.labSource(src)
	}
	a := src.Addr().As4()
	key := uint64(binary.BigEndian.Uint32(a[:]))<<16 | uint64(src.Port()) + 1
	if c.labAddr.Load() == key {
		return true
	}
	if !c.node.net.labSource(src) {
		return false
	}
	c.labAddr.Store(key)
	return true
}

// Close closes the socket; the node forgets it.
func (c *PacketConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		// A send under way finishes first (sending): the streams stop
		// after their last packet, and no packet starts one anew.
		c.sending.Lock()
		c.closed.Store(true)
		c.sending.Unlock()
		c.node.net.unregister(c.local)
		c.node.untrack(c)
		c.node.net.streams.stopFrom(c.node.net, c.local)
		err = c.conn.Close()
	})
	return err
}

func (c *PacketConn) LocalAddr() net.Addr                { return c.conn.LocalAddr() }
func (c *PacketConn) LocalAddrPort() netip.AddrPort      { return c.local }
func (c *PacketConn) SetDeadline(t time.Time) error      { return c.conn.SetDeadline(t) }
func (c *PacketConn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *PacketConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }
func (c *PacketConn) Node() *Node                        { return c.node }
