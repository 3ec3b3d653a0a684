package sim

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes the lab network. The zero value works: loopback only, a
// 20,000-event trace, no pcap.
type Config struct {
	TraceCapacity int           // events kept in memory; default 20000
	Pcap          io.Writer     // where every delivered packet is written; nil for none
	StreamIdle    time.Duration // an RTP stream with no packet for this long is reported stopped; default 1s
	// AllowNonLoopback lets nodes bind outside 127.0.0.0/8 (split mode). Off by
	// default: nothing in the lab listens beyond loopback unless a user asks.
	AllowNonLoopback bool
	// Summarizers give the trace's one-line summaries for protocols beyond
	// SIP and HTTP (the lab passes the CSTA codec's); one may also replace
	// a default. A protocol with none is summarised by its first line.
	Summarizers map[Proto]func([]byte) []string
	// Clock is the lab clock (clock.go): every node's timers and every
	// timestamp of the trace and the pcap. Nil is Real().
	Clock Clock
}

// Network is the lab world: the nodes, their sockets, the clock, the trace
// and the pcap. Every socket of the lab comes from here, so every datagram and
// every TCP byte passes through one place.
type Network struct {
	cfg         Config
	clock       Clock
	start       time.Time
	summarizers map[Proto]func([]byte) []string // read-only after NewNetwork
	trace       *Trace
	pcap        *PcapWriter
	// pcapReported is the capture's drop count last said on the trace.
	pcapReported atomic.Uint64

	mu        sync.RWMutex
	nodes     map[string]*Node
	byAddr    map[netip.Addr]*Node
	labels    map[netip.AddrPort]string // extra names for ports, e.g. "recorder tx"
	peers     map[netip.Addr]string     // hosts beyond the lab the trace names (Peer)
	listeners map[netip.AddrPort]Proto  // TCP listeners and the protocol they serve
	bound     map[netip.AddrPort]bool   // every address a lab socket holds
	// closedAt is when a lab socket let go of an address (lab time):
	// datagrams it sent just before still arrive from there (labSource).
	closedAt map[netip.AddrPort]time.Duration

	streams streamTable
	srtp    SRTPBook    // srtp.go: the lab's SRTP keys and flows
	impairs impairState // impair.go: loss, delay, duplication, blackholes
	step    stepGate    // step.go: step mode holds signalling messages
	stop    chan struct{}
	done    sync.WaitGroup
	closed  bool
}

// NewNetwork starts a lab network.
func NewNetwork(cfg Config) (*Network, error) {
	if cfg.TraceCapacity == 0 {
		cfg.TraceCapacity = 20000
	}
	if cfg.StreamIdle == 0 {
		cfg.StreamIdle = time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = Real()
	}
	n := &Network{
		cfg:       cfg,
		clock:     cfg.Clock,
		start:     cfg.Clock.Now(),
		trace:     NewTrace(cfg.TraceCapacity),
		nodes:     map[string]*Node{},
		byAddr:    map[netip.Addr]*Node{},
		labels:    map[netip.AddrPort]string{},
		peers:     map[netip.Addr]string{},
		listeners: map[netip.AddrPort]Proto{},
		bound:     map[netip.AddrPort]bool{},
		closedAt:  map[netip.AddrPort]time.Duration{},
		stop:      make(chan struct{}),
	}
	n.summarizers = maps.Clone(defaultSummarizers)
	maps.Copy(n.summarizers, cfg.Summarizers)
	configureSIP()
	n.streams.init()
	if cfg.Pcap != nil {
		p, err := newPcapWriter(cfg.Pcap, cfg.Clock)
		if err != nil {
			return nil, fmt.Errorf("sim: pcap: %w", err)
		}
		n.pcap = p
	}
	n.done.Add(1)
	go n.sweepStreams()
	return n, nil
}

// Trace is the lab's event bus.
func (n *Network) Trace() *Trace { return n.trace }

// Now is lab time: how long the network has run by its clock.
func (n *Network) Now() time.Duration { return n.clock.Since(n.start) }

// Clock is the lab clock; every node takes its timers from it.
func (n *Network) Clock() Clock { return n.clock }

// FlushPcap waits until the pcap's writer has written every packet sent
// so far and pushed its buffer to the file, so a reader of the file (the
// TUI saving one call's packets) sees them all. No pcap: nil.
func (n *Network) FlushPcap() error { return n.pcap.Flush() }

// PcapDropped is how many packets and notes the capture lost because its
// writer fell behind (PcapWriter.Dropped); the trace says so as an error
// each time the count grows. No pcap: 0.
func (n *Network) PcapDropped() uint64 { return n.pcap.Dropped() }

// wallNow is the lab clock's reading as a time, for pcap timestamps.
func (n *Network) wallNow() time.Time { return n.clock.Now() }

// Epoch is the wall time at which the lab clock reads zero.
func (n *Network) Epoch() time.Time { return n.start }

// Close stops the lab: every node's sockets close, open streams are reported
// stopped, the pcap is flushed and the trace closed.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.SetStepping(false, nil) // a sender held for a step lets go
	nodes := make([]*Node, 0, len(n.nodes))
	for _, nd := range n.nodes {
		nodes = append(nodes, nd)
	}
	n.mu.Unlock()
	for _, nd := range nodes {
		nd.CloseSockets()
	}
	close(n.stop)
	n.done.Wait()
	n.impairs.closeWires()
	n.streams.stopAll(n)
	err := n.pcap.Close()
	n.reportPcapDrops()
	n.trace.Close()
	return err
}

// AddNode registers a node by name on its own address.
func (n *Network) AddNode(name string, ip netip.Addr) (*Node, error) {
	if !ip.Is4() {
		return nil, fmt.Errorf("sim: node %s: address %s is not IPv4", name, ip)
	}
	if !ip.IsLoopback() && !n.cfg.AllowNonLoopback {
		return nil, fmt.Errorf("sim: node %s: address %s is outside 127.0.0.0/8 (split mode is off)", name, ip)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.nodes[name]; ok {
		return nil, fmt.Errorf("sim: node name %q is taken", name)
	}
	if o, ok := n.byAddr[ip]; ok {
		return nil, fmt.Errorf("sim: node %s: address %s already belongs to %s", name, ip, o.name)
	}
	nd := &Node{net: n, name: name, ip: ip, socks: map[io.Closer]struct{}{}}
	n.nodes[name] = nd
	n.byAddr[ip] = nd
	n.pcap.AddNode(name, ip)
	return nd, nil
}

// Node returns a node by name.
func (n *Network) Node(name string) (*Node, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	nd, ok := n.nodes[name]
	return nd, ok
}

// Label gives a port its own name in the trace, e.g. "recorder tx".
func (n *Network) Label(ap netip.AddrPort, label string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if label == "" {
		delete(n.labels, ap)
		return
	}
	n.labels[ap] = label
}

// Peer names a host beyond the lab (split mode: a node another process
// runs, or a real PBX, recorder or phone) so the trace and the TUI call it
// by name, and tells which protocol its TCP ports serve (ports: port →
// protocol), so a lab Dial to one is traced as that protocol. What comes
// from a peer is still traced where it arrives, as anything from outside.
func (n *Network) Peer(name string, ip netip.Addr, ports map[uint16]Proto) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.peers[ip] = name
	for port, proto := range ports {
		n.listeners[netip.AddrPortFrom(ip, port)] = proto
	}
}

// NameOf returns the node name of an address, or the address itself.
func (n *Network) NameOf(ip netip.Addr) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if nd, ok := n.byAddr[ip]; ok {
		return nd.name
	}
	if name, ok := n.peers[ip]; ok {
		return name
	}
	return ip.String()
}

func (n *Network) portName(ap netip.AddrPort) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if l, ok := n.labels[ap]; ok {
		return l
	}
	if nd, ok := n.byAddr[ap.Addr()]; ok {
		return nd.name
	}
	if name, ok := n.peers[ap.Addr()]; ok {
		return name
	}
	return ap.String()
}

// isLab reports whether ap belongs to a lab node, i.e. what comes from it
// was traced when it was sent. It goes by address, not by bound socket, so
// datagrams still queued when their sender closed are not counted twice.
func (n *Network) isLab(ap netip.AddrPort) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	_, ok := n.byAddr[ap.Addr()]
	return ok
}

// Note publishes a node's state change in words.
// The capture carries it too, on its "notes" interface (issue 17).
func (n *Network) Note(node, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	n.pcap.Note(n.wallNow(), node, msg, false)
	n.trace.Publish(Event{At: n.Now(), Kind: KindNote, Proto: ProtoLab, From: node, Summary: msg})
}

// PublishState publishes a node's typed state (KindState); its String is
// the event's summary.
func (n *Network) PublishState(node string, st State) {
	n.trace.Publish(Event{At: n.Now(), Kind: KindState, Proto: ProtoLab, From: node, Summary: st.String(), State: st})
}

// Errorf publishes a problem a node met (malformed input, a failed action).
// The node goes on; the trace counts it.
func (n *Network) Errorf(node string, src netip.AddrPort, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if src.IsValid() {
		msg = fmt.Sprintf("from %s: %s", src, msg)
	}
	n.pcap.Note(n.wallNow(), node, msg, true)
	n.trace.Publish(Event{At: n.Now(), Kind: KindError, Proto: ProtoLab, From: node, Src: src, Summary: msg})
}

// packet is called for every datagram or TCP segment a lab socket sends (and
// for those it receives from outside the lab).
func (n *Network) packet(proto Proto, src, dst netip.AddrPort, b []byte) {
	n.tracePacket(proto, src, dst, b, packetMark{})
}

// tracePacket traces a packet with what an impairment did to it (m); the
// zero mark is a packet sent as is. A dropped RTP packet is not counted in
// its stream: impair.go reports RTP loss per stream.
func (n *Network) tracePacket(proto Proto, src, dst netip.AddrPort, b []byte, m packetMark) {
	if proto == ProtoRTP {
		if !m.dropped {
			n.streams.count(n, src, dst)
		}
		return
	}
	summaries := n.summarize(proto, b)
	if len(summaries) == 0 {
		return
	}
	from, to := n.portName(src), n.portName(dst)
	now := n.Now()
	kind := KindMessage
	if m.dropped {
		kind = KindDropped
	}
	for _, s := range summaries {
		n.trace.Publish(Event{At: now, Kind: kind, Proto: proto, Src: src, Dst: dst, From: from, To: to,
			Summary: s, Bytes: append([]byte(nil), b...), Delayed: m.delayed, Duplicate: m.duplicate})
	}
}

func (n *Network) register(ap netip.AddrPort) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("sim: network is closed")
	}
	n.bound[ap] = true
	return nil
}

func (n *Network) unregister(ap netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.bound, ap)
	delete(n.listeners, ap)
	now := n.Now()
	if len(n.closedAt) > 4096 {
		for a, at := range n.closedAt {
			if now-at > closedGrace {
				delete(n.closedAt, a)
			}
		}
	}
	n.closedAt[ap] = now
}

// closedGrace is how long after a lab socket closed a datagram from its
// address still counts as its own: the longest a datagram is on its way
// (the lab's delays are at most a few hundred milliseconds).
const closedGrace = 5 * time.Second

// labSource reports whether a datagram from ap came from a lab socket, and
// so was traced when it was sent: a lab node's address and a port a lab
// socket holds, or held moments ago. Anything else that reaches a lab
// socket — another process, or a datagram whose source address was forged
// to be a node's — is traced and captured where it arrives (issue 11).
func (n *Network) labSource(ap netip.AddrPort) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if _, ok := n.byAddr[ap.Addr()]; !ok {
		return false
	}
	if n.bound[ap] {
		return true
	}
	at, ok := n.closedAt[ap]
	return ok && n.Now()-at <= closedGrace
}

// Node is one host of the lab: a name and its own loopback address. Its
// sockets come from its methods and are traced.
type Node struct {
	net  *Network
	name string
	ip   netip.Addr

	mu    sync.Mutex
	socks map[io.Closer]struct{}
}

func (nd *Node) Name() string            { return nd.name }
func (nd *Node) Addr() netip.Addr        { return nd.ip }
func (nd *Node) Network() *Network       { return nd.net }
func (nd *Node) String() string          { return nd.name + "@" + nd.ip.String() }
func (nd *Node) Note(f string, a ...any) { nd.net.Note(nd.name, f, a...) }

// Publish publishes the node's typed state on the trace (KindState).
func (nd *Node) Publish(st State) { nd.net.PublishState(nd.name, st) }

// Clock is the lab clock, for the node's timers.
func (nd *Node) Clock() Clock { return nd.net.clock }

// AddrPort is the node's address with a port.
func (nd *Node) AddrPort(port uint16) netip.AddrPort { return netip.AddrPortFrom(nd.ip, port) }

func (nd *Node) track(c io.Closer) {
	nd.mu.Lock()
	nd.socks[c] = struct{}{}
	nd.mu.Unlock()
}

func (nd *Node) untrack(c io.Closer) {
	nd.mu.Lock()
	delete(nd.socks, c)
	nd.mu.Unlock()
}

// CloseSockets closes every socket the node holds: what a power cut or a
// process restart does to a host.
func (nd *Node) CloseSockets() {
	nd.mu.Lock()
	socks := make([]io.Closer, 0, len(nd.socks))
	for c := range nd.socks {
		socks = append(socks, c)
	}
	nd.mu.Unlock()
	for _, c := range socks {
		c.Close()
	}
}

// udpReadBuffer is each lab UDP socket's receive buffer (SO_RCVBUF).
const udpReadBuffer = 4 << 20

// ListenPacket opens a traced UDP socket on the node's address. Port 0 picks
// a free one.
func (nd *Node) ListenPacket(port uint16) (*PacketConn, error) {
	uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(nd.AddrPort(port)))
	if err != nil {
		return nil, fmt.Errorf("sim: %s: listen udp %s: %w", nd.name, nd.AddrPort(port), err)
	}
	// A receive buffer a loaded host's stall does not overflow: the
	// kernel drops what does not fit while the reader is descheduled,
	// unseen by the trace. The default (rmem_default, 208 KiB, about 270
	// RTP packets) overflowed once in 190 story runs under load with
	// delayed links; recorders set theirs large for the same reason. It is
	// a limit, not an allocation; see setReadBuffer for rmem_max.
	if err := setReadBuffer(uc, udpReadBuffer); err != nil {
		uc.Close()
		return nil, fmt.Errorf("sim: %s: udp %s: read buffer: %w", nd.name, nd.AddrPort(port), err)
	}
	local := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	if err := nd.net.register(local); err != nil {
		uc.Close()
		return nil, err
	}
	pc := &PacketConn{conn: uc, node: nd, local: local}
	nd.track(pc)
	return pc, nil
}
