package sim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

const (
	pcapSnapLen    = 65535
	pcapMSS        = 1460  // Ethernet MTU 1500 - 20 (IPv4) - 20 (TCP); also the MSS option in SYNs
	pcapWindow     = 65535 // no window scaling: in-flight data stays below 2*MSS, see pcapTCPSend
	pcapTTL        = 64
	pcapBufferSize = 64 << 10
)

// pcapTCP flag bits, as in the TCP header (RFC 9293 §3.1).
const (
	pcapFIN uint8 = 1 << iota
	pcapSYN
	pcapRST
	pcapPSH
	pcapACK
)

// PcapWriter writes the lab's packets as a pcapng file (nanosecond
// timestamps, Ethernet, snaplen 65535) that Wireshark decodes like a capture
// from a real network. Each node is an interface of its own, named after it
// (AddNode): a packet is captured where it leaves its sender, or where it
// arrives when no node has its source address (interface "other": spoofed
// and foreign datagrams). Every lab address gets its own MAC (02:00 followed
// by the four bytes of the IPv4 address), IPv4 IDs count per source, and IP,
// UDP and TCP checksums are valid.
//
// The lab's TCP runs over real loopback sockets whose segments it never sees,
// so the writer synthesises the TCP stream from what the application wrote:
// handshake, sequence and acknowledgement numbers, MSS-sized segments, FIN
// and RST. Wireshark then reassembles CSTA and HTTP as it would on the wire.
//
// Nothing slow is on the sender's path (issue 14 item 2): UDP, TCPData,
// Note and the rest copy the bytes and their addresses into a slot of a
// preallocated lock-free ring (pcapqueue.go) and return; one writer
// goroutine serialises the frames (gopacket), stamps them in time order and
// writes them. A full ring drops the record and counts it (Dropped): a
// sender never waits for the capture. AddNode, Flush and Close wait for
// room, and Flush and Close for the writer to reach them. The file reaches
// the disk at least every PcapFlushEvery of the clock, whole records only,
// so a reader that opens it mid-run (or after a kill) sees no torn record.
//
// Every method on a nil *PcapWriter is a no-op. Methods are safe for
// concurrent use. The first write error is remembered: later writes are
// dropped and Err, Flush and Close return it.
type PcapWriter struct {
	q        pcapQueue
	sleeping atomic.Bool   // the writer waits on wake (pcapqueue.go)
	wake     chan struct{} // one token: the writer has work
	closing  atomic.Bool   // Close has begun: records are refused
	done     chan struct{} // the writer goroutine has returned
	dropped  atomic.Uint64 // records refused because the ring was full
	written  atomic.Uint64 // records the writer has handled

	flushMu    sync.Mutex // one Flush at a time: flushReply is reused
	flushReply chan error
	closeOnce  sync.Once

	mu  sync.Mutex // guards err for readers other than the writer
	err error

	// The rest belongs to the writer goroutine.
	tick       *Ticker
	bw         *bufio.Writer
	w          *pcapgo.NgWriter
	last       time.Time          // the latest record's timestamp
	ifaces     map[netip.Addr]int // a node's address → its interface (AddNode)
	iface      int                // the interface of the frame being written
	notesIface int                // the "notes" interface (pcapnote.go); -1 until the first note
	note       []byte             // a note's frame, reused

	// Serialisation state reused for every frame so that the writer does
	// not allocate once warm: the layer structs, their address storage and
	// one layer stack per frame shape.
	buf      gopacket.SerializeBuffer
	eth      layers.Ethernet
	ip4      layers.IPv4
	ip6      layers.IPv6
	udp      layers.UDP
	tcp      layers.TCP
	payload  gopacket.Payload
	srcMAC   [6]byte
	dstMAC   [6]byte
	src4     [4]byte
	dst4     [4]byte
	src6     [16]byte
	dst6     [16]byte
	synOpts  []layers.TCPOption
	mssValue [2]byte
	udp4     []gopacket.SerializableLayer
	udp6     []gopacket.SerializableLayer
	tcp4     []gopacket.SerializableLayer
	tcp6     []gopacket.SerializableLayer

	ipID  map[netip.Addr]uint16
	flows map[pcapFlowKey]*pcapFlow
}

// PcapFlushEvery is how often, on the lab clock, the pcap's buffer goes to
// its file while the lab runs.
const PcapFlushEvery = 250 * time.Millisecond

// PcapQueueRecords is the ring's size: about 0.2 s of a 500-call lab's
// 150,000 packets/s, so a writer descheduled that long loses nothing.
// Each slot holds a packet of up to pcapInline bytes in place (RTP);
// larger ones borrow a pooled buffer.
const PcapQueueRecords = 1 << 15

// pcapFlowKey names a TCP connection by the side that opened it.
type pcapFlowKey struct{ client, server netip.AddrPort }

// pcapFlow is the synthesised state of one TCP connection; end[0] is the
// client, end[1] the server.
type pcapFlow struct {
	end [2]pcapTCPEnd
}

type pcapTCPEnd struct {
	addr    netip.AddrPort
	next    uint32 // SND.NXT: sequence number of the next byte this end sends
	acked   uint32 // highest acknowledgement number this end has sent
	finSent bool
}

// NewPcapWriter writes a pcap file header to w and returns a writer for the
// frames, flushed every PcapFlushEvery of the machine's clock. Call Flush
// to push what is queued to w at once, and Close at the end. Close does not
// close w.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) { return newPcapWriter(w, Real()) }

// newPcapWriter is NewPcapWriter on the lab's clock.
func newPcapWriter(w io.Writer, clock Clock) (*PcapWriter, error) {
	if w == nil {
		return nil, errors.New("sim: pcap: nil writer")
	}
	p := &PcapWriter{
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		flushReply: make(chan error, 1),
		bw:         bufio.NewWriterSize(w, pcapBufferSize),
		buf:        gopacket.NewSerializeBufferExpectedSize(2048, 64),
		ipID:       make(map[netip.Addr]uint16),
		flows:      make(map[pcapFlowKey]*pcapFlow),
		ifaces:     make(map[netip.Addr]int),

		notesIface: -1,
	}
	ng, err := pcapgo.NewNgWriterInterface(p.bw, pcapInterface("other", "addresses no node of the lab has"),
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "reclab",
			Comment: "reclab lab capture: one interface per node, each packet where it leaves its sender"}})
	if err != nil {
		return nil, fmt.Errorf("sim: pcap: write header: %w", err)
	}
	p.w = ng
	if err := p.flushAll(); err != nil {
		return nil, fmt.Errorf("sim: pcap: write header: %w", err)
	}

	p.eth.SrcMAC = p.srcMAC[:]
	p.eth.DstMAC = p.dstMAC[:]
	p.ip4 = layers.IPv4{Version: 4, TTL: pcapTTL, Flags: layers.IPv4DontFragment,
		SrcIP: p.src4[:], DstIP: p.dst4[:]}
	p.ip6 = layers.IPv6{Version: 6, HopLimit: pcapTTL, SrcIP: p.src6[:], DstIP: p.dst6[:]}
	p.mssValue = [2]byte{pcapMSS >> 8, pcapMSS & 0xff}
	p.synOpts = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: p.mssValue[:]}}
	p.udp4 = []gopacket.SerializableLayer{&p.eth, &p.ip4, &p.udp, &p.payload}
	p.udp6 = []gopacket.SerializableLayer{&p.eth, &p.ip6, &p.udp, &p.payload}
	p.tcp4 = []gopacket.SerializableLayer{&p.eth, &p.ip4, &p.tcp, &p.payload}
	p.tcp6 = []gopacket.SerializableLayer{&p.eth, &p.ip6, &p.tcp, &p.payload}

	p.q.init(PcapQueueRecords)
	p.tick = clock.NewTicker(PcapFlushEvery)
	go p.run()
	return p, nil
}

// pcapInterface describes one capture interface: a node, or "other".
func pcapInterface(name, desc string) pcapgo.NgInterface {
	return pcapgo.NgInterface{Name: name, Description: desc, LinkType: layers.LinkTypeEthernet,
		SnapLength: pcapSnapLen, TimestampResolution: 9}
}

// fail remembers the first write error (writer goroutine).
func (p *PcapWriter) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

// AddNode gives the node at addr an interface of its own, named after it;
// its packets are captured there from now on. It waits for room in the
// ring: a node's interface is never dropped.
func (p *PcapWriter) AddNode(name string, addr netip.Addr) {
	r, pos, ok := p.claimWait()
	if !ok {
		return
	}
	r.op, r.text, r.src = pcapOpAddNode, name, netip.AddrPortFrom(addr.Unmap(), 0)
	p.publish(r, pos)
}

// UDP queues one datagram a lab socket sent, for its sender's interface.
// Addresses of different families, or invalid ones, are dropped; a payload
// that cannot fit one IP packet is cut to fit.
func (p *PcapWriter) UDP(ts time.Time, src, dst netip.AddrPort, payload []byte) {
	p.put(pcapOpUDP, ts, src, dst, payload, false)
}

// UDPArrived queues a datagram no lab socket sent (a foreign host, or one
// spoofing a lab address), for the interface of the node it reached.
func (p *PcapWriter) UDPArrived(ts time.Time, src, dst netip.AddrPort, payload []byte) {
	p.put(pcapOpUDPArrived, ts, src, dst, payload, false)
}

// TCPOpen writes the three-way handshake of a new connection from client to
// server. It is a no-op if a connection between the two is already open (a
// lab node dialling another lab node reports it from both ends).
func (p *PcapWriter) TCPOpen(ts time.Time, client, server netip.AddrPort) {
	p.put(pcapOpTCPOpen, ts, client, server, nil, false)
}

// pcapTCPChunk is the most of one TCPData a record carries: whole
// segments, so the frames are those of one call.
const pcapTCPChunk = 44 * pcapMSS

// TCPData writes payload sent from → to as MSS-sized segments, the last with
// PSH. Each segment acknowledges all the peer has sent. If no connection is
// open between the two, one is opened first with from as the client. Data
// from an end that has already sent FIN is dropped.
func (p *PcapWriter) TCPData(ts time.Time, from, to netip.AddrPort, payload []byte) {
	for len(payload) > 0 {
		n := min(len(payload), pcapTCPChunk)
		p.put(pcapOpTCPData, ts, from, to, payload[:n], n < len(payload))
		payload = payload[n:]
	}
}

// TCPClose writes a FIN from → to and the peer's ACK of it. When both ends
// have sent FIN the connection is forgotten. Closing an end twice, or a
// connection that is not open, is a no-op.
func (p *PcapWriter) TCPClose(ts time.Time, from, to netip.AddrPort) {
	p.put(pcapOpTCPClose, ts, from, to, nil, false)
}

// TCPReset writes a RST from → to and forgets the connection. A connection
// that is not open is a no-op.
func (p *PcapWriter) TCPReset(ts time.Time, from, to netip.AddrPort) {
	p.put(pcapOpTCPReset, ts, from, to, nil, false)
}

// Note writes a note of node (its state in words, a story's narration; an
// error when isErr) as a frame on the "notes" interface (pcapnote.go).
func (p *PcapWriter) Note(ts time.Time, node, text string, isErr bool) {
	r, pos, ok := p.claim()
	if !ok {
		return
	}
	r.op, r.ts, r.node, r.text, r.flag = pcapOpNote, ts, node, text, isErr
	p.publish(r, pos)
}

// Dropped is how many records the capture lost because its ring was full:
// the writer fell behind the lab's packets.
func (p *PcapWriter) Dropped() uint64 {
	if p == nil {
		return 0
	}
	return p.dropped.Load()
}

// Flush waits until the writer has written everything queued before it
// and pushed the buffer to the underlying writer.
func (p *PcapWriter) Flush() error {
	if p == nil {
		return nil
	}
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	r, pos, ok := p.claimWait()
	if !ok {
		return p.Err()
	}
	r.op, r.reply = pcapOpFlush, p.flushReply
	p.publish(r, pos)
	return <-p.flushReply
}

// Close writes what is queued, flushes and stops the writer; later writes
// are no-ops. It does not close the underlying writer. Closing twice
// returns the same result.
func (p *PcapWriter) Close() error {
	if p == nil {
		return nil
	}
	p.closeOnce.Do(func() {
		r, pos, ok := p.claimWait()
		if !ok {
			return
		}
		p.closing.Store(true)
		r.op = pcapOpClose
		p.publish(r, pos)
		<-p.done
	})
	return p.Err()
}

// Err returns the first write error, or nil.
func (p *PcapWriter) Err() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *PcapWriter) pcapFlush() {
	if p.err != nil {
		return
	}
	if err := p.flushAll(); err != nil {
		p.fail(fmt.Errorf("sim: pcap: %w", err))
	}
}

// The writer goroutine's side of each record.

func (p *PcapWriter) writeAddNode(name string, addr netip.Addr) {
	if p.err != nil {
		return
	}
	id, err := p.w.AddInterface(pcapInterface(name, "reclab node "+addr.String()))
	if err != nil {
		p.fail(fmt.Errorf("sim: pcap: interface %s: %w", name, err))
		return
	}
	p.ifaces[addr] = id
}

func (p *PcapWriter) writeUDP(ts time.Time, src, dst netip.AddrPort, payload []byte, atDst bool) {
	if p.err != nil {
		return
	}
	src, dst = pcapUnmap(src), pcapUnmap(dst)
	v6, ok := p.pcapIP(src.Addr(), dst.Addr(), layers.IPProtocolUDP)
	if !ok {
		return
	}
	if id, known := p.ifaces[dst.Addr()]; atDst && known {
		p.iface = id
	}
	p.udp.SrcPort, p.udp.DstPort = layers.UDPPort(src.Port()), layers.UDPPort(dst.Port())
	stack := p.udp4
	if v6 {
		stack = p.udp6
		p.udp.SetNetworkLayerForChecksum(&p.ip6)
	} else {
		p.udp.SetNetworkLayerForChecksum(&p.ip4)
	}
	if max := pcapMaxIPPayload(v6) - 8; len(payload) > max {
		payload = payload[:max]
	}
	p.pcapWrite(ts, stack, payload)
}

func (p *PcapWriter) writeTCPOpen(ts time.Time, client, server netip.AddrPort) {
	if p.err != nil {
		return
	}
	client, server = pcapUnmap(client), pcapUnmap(server)
	if f, _ := p.pcapFlow(client, server); f == nil {
		p.pcapOpen(ts, client, server)
	}
}

// writeTCPData writes one chunk of a TCPData; more says the same write
// goes on in the next record, so its last segment has no PSH.
func (p *PcapWriter) writeTCPData(ts time.Time, from, to netip.AddrPort, payload []byte, more bool) {
	if p.err != nil {
		return
	}
	from, to = pcapUnmap(from), pcapUnmap(to)
	f, dir := p.pcapFlow(from, to)
	if f == nil {
		if f = p.pcapOpen(ts, from, to); f == nil {
			return
		}
		dir = 0
	}
	s, r := &f.end[dir], &f.end[1-dir]
	if s.finSent {
		return
	}
	for len(payload) > 0 {
		n := min(len(payload), pcapMSS)
		flags := pcapACK
		if n == len(payload) && !more {
			flags |= pcapPSH
		}
		p.pcapTCPSend(ts, s, r, flags, payload[:n])
		payload = payload[n:]
		// Acknowledge every second full segment, as a receiver with delayed
		// ACKs does (RFC 9293 §3.8.6.3), so in-flight data never exceeds the
		// window and Wireshark sees no "window full".
		if s.next-r.acked >= 2*pcapMSS {
			p.pcapTCPSend(ts, r, s, pcapACK, nil)
		}
	}
}

func (p *PcapWriter) writeTCPClose(ts time.Time, from, to netip.AddrPort) {
	if p.err != nil {
		return
	}
	from, to = pcapUnmap(from), pcapUnmap(to)
	f, dir := p.pcapFlow(from, to)
	if f == nil {
		return
	}
	s, r := &f.end[dir], &f.end[1-dir]
	if s.finSent {
		return
	}
	p.pcapTCPSend(ts, s, r, pcapFIN|pcapACK, nil)
	p.pcapTCPSend(ts, r, s, pcapACK, nil)
	if r.finSent {
		p.pcapForget(f)
	}
}

func (p *PcapWriter) writeTCPReset(ts time.Time, from, to netip.AddrPort) {
	if p.err != nil {
		return
	}
	from, to = pcapUnmap(from), pcapUnmap(to)
	f, dir := p.pcapFlow(from, to)
	if f == nil {
		return
	}
	p.pcapTCPSend(ts, &f.end[dir], &f.end[1-dir], pcapRST|pcapACK, nil)
	p.pcapForget(f)
}

// flushAll pushes the buffer to the file. The pcapng writer writes into
// p.bw itself: bufio.NewWriter hands back a *bufio.Writer that is already
// big enough, so p.bw alone decides where the file ends (whole records).
func (p *PcapWriter) flushAll() error {
	return p.bw.Flush()
}

// pcapFlow finds the open connection between a and b and the index of a's
// end in it.
func (p *PcapWriter) pcapFlow(a, b netip.AddrPort) (*pcapFlow, int) {
	if f := p.flows[pcapFlowKey{a, b}]; f != nil {
		return f, 0
	}
	if f := p.flows[pcapFlowKey{b, a}]; f != nil {
		return f, 1
	}
	return nil, 0
}

func (p *PcapWriter) pcapForget(f *pcapFlow) {
	delete(p.flows, pcapFlowKey{f.end[0].addr, f.end[1].addr})
}

// pcapOpen writes SYN, SYN-ACK, ACK and records the connection.
func (p *PcapWriter) pcapOpen(ts time.Time, client, server netip.AddrPort) *pcapFlow {
	if p.err != nil || !pcapSameFamily(client.Addr(), server.Addr()) {
		return nil
	}
	f := &pcapFlow{}
	c, s := &f.end[0], &f.end[1]
	c.addr, c.next = client, pcapISN(client, server, ts)
	s.addr, s.next = server, pcapISN(server, client, ts)
	p.pcapTCPSend(ts, c, s, pcapSYN, nil)
	p.pcapTCPSend(ts, s, c, pcapSYN|pcapACK, nil)
	p.pcapTCPSend(ts, c, s, pcapACK, nil)
	p.flows[pcapFlowKey{client, server}] = f
	return f
}

// pcapTCPSend writes one segment from s to r and advances s: seq is s's next
// byte, ack (when the ACK flag is set) everything r has sent so far.
func (p *PcapWriter) pcapTCPSend(ts time.Time, s, r *pcapTCPEnd, flags uint8, payload []byte) {
	t := &p.tcp
	t.SrcPort, t.DstPort = layers.TCPPort(s.addr.Port()), layers.TCPPort(r.addr.Port())
	t.Seq, t.Ack = s.next, 0
	t.FIN, t.SYN, t.RST = flags&pcapFIN != 0, flags&pcapSYN != 0, flags&pcapRST != 0
	t.PSH, t.ACK = flags&pcapPSH != 0, flags&pcapACK != 0
	t.Window = pcapWindow
	t.Options, t.Padding = nil, nil
	if t.SYN {
		t.Options = p.synOpts
	}
	if t.ACK {
		t.Ack = r.next
		s.acked = r.next
	}
	s.next += uint32(len(payload))
	if t.SYN || t.FIN {
		s.next++ // SYN and FIN each take one sequence number (RFC 9293 §3.4)
	}
	if t.FIN {
		s.finSent = true
	}
	if p.err != nil {
		return
	}
	v6, ok := p.pcapIP(s.addr.Addr(), r.addr.Addr(), layers.IPProtocolTCP)
	if !ok {
		return
	}
	stack := p.tcp4
	if v6 {
		stack = p.tcp6
		t.SetNetworkLayerForChecksum(&p.ip6)
	} else {
		t.SetNetworkLayerForChecksum(&p.ip4)
	}
	p.pcapWrite(ts, stack, payload)
}

// pcapIP fills the Ethernet and IP layers for a frame from src to dst and
// reports whether it is IPv6, and whether the pair can be written at all.
func (p *PcapWriter) pcapIP(src, dst netip.Addr, proto layers.IPProtocol) (v6, ok bool) {
	if !pcapSameFamily(src, dst) {
		return false, false
	}
	pcapMAC(&p.srcMAC, src)
	pcapMAC(&p.dstMAC, dst)
	var known bool
	if p.iface, known = p.ifaces[src]; !known {
		p.iface = p.ifaces[dst] // 0, "other", when neither is a node
	}
	p.ipID[src]++
	if src.Is4() {
		p.eth.EthernetType = layers.EthernetTypeIPv4
		p.src4, p.dst4 = src.As4(), dst.As4()
		p.ip4.SrcIP, p.ip4.DstIP = p.src4[:], p.dst4[:]
		p.ip4.Protocol = proto
		p.ip4.Id = p.ipID[src]
		return false, true
	}
	p.eth.EthernetType = layers.EthernetTypeIPv6
	p.src6, p.dst6 = src.As16(), dst.As16()
	p.ip6.SrcIP, p.ip6.DstIP = p.src6[:], p.dst6[:]
	p.ip6.NextHeader = proto
	return true, true
}

// pcapWrite serialises stack around payload and writes the frame.
func (p *PcapWriter) pcapWrite(ts time.Time, stack []gopacket.SerializableLayer, payload []byte) {
	// Records in time order (issue 17: a run's pcap stepped backward up to
	// 1.32 s): each sender reads the clock before it takes the lock, so
	// two sends can come in the other order; a record is never stamped
	// before the one written ahead of it.
	ts = p.stamp(ts)
	p.payload = payload
	err := gopacket.SerializeLayers(p.buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, stack...)
	p.payload = nil // do not keep the caller's buffer alive
	if err != nil {
		p.fail(fmt.Errorf("sim: pcap: serialise frame: %w", err))
		return
	}
	frame := p.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame), InterfaceIndex: p.iface}
	if len(frame) > pcapSnapLen {
		frame = frame[:pcapSnapLen]
		ci.CaptureLength = pcapSnapLen
	}
	if !p.room(pcapRecordHeader + len(frame)) {
		return
	}
	if err := p.w.WritePacket(ci, frame); err != nil {
		p.fail(fmt.Errorf("sim: pcap: %w", err))
	}
}

// stamp is ts, or the last record's time when ts is earlier: records go
// to the file in time order.
func (p *PcapWriter) stamp(ts time.Time) time.Time {
	if ts.Before(p.last) {
		ts = p.last
	}
	p.last = ts
	return ts
}

// room makes space in the buffer for a record of need bytes. A record goes
// to the file whole: with no room left for it, what is buffered goes first,
// so the file (read live, or left by a killed process) always ends at a
// record's end.
func (p *PcapWriter) room(need int) bool {
	if p.bw.Available() < need && p.bw.Buffered() > 0 {
		if err := p.bw.Flush(); err != nil {
			p.fail(fmt.Errorf("sim: pcap: %w", err))
			return false
		}
	}
	return true
}

// pcapRecordHeader is what an Enhanced Packet Block adds to a frame: its
// 28-byte head, the trailing length, and up to 3 bytes of padding.
const pcapRecordHeader = 28 + 4 + 3

// pcapMaxIPPayload is the largest transport segment one IP packet can carry.
func pcapMaxIPPayload(v6 bool) int {
	if v6 {
		return 65535 // IPv6 payload length excludes the 40-byte header
	}
	return 65535 - 20
}

func pcapUnmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func pcapSameFamily(a, b netip.Addr) bool {
	return a.IsValid() && b.IsValid() && a.Is4() == b.Is4()
}

// pcapMAC derives a locally administered unicast MAC from the address, so
// that each lab node looks like its own host: 02:00 and the IPv4 address (or
// the last four bytes of an IPv6 one).
func pcapMAC(mac *[6]byte, a netip.Addr) {
	b := a.As16()
	*mac = [6]byte{0x02, 0x00, b[12], b[13], b[14], b[15]}
}

// pcapISN derives an initial sequence number the way RFC 6528 §3 does: a
// 4-microsecond clock plus a hash of the connection's 4-tuple. It looks like
// a real ISN, and the same inputs give the same pcap.
func pcapISN(from, to netip.AddrPort, ts time.Time) uint32 {
	const offset, prime = 14695981039346656037, 1099511628211 // FNV-1a
	h := uint64(offset)
	for _, ap := range [2]netip.AddrPort{from, to} {
		a := ap.Addr().As16()
		for _, c := range a {
			h = (h ^ uint64(c)) * prime
		}
		h = (h ^ uint64(ap.Port()>>8)) * prime
		h = (h ^ uint64(ap.Port()&0xff)) * prime
	}
	return (uint32(h) ^ uint32(h>>32)) + uint32(ts.UnixNano()/4000)
}
