package sim

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// Datagram is one message of a WriteBatch: its payload and where it goes.
type Datagram struct {
	B   []byte
	Dst netip.AddrPort
}

// maxBatch bounds one sendmmsg; a longer batch goes in several. A call's
// period is two datagrams (its packet and the recorder's copy).
const maxBatch = 8

// sendBatch is a socket's reusable sendmmsg state, so a batch allocates
// nothing in steady state. A socket makes it at its first batch: a SIP
// socket, which never batches, does not carry its 1.4 KB.
type sendBatch struct {
	pc    *ipv4.PacketConn // over the socket
	msgs  [maxBatch]ipv4.Message
	bufs  [maxBatch][1][]byte
	addrs [maxBatch]net.UDPAddr
	ips   [maxBatch][4]byte
}

// WriteBatch sends each datagram of ds as WriteToAddrPort would — each is
// classified, traced, counted and written to the pcap, and impairments and
// link delays act on each on its own — but those that go on the wire now
// leave in one sendmmsg(2) (issue 14: one system call per socket and
// period, not one per packet). It returns how many datagrams it sent; on
// an error the rest are not sent. It allocates nothing in steady state.
func (c *PacketConn) WriteBatch(ds []Datagram) (int, error) {
	if c.node.net.impairs.active() {
		// An impairment may hold, drop or repeat any one of them: each takes
		// the one-datagram path, which knows how (impair.go).
		for i, d := range ds {
			if _, err := c.WriteToAddrPort(d.B, d.Dst); err != nil {
				return i, err
			}
		}
		return len(ds), nil
	}
	sent := 0
	for sent < len(ds) {
		k, err := c.writeBatch(ds[sent:min(len(ds), sent+maxBatch)])
		sent += k
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// writeBatch records and sends up to maxBatch datagrams.
func (c *PacketConn) writeBatch(ds []Datagram) (int, error) {
	// Each datagram classified once, its destination unmapped once: for
	// step mode's hold here (outside the lock: RTP never waits) and for
	// record below.
	var protos [maxBatch]Proto
	var dsts [maxBatch]netip.AddrPort
	for i, d := range ds {
		dsts[i] = netip.AddrPortFrom(d.Dst.Addr().Unmap(), d.Dst.Port())
		protos[i] = classifyDatagram(d.B, c.local, dsts[i])
		c.node.net.hold(protos[i], c.local, dsts[i], d.B)
	}
	c.batchMu.Lock()
	defer c.batchMu.Unlock()
	// As send: Close waits for the batch, then refuses the next (udp.go).
	c.sending.RLock()
	locked := true
	defer func() {
		if locked {
			c.sending.RUnlock()
		}
	}()
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if c.batch == nil {
		c.batch = &sendBatch{pc: ipv4.NewPacketConn(c.conn)}
	}
	b := c.batch
	for i, d := range ds {
		dst := dsts[i]
		if !dst.Addr().Is4() {
			// The lab's sockets are udp4 (Node.ListenPacket): what went
			// before goes, and the one-datagram path gives this one's error.
			k, err := c.flushBatch(i)
			if err != nil {
				return k, err
			}
			c.sending.RUnlock() // send takes it itself
			locked = false
			if _, err := c.WriteToAddrPort(d.B, dst); err != nil {
				return k, err
			}
			return k + 1, nil
		}
		c.record(protos[i], d.B, dst, packetMark{})
		b.ips[i] = dst.Addr().As4()
		b.addrs[i] = net.UDPAddr{IP: b.ips[i][:], Port: int(dst.Port())}
		b.bufs[i][0] = d.B
		b.msgs[i] = ipv4.Message{Buffers: b.bufs[i][:], Addr: &b.addrs[i]}
	}
	return c.flushBatch(len(ds))
}

// flushBatch puts the first k recorded messages on the wire, with as many
// sendmmsg calls as the kernel needs (it may take fewer than offered).
func (c *PacketConn) flushBatch(k int) (int, error) {
	b := c.batch
	sent := 0
	for sent < k {
		n, err := b.pc.WriteBatch(b.msgs[sent:k], 0)
		sent += n
		if err != nil {
			return sent, err
		}
		if n == 0 {
			break
		}
	}
	for i := range k {
		b.bufs[i][0] = nil // do not pin the caller's buffers
	}
	return sent, nil
}
