package sim

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Impairment degrades the network between lab nodes, as netem would on a
// real link: it drops a fraction of the datagrams, drops everything
// (a blackhole), delays or duplicates them. It acts on what lab sockets send;
// what arrives from outside the lab is not impaired.
//
// Direction: it acts on packets sent From → To. Both adds To → From. A TCP
// connection cannot live on a one-way link, so a Blackhole cuts a TCP
// connection whichever way it matches.
//
// TCP (CSTA, HTTP) is a reliable stream: it takes Blackhole and Delay only.
// Blackhole is a link cut: open connections are reset (both ends read an
// error wrapping syscall.ECONNRESET that names the impairment), new ones are
// refused (syscall.ECONNREFUSED) until it is lifted. Delay holds each write,
// in order, and a Close after them. Drop and Duplicate on CSTA or HTTP are
// refused; with AllProtos or OTHER they act on datagrams only.
//
// Order: a flow's delayed packets leave in the order sent, whatever the
// jitter. Once a delay is lifted, new datagrams go at once and may overtake
// held ones, as on a real link whose queue drains; TCP writes never do. A
// held datagram whose socket closes meanwhile is on the wire already: it is
// still delivered (sendOnWire).
type Impairment struct {
	From, To string // node names; "" is any node (and any address outside the lab)
	Both     bool   // also impair To → From

	Proto     Proto // the protocol impaired (SIP, RTP, CSTA, HTTP, OTHER)
	AllProtos bool  // every protocol; Proto must then be left zero

	Drop      float64       // fraction of datagrams dropped, 0..1 (UDP only)
	Blackhole bool          // UDP: everything dropped; TCP: link cut (connection reset)
	Delay     time.Duration // each packet is held this long, then delivered
	Jitter    time.Duration // the delay varies uniformly within Delay ± Jitter (Jitter ≤ Delay)
	Duplicate float64       // fraction of datagrams delivered twice, 0..1 (UDP only)

	// Count, when set, limits the impairment to the next Count packets it
	// matches (TCP: writes); then it lifts itself. "Delay the first 200 OK"
	// (spec §3.2.1) is Delay with Count 1.
	Count int

	// Seed seeds the drop, duplicate and jitter draws. The draws are made
	// per flow (sender address and port → destination address and port), so
	// the same seed and the same packets on a flow give the same outcome on
	// every run, however other flows interleave.
	Seed int64
}

// ImpairmentState is an impairment in force and what it has done so far.
type ImpairmentState struct {
	ID int
	Impairment
	Dropped, Delayed, Duplicated uint64
}

func (s ImpairmentState) String() string {
	return fmt.Sprintf("#%d %s: dropped %d, delayed %d, duplicated %d", s.ID, s.Impairment, s.Dropped, s.Delayed, s.Duplicated)
}

// tcpOnly reports the protocols the lab carries over TCP only.
func tcpOnly(p Proto) bool { return p == ProtoCSTA || p == ProtoHTTP }

func (im Impairment) validate() error {
	switch {
	case im.AllProtos && im.Proto != ProtoOther:
		return fmt.Errorf("sim: impairment: AllProtos and Proto %s both set: choose one", im.Proto)
	case im.Proto == ProtoLab || int(im.Proto) >= len(protoNames):
		return fmt.Errorf("sim: impairment: Proto %s is not a network protocol; choose SIP, RTP, CSTA, HTTP, RAS, OTHER or AllProtos", im.Proto)
	case !(im.Drop >= 0 && im.Drop <= 1):
		return fmt.Errorf("sim: impairment: Drop %g is not a fraction between 0 and 1", im.Drop)
	case !(im.Duplicate >= 0 && im.Duplicate <= 1):
		return fmt.Errorf("sim: impairment: Duplicate %g is not a fraction between 0 and 1", im.Duplicate)
	case im.Count < 0:
		return fmt.Errorf("sim: impairment: Count %d is negative", im.Count)
	case im.Delay < 0:
		return fmt.Errorf("sim: impairment: Delay %s is negative", im.Delay)
	case im.Jitter < 0 || im.Jitter > im.Delay:
		return fmt.Errorf("sim: impairment: Jitter %s must lie between 0 and Delay %s", im.Jitter, im.Delay)
	case im.Blackhole && (im.Drop > 0 || im.Delay > 0 || im.Duplicate > 0):
		return fmt.Errorf("sim: impairment: Blackhole drops everything; Drop %g, Delay %s and Duplicate %g must be zero with it", im.Drop, im.Delay, im.Duplicate)
	case !im.Blackhole && im.Drop == 0 && im.Delay == 0 && im.Duplicate == 0:
		return errors.New("sim: impairment sets nothing: give Drop, Blackhole, Delay or Duplicate")
	case tcpOnly(im.Proto) && (im.Drop > 0 || im.Duplicate > 0):
		return fmt.Errorf("sim: impairment: Drop %g / Duplicate %g on %s: %s runs over TCP, a reliable stream that neither loses nor repeats bytes; choose Blackhole (link cut: connection reset) or Delay",
			im.Drop, im.Duplicate, im.Proto, im.Proto)
	}
	return nil
}

// String reads as a trainer would say it: "drop 30% SIP phone→recorder".
func (im Impairment) String() string {
	var what []string
	if im.Blackhole {
		what = append(what, "blackhole")
	}
	if im.Drop > 0 {
		what = append(what, "drop "+percent(im.Drop))
	}
	if im.Delay > 0 {
		d := "delay " + im.Delay.String()
		if im.Jitter > 0 {
			d += " ±" + im.Jitter.String()
		}
		what = append(what, d)
	}
	if im.Duplicate > 0 {
		what = append(what, "duplicate "+percent(im.Duplicate))
	}
	proto := im.Proto.String()
	if im.AllProtos {
		proto = "all"
	}
	arrow := "→"
	if im.Both {
		arrow = "↔"
	}
	s := fmt.Sprintf("%s %s %s%s%s", strings.Join(what, ", "), proto, anyNode(im.From), arrow, anyNode(im.To))
	switch {
	case im.Count == 1:
		s += " (next packet)"
	case im.Count > 1:
		s += fmt.Sprintf(" (next %d packets)", im.Count)
	}
	return s
}

func percent(f float64) string { return strconv.FormatFloat(f*100, 'g', 4, 64) + "%" }

func anyNode(name string) string {
	if name == "" {
		return "any"
	}
	return name
}

// impairState is the Network's set of impairments. The hot path reads rules
// with one atomic load; it is nil while none is set.
type impairState struct {
	mu    sync.Mutex // serialises Impair and Lift
	next  int
	list  []*impairRule
	rules atomic.Pointer[[]*impairRule]
	links atomic.Pointer[linkDelays] // SetLinkDelays; nil: none
	line  delayLine

	wireMu sync.Mutex
	wires  map[netip.Addr]*net.UDPConn // sendOnWire's sockets, one per node address
}

// impairRule is one impairment in force.
type impairRule struct {
	id       int
	im       Impairment
	from, to netip.Addr // invalid: any

	mu    sync.Mutex
	flows map[streamKey]*impairFlow

	dropped, delayed, duplicated atomic.Uint64
	used                         atomic.Uint64 // packets matched, for Count
}

// impairFlow is the draw state of one flow through a rule.
type impairFlow struct {
	salt       uint64
	n          uint64 // packets drawn so far; guarded by the rule's mu
	rtpDropped atomic.Uint64
}

// Impair sets an impairment and returns its id for Lift. It takes effect on
// the next packet. Setting a Blackhole also resets the TCP connections it
// matches at once (link cut: connection reset).
func (n *Network) Impair(im Impairment) (int, error) {
	if err := im.validate(); err != nil {
		return 0, err
	}
	r := &impairRule{im: im, flows: map[streamKey]*impairFlow{}}
	for _, end := range []struct {
		field, name string
		addr        *netip.Addr
	}{{"From", im.From, &r.from}, {"To", im.To, &r.to}} {
		if end.name == "" {
			continue
		}
		nd, ok := n.Node(end.name)
		if !ok {
			return 0, fmt.Errorf("sim: impairment: %s %q is not a node of the lab", end.field, end.name)
		}
		*end.addr = nd.ip
	}
	s := &n.impairs
	s.mu.Lock()
	if im.Delay > 0 {
		if err := s.line.start(n); err != nil {
			s.mu.Unlock()
			return 0, err
		}
	}
	s.next++
	r.id = s.next
	s.list = append(s.list, r)
	s.publish()
	s.mu.Unlock()
	n.Note("network", "impairment %d set: %s", r.id, im)
	if im.Blackhole {
		n.cutMatching(r)
	}
	return r.id, nil
}

// Lift removes an impairment. Packets it already holds are still delivered
// when their delay ends: they are on the wire.
func (n *Network) Lift(id int) error {
	s := &n.impairs
	s.mu.Lock()
	var r *impairRule
	for i, x := range s.list {
		if x.id == id {
			r = x
			s.list = append(s.list[:i:i], s.list[i+1:]...)
			break
		}
	}
	if r == nil {
		s.mu.Unlock()
		return fmt.Errorf("sim: lift impairment %d: no such impairment in force", id)
	}
	s.publish()
	s.mu.Unlock()
	n.lifted(r)
	return nil
}

// LiftAll removes every impairment.
func (n *Network) LiftAll() {
	s := &n.impairs
	s.mu.Lock()
	list := s.list
	s.list = nil
	s.publish()
	s.mu.Unlock()
	for _, r := range list {
		n.lifted(r)
	}
}

// Impairments lists the impairments in force, oldest first.
func (n *Network) Impairments() []ImpairmentState {
	s := &n.impairs
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ImpairmentState, 0, len(s.list))
	for _, r := range s.list {
		out = append(out, r.state())
	}
	return out
}

func (r *impairRule) state() ImpairmentState {
	return ImpairmentState{ID: r.id, Impairment: r.im,
		Dropped: r.dropped.Load(), Delayed: r.delayed.Load(), Duplicated: r.duplicated.Load()}
}

// publish swaps in a new snapshot of the rules; s.mu is held.
func (s *impairState) publish() {
	if len(s.list) == 0 {
		s.rules.Store(nil)
		return
	}
	snap := append([]*impairRule(nil), s.list...)
	s.rules.Store(&snap)
}

// lifted reports a lifted rule: its totals, and the RTP it dropped per
// stream (RTP is never traced per packet).
func (n *Network) lifted(r *impairRule) {
	st := r.state()
	n.Note("network", "impairment %d lifted: %s; it dropped %d, delayed %d, duplicated %d", r.id, r.im, st.Dropped, st.Delayed, st.Duplicated)
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, f := range r.flows {
		if p := f.rtpDropped.Load(); p > 0 {
			n.trace.Publish(Event{At: n.Now(), Kind: KindDropped, Proto: ProtoRTP, Src: k.src, Dst: k.dst,
				From: n.portName(k.src), To: n.portName(k.dst), Packets: p,
				Summary: fmt.Sprintf("RTP stream %s → %s: %d packets dropped by impairment %d (%s)", k.src, n.portName(k.dst), p, r.id, r.im)})
		}
	}
}

// towards reports whether a packet src → dst goes the rule's way.
func (r *impairRule) towards(src, dst netip.Addr) bool {
	oneWay := func(a, b netip.Addr) bool {
		return (!r.from.IsValid() || r.from == a) && (!r.to.IsValid() || r.to == b)
	}
	return oneWay(src, dst) || (r.im.Both && oneWay(dst, src))
}

// flow returns the rule's draw state for a flow and the index of this
// packet's draw on it.
func (r *impairRule) flow(src, dst netip.AddrPort) (*impairFlow, uint64) {
	k := streamKey{src, dst}
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.flows[k]
	if f == nil {
		f = &impairFlow{salt: mix64(mix64(uint64(r.im.Seed)^addrPortKey(src)) ^ addrPortKey(dst))}
		r.flows[k] = f
	}
	i := f.n
	f.n++
	return f, i
}

// draw is a uniform number in [0, 1), the which-th draw of packet i on f: a
// hash, so a flow's outcomes depend only on the seed and its own packets.
func (f *impairFlow) draw(i uint64, which uint64) float64 {
	return float64(mix64(f.salt+i*4+which)>>11) / (1 << 53)
}

// mix64 is SplitMix64's finaliser.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func addrPortKey(ap netip.AddrPort) uint64 {
	a := ap.Addr().As16()
	return mix64(binary.BigEndian.Uint64(a[:8])^mix64(binary.BigEndian.Uint64(a[8:]))) ^ uint64(ap.Port())
}

// verdict is what the matching rules do to one packet.
type verdict struct {
	matched  bool
	drop     *impairRule // the rule that dropped it
	dropFlow *impairFlow
	hold     bool          // a Delay matched: the packet goes through the delay line
	delay    time.Duration // how long, jitter included (may be 0 with jitter)
	copies   int           // extra copies
	spent    []*impairRule // rules whose Count this packet used up: lift them
}

// take counts a matched packet against r's Count: false when r is used up
// (it is being lifted), and v notes the rule this packet uses up.
func (r *impairRule) take(v *verdict) bool {
	if r.im.Count == 0 {
		return true
	}
	k := r.used.Add(1)
	if k == uint64(r.im.Count) {
		v.spent = append(v.spent, r)
	}
	return k <= uint64(r.im.Count)
}

// liftSpent lifts the rules whose Count is used up; one already lifted is
// left alone.
func (n *Network) liftSpent(spent []*impairRule) {
	for _, r := range spent {
		n.Lift(r.id)
	}
}

// judge applies every rule that matches the packet: any drop wins, delays
// add up, each duplicating rule may add a copy. For a TCP stream, Drop and
// Duplicate do not apply, and a Blackhole matching either way cuts.
func judge(rules []*impairRule, proto Proto, src, dst netip.AddrPort, stream bool) (v verdict) {
	for _, r := range rules {
		if !r.im.AllProtos && r.im.Proto != proto {
			continue
		}
		fwd := r.towards(src.Addr(), dst.Addr())
		if stream && r.im.Blackhole && (fwd || r.towards(dst.Addr(), src.Addr())) {
			if !r.take(&v) {
				continue
			}
			r.dropped.Add(1)
			v.matched, v.drop = true, r
			return v
		}
		if !fwd || !r.take(&v) {
			continue
		}
		v.matched = true
		f, i := r.flow(src, dst)
		if !stream && (r.im.Blackhole || (r.im.Drop > 0 && f.draw(i, 0) < r.im.Drop)) {
			r.dropped.Add(1)
			v.drop, v.dropFlow = r, f
			return v
		}
		if r.im.Delay > 0 {
			r.delayed.Add(1)
			v.hold = true
			v.delay += r.im.Delay
			if r.im.Jitter > 0 {
				v.delay += time.Duration((2*f.draw(i, 1) - 1) * float64(r.im.Jitter))
			}
		}
		if !stream && r.im.Duplicate > 0 && f.draw(i, 2) < r.im.Duplicate {
			r.duplicated.Add(1)
			v.copies++
		}
	}
	return v
}

// writeImpaired is WriteToAddrPort while impairments are set. The sender
// never waits: a delayed datagram is copied and sent later by the delay line.
func (c *PacketConn) writeImpaired(rules []*impairRule, proto Proto, b []byte, dst netip.AddrPort) (int, error) {
	n := c.node.net
	v := judge(rules, proto, c.local, dst, false)
	defer n.liftSpent(v.spent)
	if v.drop == nil {
		if d, ok := n.linkDelay(n.impairs.links.Load(), c.local, dst); ok {
			v.matched, v.hold, v.delay = true, true, v.delay+d
		}
	}
	switch {
	case !v.matched:
		return c.send(proto, b, dst, packetMark{})
	case v.drop != nil:
		if proto == ProtoRTP {
			if v.dropFlow.rtpDropped.Add(1) == 1 {
				n.trace.Publish(Event{At: n.Now(), Kind: KindDropped, Proto: ProtoRTP, Src: c.local, Dst: dst,
					From: n.portName(c.local), To: n.portName(dst), Packets: 1,
					Summary: fmt.Sprintf("RTP stream %s → %s: dropping packets (impairment %d: %s)", c.local, n.portName(dst), v.drop.id, v.drop.im)})
			}
			return len(b), nil
		}
		n.tracePacket(proto, c.local, dst, b, packetMark{dropped: true})
		return len(b), nil
	case v.hold:
		held, sent, copies := bytes.Clone(b), n.Now(), v.copies
		n.impairs.line.add(n, streamKey{c.local, dst}, sent+v.delay, false, func() {
			c.sendCopies(proto, held, dst, packetMark{delayed: n.Now() - sent}, copies)
		})
		return len(b), nil
	}
	return c.sendCopies(proto, b, dst, packetMark{}, v.copies)
}

// sendCopies sends a datagram and then its duplicates. A held datagram
// whose socket closed meanwhile (a hang-up closes the call's RTP socket, a
// power cut or a restart every socket) was on the wire already, and a link
// does not call it back: it is delivered from the node's address (wire).
func (c *PacketConn) sendCopies(proto Proto, b []byte, dst netip.AddrPort, m packetMark, copies int) (int, error) {
	if c.closed.Load() {
		return c.node.net.impairs.sendOnWire(c.node.net, proto, c.local, b, dst, m, copies)
	}
	k, err := c.send(proto, b, dst, m)
	m.duplicate = true
	for range copies {
		c.send(proto, b, dst, m)
	}
	return k, err
}

// sendOnWire delivers a held datagram whose socket has closed. The trace
// and the pcap show it from its socket's address; the kernel sees it come
// from a port of the node's address that only the delay line uses (the old
// one may be bound again already), which no lab receiver tells apart: the
// recorder's sink and the phones' media read any source, and a SIP answer
// goes by its Via. RTP is not counted into a stream: the socket's streams
// were reported stopped when it closed.
func (s *impairState) sendOnWire(n *Network, proto Proto, src netip.AddrPort, b []byte, dst netip.AddrPort, m packetMark, copies int) (int, error) {
	w, err := s.wire(n, src.Addr())
	if err != nil {
		n.tracePacket(proto, src, dst, b, packetMark{dropped: true})
		return 0, err
	}
	var k int
	for i := range copies + 1 {
		if i > 0 {
			m.duplicate = true
		}
		if proto != ProtoRTP {
			n.tracePacket(proto, src, dst, b, m)
		}
		if n.pcap != nil {
			n.pcap.UDP(n.wallNow(), src, dst, b)
		}
		if k, err = w.WriteToUDPAddrPort(b, dst); err != nil {
			return k, err
		}
	}
	return k, nil
}

// wire is the delay line's socket on a node's address, opened on first use.
func (s *impairState) wire(n *Network, ip netip.Addr) (*net.UDPConn, error) {
	s.wireMu.Lock()
	defer s.wireMu.Unlock()
	if w := s.wires[ip]; w != nil {
		return w, nil
	}
	w, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, fmt.Errorf("sim: delayed datagram from %s: %w", ip, err)
	}
	if s.wires == nil {
		s.wires = map[netip.Addr]*net.UDPConn{}
	}
	s.wires[ip] = w
	// The delay line's socket is the lab's: what it sends was traced.
	if err := n.register(w.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		w.Close()
		delete(s.wires, ip)
		return nil, err
	}
	return w, nil
}

// closeWires closes the delay line's sockets once it has stopped.
func (s *impairState) closeWires() {
	s.wireMu.Lock()
	defer s.wireMu.Unlock()
	for ip, w := range s.wires {
		w.Close()
		delete(s.wires, ip)
	}
}

// packetMark is what an impairment did to a packet; the zero value is a
// packet sent as is.
type packetMark struct {
	dropped   bool
	delayed   time.Duration
	duplicate bool
}

// writeImpaired is Conn.Write while impairments are set, writes are held or
// the link is cut. A Blackhole cuts the link: the bytes are discarded and the
// connection reset, so both ends see "connection reset" — what a trainer can
// show and an application can recover from by reconnecting (which is refused
// until the blackhole is lifted). A Delay holds the bytes and returns at
// once, as a kernel's send buffer would; order is kept.
func (c *Conn) writeImpaired(b []byte) (int, error) {
	if cut := c.cut.Load(); cut != nil {
		return 0, *cut
	}
	n := c.node.net
	var rules []*impairRule
	if p := n.impairs.rules.Load(); p != nil {
		rules = *p
	}
	v := judge(rules, c.proto, c.local, c.remote, true)
	defer n.liftSpent(v.spent)
	if v.drop != nil {
		n.tracePacket(c.proto, c.local, c.remote, b, packetMark{dropped: true})
		return 0, c.cutBy(v.drop)
	}
	if d, ok := n.linkDelay(n.impairs.links.Load(), c.local, c.remote); ok {
		v.hold, v.delay = true, v.delay+d
	}
	if !v.hold && c.held.Load() == 0 {
		return c.send(b, packetMark{})
	}
	held, sent := bytes.Clone(b), n.Now()
	c.held.Add(1)
	n.impairs.line.add(n, streamKey{c.local, c.remote}, sent+v.delay, false, func() {
		defer c.held.Add(-1)
		if c.cut.Load() != nil { // the link was cut while the bytes were held
			n.tracePacket(c.proto, c.local, c.remote, held, packetMark{dropped: true})
			return
		}
		if _, err := c.sendHeld(held, packetMark{delayed: n.Now() - sent}); err != nil {
			n.Errorf(c.node.name, netip.AddrPort{}, "delayed %s bytes to %s lost: %v", c.proto, c.remote, err)
		}
	})
	return len(b), nil
}

// cutBy resets the connection because r cut the link: RST in the pcap, a
// reset for the peer, and for this end's user an error that names r and
// wraps syscall.ECONNRESET.
func (c *Conn) cutBy(r *impairRule) error {
	n := c.node.net
	err := fmt.Errorf("sim: %s %s → %s: link cut by impairment %d (%s): %w",
		c.proto, n.portName(c.local), n.portName(c.remote), r.id, r.im, syscall.ECONNRESET)
	if !c.cut.CompareAndSwap(nil, &err) {
		return *c.cut.Load()
	}
	n.Note("network", "%s connection %s → %s reset: link cut by impairment %d", c.proto, c.local, c.remote, r.id)
	n.pcap.TCPReset(n.wallNow(), c.local, c.remote)
	c.c.SetLinger(0) // close sends RST, not FIN
	c.c.Close()
	return err
}

// cutMatching resets the open TCP connections a new blackhole matches, one
// end per connection; the other end learns it from the reset.
func (n *Network) cutMatching(r *impairRule) {
	n.mu.RLock()
	nodes := make([]*Node, 0, len(n.nodes))
	for _, nd := range n.nodes {
		nodes = append(nodes, nd)
	}
	n.mu.RUnlock()
	var conns []*Conn
	for _, nd := range nodes {
		nd.mu.Lock()
		for s := range nd.socks {
			if c, ok := s.(*Conn); ok {
				conns = append(conns, c)
			}
		}
		nd.mu.Unlock()
	}
	seen := map[streamKey]bool{}
	for _, c := range conns {
		if seen[streamKey{c.remote, c.local}] {
			continue
		}
		v := judge([]*impairRule{r}, c.proto, c.local, c.remote, true)
		if v.drop != nil {
			seen[streamKey{c.local, c.remote}] = true
			c.cutBy(r)
		}
		n.liftSpent(v.spent)
	}
}

// refuseDial fails a dial across a blackhole at once, as a link that
// answers with a reset would: "connection refused" naming the impairment.
func (n *Network) refuseDial(nd *Node, raddr netip.AddrPort) error {
	p := n.impairs.rules.Load()
	if p == nil {
		return nil
	}
	proto := n.listenerProto(raddr)
	var cuts []*impairRule
	for _, r := range *p {
		if r.im.Blackhole {
			cuts = append(cuts, r)
		}
	}
	local := nd.AddrPort(0)
	v := judge(cuts, proto, local, raddr, true)
	defer n.liftSpent(v.spent)
	if v.drop == nil {
		return nil
	}
	n.trace.Publish(Event{At: n.Now(), Kind: KindDropped, Proto: proto, Src: local, Dst: raddr,
		From: nd.name, To: n.portName(raddr), Summary: "TCP connect (SYN)"})
	return fmt.Errorf("sim: %s: dial %s: link cut by impairment %d (%s): %w", nd.name, raddr, v.drop.id, v.drop.im, syscall.ECONNREFUSED)
}

// delayLine holds delayed packets and delivers each when its time comes,
// from one goroutine, so no sender ever waits. Packets of one flow (sender
// socket → destination) leave in the order they were sent: jitter varies the
// delay but never reorders a flow.
type delayLine struct {
	mu      sync.Mutex
	queue   heldQueue
	seq     uint64
	last    map[streamKey]time.Duration // due time of the last packet queued per flow
	wake    chan struct{}
	running bool
	stopped bool
}

type heldPacket struct {
	due     time.Duration // lab clock
	seq     uint64
	flow    streamKey
	final   bool // a held TCP close: run even when the lab stops, so the socket is released
	deliver func()
}

// heldQueue is a heap by due time, then by order of arrival.
type heldQueue []*heldPacket

func (q heldQueue) Len() int { return len(q) }
func (q heldQueue) Less(i, j int) bool {
	return q[i].due < q[j].due || (q[i].due == q[j].due && q[i].seq < q[j].seq)
}
func (q heldQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *heldQueue) Push(x any)   { *q = append(*q, x.(*heldPacket)) }
func (q *heldQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return p
}

// start runs the line's goroutine once; the Network's Close stops it.
func (l *delayLine) start(n *Network) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("sim: impairment: network is closed")
	}
	n.done.Add(1)
	l.running = true
	l.last = map[streamKey]time.Duration{}
	l.wake = make(chan struct{}, 1)
	go l.run(n)
	return nil
}

// add queues deliver to run at due, and never before anything queued
// earlier on the same flow.
func (l *delayLine) add(n *Network, flow streamKey, due time.Duration, final bool, deliver func()) {
	l.mu.Lock()
	if !l.running || l.stopped {
		l.mu.Unlock()
		if final {
			deliver()
		}
		return
	}
	if last, ok := l.last[flow]; ok && last > due {
		due = last
	}
	l.last[flow] = due
	l.seq++
	heap.Push(&l.queue, &heldPacket{due: due, seq: l.seq, flow: flow, final: final, deliver: deliver})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *delayLine) run(n *Network) {
	defer n.done.Done()
	timer := n.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		now := n.Now()
		var ready []*heldPacket
		for len(l.queue) > 0 && l.queue[0].due <= now {
			p := heap.Pop(&l.queue).(*heldPacket)
			if l.last[p.flow] == p.due {
				delete(l.last, p.flow)
			}
			ready = append(ready, p)
		}
		wait := time.Hour
		if len(l.queue) > 0 {
			wait = l.queue[0].due - now
		}
		l.mu.Unlock()
		for _, p := range ready {
			p.deliver()
		}
		if len(ready) > 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-n.stop:
			l.stopAll()
			return
		case <-l.wake:
		case <-timer.C:
		}
	}
}

// stopAll discards what is held when the lab stops, except held closes,
// which run so their sockets are released.
func (l *delayLine) stopAll() {
	l.mu.Lock()
	l.stopped = true
	q := l.queue
	l.queue = nil
	l.mu.Unlock()
	for _, p := range q {
		if p.final {
			p.deliver()
		}
	}
}

// LinkDelays gives every link of the lab — each ordered pair of nodes, each
// direction on its own — a base delay drawn from [Min, Max] with Seed, as a
// real network's paths each have their own latency, and each packet a
// jitter of up to a tenth of its link's base delay either way. A flow (one
// socket to one destination) keeps its order: a later packet never
// overtakes an earlier one (the delay line). It applies to every protocol:
// datagrams (SIP, RTP) and TCP writes (CSTA, HTTP) alike, and adds to any
// Impairment in force; Lift and LiftAll leave it alone. What nodes send to
// themselves, and what comes from or goes outside the lab, is not delayed.
type LinkDelays struct {
	Min, Max time.Duration
	Seed     int64
}

func (d LinkDelays) String() string {
	return fmt.Sprintf("link delays %s-%s (seed %d)", d.Min, d.Max, d.Seed)
}

func (d LinkDelays) validate() error {
	if d.Min < 0 || d.Max < d.Min {
		return fmt.Errorf("sim: link delays %s-%s: want 0 ≤ MIN ≤ MAX", d.Min, d.Max)
	}
	return nil
}

// linkDelays is the Network's LinkDelays in force.
type linkDelays struct {
	cfg   LinkDelays
	links sync.Map // [2]netip.Addr → *linkState
}

// linkState is one link's base delay and its per-flow draw counters.
type linkState struct {
	base  time.Duration // < 0: not a lab link (no delay)
	mu    sync.Mutex
	flows map[streamKey]uint64
}

// SetLinkDelays gives every link of the lab its own delay (LinkDelays).
// The zero value turns them off. Set it before the nodes start: a link's
// delay is drawn on its first packet and fixed from then on.
func (n *Network) SetLinkDelays(d LinkDelays) error {
	if err := d.validate(); err != nil {
		return err
	}
	s := &n.impairs
	if d.Max == 0 {
		s.links.Store(nil)
		return nil
	}
	s.mu.Lock()
	err := s.line.start(n)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.links.Store(&linkDelays{cfg: d})
	n.Note("network", "%s: every link its own delay, jitter ±10%%, each flow in order", d)
	return nil
}

// LinkDelays returns the link delays in force (zero: none).
func (n *Network) LinkDelays() LinkDelays {
	if l := n.impairs.links.Load(); l != nil {
		return l.cfg
	}
	return LinkDelays{}
}

// active reports whether a write must go through writeImpaired.
func (s *impairState) active() bool { return s.rules.Load() != nil || s.links.Load() != nil }

// linkDelay is the delay of one packet src → dst under l: its link's base
// delay and this packet's jitter; false when the link is not delayed.
func (n *Network) linkDelay(l *linkDelays, src, dst netip.AddrPort) (time.Duration, bool) {
	if l == nil || src.Addr() == dst.Addr() {
		return 0, false
	}
	key := [2]netip.Addr{src.Addr(), dst.Addr()}
	v, ok := l.links.Load(key)
	if !ok {
		st := &linkState{base: -1, flows: map[streamKey]uint64{}}
		a, b := n.NameOf(src.Addr()), n.NameOf(dst.Addr())
		if n.isLab(src) && n.isLab(dst) && a != "" && b != "" {
			// Drawn from the node names, so a seed gives the same delays
			// whatever addresses the lab uses.
			h := mix64(uint64(l.cfg.Seed) ^ mix64(hashString(a)) ^ mix64(mix64(hashString(b))))
			u := float64(h>>11) / (1 << 53)
			st.base = l.cfg.Min + time.Duration(u*float64(l.cfg.Max-l.cfg.Min))
		}
		v, _ = l.links.LoadOrStore(key, st)
	}
	st := v.(*linkState)
	if st.base < 0 {
		return 0, false
	}
	jitter := st.base / 10
	if jitter == 0 {
		return st.base, true
	}
	k := streamKey{src, dst}
	st.mu.Lock()
	i := st.flows[k]
	st.flows[k] = i + 1
	st.mu.Unlock()
	salt := mix64(uint64(l.cfg.Seed)^addrPortKey(src)) ^ addrPortKey(dst)
	u := float64(mix64(salt+i)>>11) / (1 << 53)
	return st.base + time.Duration((2*u-1)*float64(jitter)), true
}

func hashString(s string) uint64 {
	var h uint64 = 14695981039346656037 // FNV-1a
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// ParseLinkDelays reads a --net-delay value: "MIN-MAX" ("0-300ms",
// "20ms-50ms"; a bare number takes the other end's unit) or one duration
// for every link alike. The seed is set apart.
func ParseLinkDelays(s string, seed int64) (LinkDelays, error) {
	lo, hi, ranged := strings.Cut(strings.TrimSpace(s), "-")
	unit := func(v string) string { return strings.TrimLeft(v, "0123456789.") }
	if ranged && unit(lo) == "" {
		lo += unit(hi)
	}
	if !ranged {
		hi = lo
	}
	min, err1 := time.ParseDuration(lo)
	max, err2 := time.ParseDuration(hi)
	if err := errors.Join(err1, err2); err != nil {
		return LinkDelays{}, fmt.Errorf("sim: net delay %q: want MIN-MAX such as 0-300ms or 20ms-50ms: %w", s, err)
	}
	d := LinkDelays{Min: min, Max: max, Seed: seed}
	return d, d.validate()
}
