package sim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

var (
	pcapTestPBX      = netip.MustParseAddr("127.20.0.1")
	pcapTestRecorder = netip.MustParseAddr("127.20.0.2")
	pcapTestPhone    = netip.MustParseAddr("127.20.1.1")
	pcapTestEpoch    = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
)

const pcapTestSIP = "REGISTER sip:127.20.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.20.1.1:5060;branch=z9hG4bK776asdhds\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:1001@127.20.0.1>;tag=1928301774\r\n" +
	"To: <sip:1001@127.20.0.1>\r\n" +
	"Call-ID: a84b4c76e66710@127.20.1.1\r\n" +
	"CSeq: 1 REGISTER\r\n" +
	"Contact: <sip:1001@127.20.1.1:5060>\r\n" +
	"Expires: 3600\r\n" +
	"Content-Length: 0\r\n\r\n"

// pcapTestRTP is a PCMA packet: version 2, PT 8, seq 4711, 160 samples.
func pcapTestRTP(seq uint16) []byte {
	b := make([]byte, 12+160)
	b[0], b[1] = 0x80, 8
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], uint32(seq)*160)
	binary.BigEndian.PutUint32(b[8:], 0x1234abcd)
	for i := 12; i < len(b); i++ {
		b[i] = 0xd5 // A-law silence
	}
	return b
}

// pcapTestConn is one TCP connection of the scenario and the bytes each end
// sent, to compare with what is read back.
type pcapTestConn struct {
	client, server netip.AddrPort
	sent           [2][]byte // [0] client → server, [1] server → client
}

type pcapTestScenario struct {
	udp      [][]byte // UDP payloads in order
	conns    []*pcapTestConn
	httpBody int // Content-Length of the 5000-byte HTTP response
}

// pcapWriteScenario writes the test capture: SIP and RTP over UDP, a CSTA
// connection opened explicitly with a 5000-byte message that the server
// closes first, an HTTP connection opened implicitly that the client closes
// first, one reset connection and an IPv6 datagram.
func pcapWriteScenario(t testing.TB, w io.Writer) pcapTestScenario {
	t.Helper()
	p, err := NewPcapWriter(w)
	if err != nil {
		t.Fatal(err)
	}
	var sc pcapTestScenario
	ts := pcapTestEpoch
	tick := func() time.Time { ts = ts.Add(time.Millisecond); return ts }
	udp := func(src, dst netip.AddrPort, b []byte) {
		p.UDP(tick(), src, dst, b)
		sc.udp = append(sc.udp, b)
	}
	data := func(c *pcapTestConn, fromClient bool, b []byte) {
		if fromClient {
			p.TCPData(tick(), c.client, c.server, b)
			c.sent[0] = append(c.sent[0], b...)
		} else {
			p.TCPData(tick(), c.server, c.client, b)
			c.sent[1] = append(c.sent[1], b...)
		}
	}

	udp(netip.AddrPortFrom(pcapTestPhone, 5060), netip.AddrPortFrom(pcapTestPBX, 5060), []byte(pcapTestSIP))
	udp(netip.AddrPortFrom(pcapTestPhone, 40000), netip.AddrPortFrom(pcapTestRecorder, 20000), pcapTestRTP(4711))

	csta := &pcapTestConn{client: netip.AddrPortFrom(pcapTestRecorder, 50123), server: netip.AddrPortFrom(pcapTestPBX, 8882)}
	http := &pcapTestConn{client: netip.AddrPortFrom(pcapTestPhone, 41000), server: netip.AddrPortFrom(pcapTestRecorder, 8080)}
	reset := &pcapTestConn{client: netip.AddrPortFrom(pcapTestRecorder, 50124), server: netip.AddrPortFrom(pcapTestPBX, 8882)}
	sc.conns = []*pcapTestConn{csta, http, reset}

	p.TCPOpen(tick(), csta.client, csta.server)
	p.TCPOpen(tick(), csta.server, csta.client) // the other lab end reports the same connection
	data(csta, true, []byte(`<?xml version="1.0" encoding="UTF-8"?><MonitorStart xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3"><monitorObject><deviceObject>1001</deviceObject></monitorObject></MonitorStart>`))
	data(csta, false, []byte(`<?xml version="1.0" encoding="UTF-8"?><MonitorStartResponse xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3"><monitorCrossRefID>1</monitorCrossRefID></MonitorStartResponse>`))
	big := bytes.Repeat([]byte("<event>0123456789</event>"), 200) // 5000 bytes
	data(csta, false, big)
	udp(netip.AddrPortFrom(pcapTestPhone, 40000), netip.AddrPortFrom(pcapTestRecorder, 20000), pcapTestRTP(4712))
	data(csta, true, []byte(`<SnapshotDevice><snapshotObject>1001</snapshotObject></SnapshotDevice>`))
	data(csta, false, big[:3000]) // several small messages in a row with no reply
	data(csta, false, big[:100])
	data(csta, false, big[:100])
	p.TCPClose(tick(), csta.server, csta.client)
	data(csta, true, []byte("<bye/>")) // half-closed: the client may still send
	p.TCPClose(tick(), csta.client, csta.server)
	p.TCPClose(tick(), csta.client, csta.server) // second close: no-op

	data(http, true, []byte("GET /record?page=START&OPN=1001 HTTP/1.1\r\nHost: 127.20.0.2:8080\r\n\r\n"))
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n"
	body := 5000 - len(fmt.Sprintf(head, 4900))
	sc.httpBody = body
	resp := append([]byte(fmt.Sprintf(head, body)), bytes.Repeat([]byte("x"), body)...)
	if len(resp) != 5000 {
		t.Fatalf("HTTP response is %d bytes, want 5000", len(resp))
	}
	data(http, false, resp)
	p.TCPClose(tick(), http.client, http.server)
	data(http, true, []byte("late")) // after FIN: dropped
	http.sent[0] = http.sent[0][:len(http.sent[0])-len("late")]
	p.TCPClose(tick(), http.server, http.client)

	p.TCPOpen(tick(), reset.client, reset.server)
	data(reset, true, []byte("<x/>"))
	p.TCPReset(tick(), reset.server, reset.client)
	p.TCPClose(tick(), reset.client, reset.server) // forgotten: no-op

	udp(netip.MustParseAddrPort("[::1]:40002"), netip.MustParseAddrPort("[::1]:20002"), []byte("v6"))

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p.UDP(tick(), netip.AddrPortFrom(pcapTestPhone, 1), netip.AddrPortFrom(pcapTestPBX, 1), []byte("after close"))
	return sc
}

// pcapTestChecksum is RFC 1071's Internet checksum, kept apart from
// gopacket's so the test checks the writer against an independent sum.
func pcapTestChecksum(sum uint32, b []byte) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// pcapTestTransportOK verifies a UDP or TCP checksum over the pseudo-header.
func pcapTestTransportOK(src, dst []byte, proto byte, segment []byte) bool {
	var sum uint32
	for _, a := range [][]byte{src, dst} {
		for i := 0; i < len(a); i += 2 {
			sum += uint32(a[i])<<8 | uint32(a[i+1])
		}
	}
	sum += uint32(proto) + uint32(len(segment))>>16 + uint32(len(segment))&0xffff
	return pcapTestChecksum(sum, segment) == 0
}

type pcapTestEnd struct {
	next     uint32
	finished bool
	data     []byte
}

type pcapTestFlow struct {
	client, server netip.AddrPort
	end            [2]pcapTestEnd
	segments       []string // flags and length of each segment, for the handshake checks
	dataLens       []int
	closed         bool
}

func TestPcapReadBack(t *testing.T) {
	var file bytes.Buffer
	sc := pcapWriteScenario(t, &file)

	r, err := pcapgo.NewNgReader(&file, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet || r.NInterfaces() < 1 {
		t.Fatalf("link type %v, %d interfaces", r.LinkType(), r.NInterfaces())
	}

	var udp [][]byte
	ipIDs := map[netip.Addr]uint16{}
	flows := map[[2]netip.AddrPort]*pcapTestFlow{}
	var order []*pcapTestFlow
	var lastTS time.Time
	for n := 1; ; n++ {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ci.Timestamp.Before(lastTS) {
			t.Errorf("packet %d: time goes back", n)
		}
		lastTS = ci.Timestamp
		pkt := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("packet %d: %v", n, el.Error())
		}
		eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)

		var src, dst netip.Addr
		var srcIP, dstIP []byte
		var segment []byte
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			if pcapTestChecksum(0, ip.Contents) != 0 {
				t.Errorf("packet %d: bad IPv4 header checksum %#04x", n, ip.Checksum)
			}
			if int(ip.Length) != len(ip.Contents)+len(ip.Payload) || ip.TTL != 64 || ip.Flags != layers.IPv4DontFragment {
				t.Errorf("packet %d: IPv4 length %d ttl %d flags %v", n, ip.Length, ip.TTL, ip.Flags)
			}
			src, dst = netip.AddrFrom4([4]byte(ip.SrcIP.To4())), netip.AddrFrom4([4]byte(ip.DstIP.To4()))
			if ip.Id != ipIDs[src]+1 {
				t.Errorf("packet %d: IPv4 ID %d from %v, want %d", n, ip.Id, src, ipIDs[src]+1)
			}
			ipIDs[src] = ip.Id
			srcIP, dstIP, segment = ip.SrcIP.To4(), ip.DstIP.To4(), ip.Payload
		case *layers.IPv6:
			src, dst = netip.AddrFrom16([16]byte(ip.SrcIP)), netip.AddrFrom16([16]byte(ip.DstIP))
			srcIP, dstIP, segment = ip.SrcIP, ip.DstIP, ip.Payload
		default:
			t.Fatalf("packet %d: network layer %T", n, ip)
		}
		for _, m := range []struct {
			mac  []byte
			addr netip.Addr
		}{{eth.SrcMAC, src}, {eth.DstMAC, dst}} {
			a := m.addr.As16()
			if want := []byte{2, 0, a[12], a[13], a[14], a[15]}; !bytes.Equal(m.mac, want) {
				t.Errorf("packet %d: MAC %v for %v, want %x", n, m.mac, m.addr, want)
			}
		}

		switch tl := pkt.TransportLayer().(type) {
		case *layers.UDP:
			if !pcapTestTransportOK(srcIP, dstIP, 17, segment) {
				t.Errorf("packet %d: bad UDP checksum %#04x", n, tl.Checksum)
			}
			udp = append(udp, tl.Payload)
		case *layers.TCP:
			if !pcapTestTransportOK(srcIP, dstIP, 6, segment) {
				t.Errorf("packet %d: bad TCP checksum %#04x", n, tl.Checksum)
			}
			from := netip.AddrPortFrom(src, uint16(tl.SrcPort))
			to := netip.AddrPortFrom(dst, uint16(tl.DstPort))
			pcapTestCheckTCP(t, n, tl, from, to, flows, &order)
		default:
			t.Fatalf("packet %d: transport layer %T", n, tl)
		}
	}

	if len(udp) != len(sc.udp) {
		t.Fatalf("read %d UDP datagrams, wrote %d", len(udp), len(sc.udp))
	}
	for i := range udp {
		if !bytes.Equal(udp[i], sc.udp[i]) {
			t.Errorf("UDP datagram %d: payload differs", i)
		}
	}
	if len(order) != len(sc.conns) {
		t.Fatalf("read %d TCP connections, wrote %d", len(order), len(sc.conns))
	}
	for i, c := range sc.conns {
		f := order[i]
		if f.client != c.client || f.server != c.server {
			t.Errorf("connection %d: %v → %v, want %v → %v", i, f.client, f.server, c.client, c.server)
		}
		for d := range 2 {
			if !bytes.Equal(f.end[d].data, c.sent[d]) {
				t.Errorf("connection %d direction %d: reassembled %d bytes, sent %d", i, d, len(f.end[d].data), len(c.sent[d]))
			}
		}
		if want := "SYN/0 SYN|ACK/0 ACK/0"; strings.Join(f.segments[:3], " ") != want {
			t.Errorf("connection %d: handshake %v, want %s", i, f.segments[:3], want)
		}
		if !f.closed {
			t.Errorf("connection %d: not closed", i)
		}
	}
	// The 5000-byte CSTA message: three full segments and the rest, PSH on the last.
	if got, want := fmt.Sprint(order[0].dataLens[2:6]), "[1460 1460 1460 620]"; got != want {
		t.Errorf("5000-byte message segmented as %s, want %s", got, want)
	}
	if got := order[0].segments[len(order[0].segments)-5:]; strings.Join(got, " ") != "FIN|ACK/0 ACK/0 PSH|ACK/1 FIN|ACK/0 ACK/0" {
		t.Errorf("CSTA close: %v", got)
	}
	if got := order[2].segments; got[len(got)-1] != "RST|ACK/0" {
		t.Errorf("reset connection ends with %v", got[len(got)-1])
	}
}

// pcapTestCheckTCP follows one segment: sequence numbers continue with no
// gap or overlap, every segment but the SYN acknowledges exactly what the
// peer has sent, and data carries ACK, with PSH on the last segment of a write.
func pcapTestCheckTCP(t *testing.T, n int, tl *layers.TCP, from, to netip.AddrPort, flows map[[2]netip.AddrPort]*pcapTestFlow, order *[]*pcapTestFlow) {
	t.Helper()
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{{tl.SYN, "SYN"}, {tl.RST, "RST"}, {tl.FIN, "FIN"}, {tl.PSH, "PSH"}, {tl.ACK, "ACK"}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	desc := fmt.Sprintf("%s/%d", strings.Join(flags, "|"), min(len(tl.Payload), 1))
	if tl.Window != 65535 || tl.DataOffset < 5 {
		t.Errorf("packet %d: window %d data offset %d", n, tl.Window, tl.DataOffset)
	}
	if len(tl.Payload) > 1460 {
		t.Errorf("packet %d: %d-byte segment exceeds the MSS", n, len(tl.Payload))
	}

	f, dir := flows[[2]netip.AddrPort{from, to}], 0
	if f == nil {
		if f, dir = flows[[2]netip.AddrPort{to, from}], 1; f == nil {
			if !tl.SYN || tl.ACK {
				t.Fatalf("packet %d: %s on unknown connection %v → %v", n, desc, from, to)
			}
			if len(tl.Options) != 1 || tl.Options[0].OptionType != layers.TCPOptionKindMSS || binary.BigEndian.Uint16(tl.Options[0].OptionData) != 1460 {
				t.Errorf("packet %d: SYN options %v", n, tl.Options)
			}
			f, dir = &pcapTestFlow{client: from, server: to}, 0
			f.end[0].next = tl.Seq
			flows[[2]netip.AddrPort{from, to}] = f
			*order = append(*order, f)
		}
	}
	s, r := &f.end[dir], &f.end[1-dir]
	f.segments = append(f.segments, desc)
	switch {
	case tl.SYN && tl.ACK:
		if dir != 1 || len(f.segments) != 2 {
			t.Errorf("packet %d: unexpected SYN|ACK", n)
		}
		s.next = tl.Seq
	case tl.SYN:
		if len(f.segments) != 1 {
			t.Errorf("packet %d: unexpected SYN", n)
		}
	case !tl.ACK:
		t.Errorf("packet %d: %s without ACK", n, desc)
	}
	if tl.Seq != s.next {
		t.Errorf("packet %d: seq %d, want %d (%d bytes off)", n, tl.Seq, s.next, int32(tl.Seq-s.next))
	}
	if tl.ACK && tl.Ack != r.next {
		t.Errorf("packet %d: ack %d, want %d (%d bytes off)", n, tl.Ack, r.next, int32(tl.Ack-r.next))
	}
	if s.finished && (len(tl.Payload) > 0 || tl.FIN) {
		t.Errorf("packet %d: %s after FIN", n, desc)
	}
	if len(tl.Payload) > 0 {
		f.dataLens = append(f.dataLens, len(tl.Payload))
		if !tl.PSH && len(tl.Payload) != 1460 {
			t.Errorf("packet %d: short segment without PSH", n)
		}
	}
	s.data = append(s.data, tl.Payload...)
	s.next += uint32(len(tl.Payload))
	if tl.SYN || tl.FIN {
		s.next++
	}
	if tl.FIN {
		s.finished = true
	}
	switch {
	case tl.RST:
		f.closed = true
		delete(flows, [2]netip.AddrPort{f.client, f.server})
	case s.finished && r.finished && !tl.FIN:
		f.closed = true // the last ACK
		delete(flows, [2]netip.AddrPort{f.client, f.server})
	}
}

// TestPcapTshark has Wireshark's own dissectors judge the capture: no
// malformed packets, no warnings, no TCP analysis flags, and each TCP
// stream follows back to the bytes that were sent.
func TestPcapTshark(t *testing.T) {
	tshark, path, f := pcapTestTsharkFile(t, "lab.pcapng")
	sc := pcapWriteScenario(t, f)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tshark, append([]string{"-n", "-r", path}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user preferences
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	count := func(filter string, args ...string) int {
		t.Helper()
		out := strings.TrimSpace(run(append(args, "-Y", filter)...))
		if out == "" {
			return 0
		}
		return len(strings.Split(out, "\n"))
	}

	checks := []struct {
		filter string
		want   int
	}{
		{"_ws.malformed", 0},
		{"_ws.expert.severity >= 0x00600000 && !tcp.connection.rst", 0}, // warning or error
		{"tcp.analysis.flags && !tcp.analysis.window_update", 0},
		{"tcp.checksum.status != 1 || udp.checksum.status != 1 || ip.checksum.status != 1", 0},
		{"sip.Method == \"REGISTER\"", 1},
		{"http.request.method == \"GET\"", 1},
		{fmt.Sprintf("http.response.code == 200 && http.content_length == %d", sc.httpBody), 1},
		{"tcp.connection.rst", 1},
	}
	for _, c := range checks {
		if got := count(c.filter, "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"); got != c.want {
			t.Errorf("%d packets match %q, want %d", got, c.filter, c.want)
		}
	}
	if got := count("rtp.seq", "--enable-heuristic", "rtp_udp"); got != 2 {
		t.Errorf("%d RTP packets decoded, want 2", got)
	}
	if t.Failed() {
		t.Log(run("-q", "-z", "expert"))
	}

	for i, c := range sc.conns {
		out := run("-q", "-z", fmt.Sprintf("follow,tcp,raw,%d", i))
		got, err := pcapTestParseFollow(out)
		if err != nil {
			t.Fatalf("stream %d: %v\n%s", i, err, out)
		}
		for d := range 2 {
			if !bytes.Equal(got[d], c.sent[d]) {
				t.Errorf("stream %d direction %d: tshark follows %d bytes, sent %d", i, d, len(got[d]), len(c.sent[d]))
			}
		}
	}
}

// pcapTestParseFollow decodes `tshark -z follow,tcp,raw,N`: hex lines, the
// second node's indented by a tab.
func pcapTestParseFollow(out string) ([2][]byte, error) {
	var got [2][]byte
	sc := bufio.NewScanner(strings.NewReader(out))
	inData := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Node 1:"):
			inData = true
			continue
		case strings.HasPrefix(line, "====="):
			inData = false
			continue
		case !inData || line == "":
			continue
		}
		d := 0
		if strings.HasPrefix(line, "\t") {
			d = 1
		}
		b, err := hex.DecodeString(strings.TrimSpace(line))
		if err != nil {
			return got, fmt.Errorf("follow output: %w", err)
		}
		got[d] = append(got[d], b...)
	}
	return got, sc.Err()
}

func TestPcapNil(t *testing.T) {
	var p *PcapWriter
	ap := netip.AddrPortFrom(pcapTestPhone, 5060)
	p.UDP(pcapTestEpoch, ap, ap, []byte("x"))
	p.TCPOpen(pcapTestEpoch, ap, ap)
	p.TCPData(pcapTestEpoch, ap, ap, []byte("x"))
	p.TCPClose(pcapTestEpoch, ap, ap)
	p.TCPReset(pcapTestEpoch, ap, ap)
	if p.Flush() != nil || p.Close() != nil || p.Err() != nil {
		t.Fatal("nil writer returned an error")
	}
	if _, err := NewPcapWriter(nil); err == nil {
		t.Fatal("NewPcapWriter(nil) succeeded")
	}
}

// pcapTestFailWriter accepts limit bytes, then fails.
type pcapTestFailWriter struct{ limit int }

var errPcapTestFull = errors.New("disk full")

func (w *pcapTestFailWriter) Write(b []byte) (int, error) {
	if len(b) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errPcapTestFull
	}
	w.limit -= len(b)
	return len(b), nil
}

func TestPcapWriteError(t *testing.T) {
	if _, err := NewPcapWriter(&pcapTestFailWriter{limit: 10}); !errors.Is(err, errPcapTestFull) {
		t.Fatalf("header write error: %v", err)
	}
	var header bytes.Buffer
	if _, err := NewPcapWriter(&header); err != nil {
		t.Fatal(err)
	}
	// Room for the header and part of a packet.
	p, err := NewPcapWriter(&pcapTestFailWriter{limit: header.Len() + 50})
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.AddrPortFrom(pcapTestPhone, 40000), netip.AddrPortFrom(pcapTestRecorder, 20000)
	p.UDP(pcapTestEpoch, src, dst, pcapTestRTP(1))
	if err := p.Flush(); !errors.Is(err, errPcapTestFull) {
		t.Fatalf("Flush: %v", err)
	}
	p.UDP(pcapTestEpoch, src, dst, pcapTestRTP(2)) // dropped
	if !errors.Is(p.Err(), errPcapTestFull) || !errors.Is(p.Close(), errPcapTestFull) || !errors.Is(p.Close(), errPcapTestFull) {
		t.Fatalf("error not remembered: %v", p.Err())
	}
}

func TestPcapConcurrent(t *testing.T) {
	p, err := NewPcapWriter(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			phone := netip.AddrFrom4([4]byte{127, 20, 1, byte(i + 1)})
			c, s := netip.AddrPortFrom(phone, 41000), netip.AddrPortFrom(pcapTestRecorder, 8080)
			for j := range 200 {
				p.UDP(pcapTestEpoch, netip.AddrPortFrom(phone, 40000), netip.AddrPortFrom(pcapTestRecorder, 20000), pcapTestRTP(uint16(j)))
				p.TCPData(pcapTestEpoch, c, s, []byte("GET / HTTP/1.1\r\n\r\n"))
			}
			p.TCPClose(pcapTestEpoch, c, s)
		})
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPcapAllocs keeps the sender's side of the capture free of
// allocations: UDP runs for every RTP packet of every stream in the lab.
// A TCP write borrows a pooled buffer that the writer gives back, so with
// the writer keeping up (Flush) it allocates nothing either.
func TestPcapAllocs(t *testing.T) {
	p, err := NewPcapWriter(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	src, dst := netip.AddrPortFrom(pcapTestPhone, 40000), netip.AddrPortFrom(pcapTestRecorder, 20000)
	rtp := pcapTestRTP(1)
	c, s := netip.AddrPortFrom(pcapTestRecorder, 50123), netip.AddrPortFrom(pcapTestPBX, 8882)
	msg := bytes.Repeat([]byte("<x/>"), 1000)
	p.UDP(pcapTestEpoch, src, dst, rtp)
	p.TCPData(pcapTestEpoch, c, s, msg)
	p.Flush()
	if n := testing.AllocsPerRun(1000, func() { p.UDP(pcapTestEpoch, src, dst, rtp) }); n != 0 {
		t.Errorf("UDP: %v allocations per packet", n)
	}
	if n := testing.AllocsPerRun(100, func() { p.TCPData(pcapTestEpoch, s, c, msg); p.Flush() }); n != 0 {
		t.Errorf("TCPData: %v allocations per write", n)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if d := p.Dropped(); d != 0 {
		t.Errorf("%d records dropped", d)
	}
}

// BenchmarkPcapUDP is the sender's cost of capturing one RTP packet: a
// slot of the ring claimed and filled (the writer goroutine does the rest).
func BenchmarkPcapUDP(b *testing.B) {
	p, err := NewPcapWriter(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	src, dst := netip.AddrPortFrom(pcapTestPhone, 40000), netip.AddrPortFrom(pcapTestRecorder, 20000)
	rtp := pcapTestRTP(1)
	ts := pcapTestEpoch
	b.ReportAllocs()
	b.SetBytes(int64(len(rtp)))
	for b.Loop() {
		ts = ts.Add(20 * time.Millisecond)
		p.UDP(ts, src, dst, rtp)
	}
	b.StopTimer()
	p.Close()
	b.ReportMetric(float64(p.Dropped())/float64(b.N), "dropped/op")
}

// BenchmarkPcapUDPParallel is the same from every core at once, as the
// lab's senders are.
func BenchmarkPcapUDPParallel(b *testing.B) {
	p, err := NewPcapWriter(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	dst := netip.AddrPortFrom(pcapTestRecorder, 20000)
	rtp := pcapTestRTP(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		src := netip.AddrPortFrom(pcapTestPhone, 40000)
		for pb.Next() {
			p.UDP(pcapTestEpoch, src, dst, rtp)
		}
	})
	b.StopTimer()
	p.Close()
	b.ReportMetric(float64(p.Dropped())/float64(b.N), "dropped/op")
}

// BenchmarkPcapWriter is the writer goroutine's cost per RTP record
// (serialise, stamp, write), the capture's throughput limit: each round
// queues what the ring holds and waits for the writer to write it.
func BenchmarkPcapWriter(b *testing.B) {
	p, err := NewPcapWriter(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	src, dst := netip.AddrPortFrom(pcapTestPhone, 40000), netip.AddrPortFrom(pcapTestRecorder, 20000)
	rtp := pcapTestRTP(1)
	b.ReportAllocs()
	const round = PcapQueueRecords / 2
	for i := 0; i < b.N; i += round {
		for range min(round, b.N-i) {
			p.UDP(pcapTestEpoch, src, dst, rtp)
		}
		p.Flush()
	}
	if d := p.Dropped(); d != 0 {
		b.Fatalf("%d records dropped", d)
	}
}

// A sender never waits for the capture: with the ring full, records are
// dropped and counted, and the file still holds only whole records.
func TestPcapFullRingDropsAndCounts(t *testing.T) {
	var buf bytes.Buffer
	p, err := NewPcapWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// Stop the writer from draining: hold the slot at the head unpublished,
	// as a producer that has claimed it but not filled it yet.
	r, pos, ok := p.claim()
	if !ok {
		t.Fatal("no slot")
	}
	src, dst := netip.AddrPortFrom(pcapTestPhone, 40000), netip.AddrPortFrom(pcapTestRecorder, 20000)
	const extra = 100
	for range PcapQueueRecords - 1 + extra {
		p.UDP(pcapTestEpoch, src, dst, pcapTestRTP(1))
	}
	if d := p.Dropped(); d != extra {
		t.Fatalf("Dropped %d, want %d", d, extra)
	}
	r.op, r.ts, r.src, r.dst, r.n = pcapOpUDP, pcapTestEpoch, src, dst, 0
	p.publish(r, pos)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := pcapTestCount(t, buf.Bytes()); n != PcapQueueRecords {
		t.Fatalf("%d records in the file, want %d", n, PcapQueueRecords)
	}
}

// A reader that opens the file while the lab writes sees whole records
// only, and everything once the writer has flushed on its ticker.
func TestPcapLiveReaderSeesWholeRecords(t *testing.T) {
	clock := NewManualClock(pcapTestEpoch)
	var file pcapTestSyncBuffer
	p, err := newPcapWriter(&file, clock)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	src, dst := netip.AddrPortFrom(pcapTestPhone, 40000), netip.AddrPortFrom(pcapTestRecorder, 20000)
	const packets = 3000 // several buffers' worth: the writer writes mid-run
	for i := range packets {
		p.UDP(pcapTestEpoch, src, dst, pcapTestRTP(uint16(i)))
		if i%100 == 0 {
			pcapTestCount(t, file.snapshot()) // whole records at every moment
		}
	}
	// The writer flushes on the clock's ticker: no Flush call.
	for pcapTestCount(t, file.snapshot()) < packets {
		clock.Advance(PcapFlushEvery)
		runtime.Gosched()
	}
}

// pcapTestCount reads a capture and returns its records; a torn last record
// fails the test.
func pcapTestCount(t *testing.T, b []byte) int {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("%d bytes: %v", len(b), err)
	}
	n := 0
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			if err != io.EOF {
				t.Fatalf("after %d records (%d bytes): %v", n, len(b), err)
			}
			return n
		}
		n++
	}
}

// pcapTestSyncBuffer is a file another goroutine writes while the test reads.
type pcapTestSyncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *pcapTestSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *pcapTestSyncBuffer) snapshot() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b)
}

// Records come out in time order whatever order their senders read the
// clock in (issue 17: up to 1.32 s backward steps).
func TestPcapRecordsInTimeOrder(t *testing.T) {
	var buf bytes.Buffer
	p, err := NewPcapWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	a, b := netip.MustParseAddrPort("127.20.1.1:40000"), netip.MustParseAddrPort("127.20.1.2:40000")
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, ms := range []int{10, 30, 20, 25, 40, 5} {
		p.UDP(t0.Add(time.Duration(ms)*time.Millisecond), a, b, []byte("payload"))
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	n := 0
	for {
		_, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if ci.Timestamp.Before(last) {
			t.Fatalf("record %d at %s, before the previous at %s", n, ci.Timestamp, last)
		}
		last = ci.Timestamp
		n++
	}
	if n != 6 {
		t.Fatalf("%d records, want 6", n)
	}
}

// Notes and errors are frames of the "notes" interface, between the
// packets in time order, that Wireshark reads as syslog messages with the
// same text as packet comment (issue 17).
func TestPcapNotesInWireshark(t *testing.T) {
	tshark, path, f := pcapTestTsharkFile(t, "notes.pcapng")
	p, err := NewPcapWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	a, b := netip.MustParseAddrPort("127.20.1.1:5060"), netip.MustParseAddrPort("127.20.0.1:5060")
	p.AddNode("7434", a.Addr())
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p.Note(t0, "scenario", "Alice calls Bob (spec §3.2.2)", false)
	p.UDP(t0.Add(time.Millisecond), a, b, []byte("OPTIONS sip:pbx SIP/2.0\r\n\r\n"))
	p.Note(t0.Add(2*time.Millisecond), "recorder", "from 127.20.9.9:5060: malformed SIP: no Call-ID", true)
	p.Note(t0.Add(3*time.Millisecond), "pbx", strings.Repeat("x", 5000), false)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command(tshark, "-n", "-r", path, "-T", "fields", "-E", "separator=|",
		"-e", "frame.interface_name", "-e", "syslog.level", "-e", "syslog.msg", "-e", "frame.comment").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "Running as") {
			lines = append(lines, l)
		}
	}
	want := []string{
		"notes|6|scenario: Alice calls Bob (spec §3.2.2)|scenario: Alice calls Bob (spec §3.2.2)",
		"7434|||",
		"notes|3|recorder: from 127.20.9.9:5060: malformed SIP: no Call-ID|recorder: from 127.20.9.9:5060: malformed SIP: no Call-ID",
	}
	if len(lines) != 4 {
		t.Fatalf("tshark shows %d frames, want 4:\n%s", len(lines), out)
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("frame %d:\n got %q\nwant %q", i+1, lines[i], w)
		}
	}
	if long := lines[3]; !strings.HasPrefix(long, "notes|6|pbx: xxx") || !strings.HasSuffix(long, "x…") || len(long) > 2*pcapNoteMax+40 {
		t.Errorf("a long note is not cut with a mark: %.80q… (%d bytes)", long, len(long))
	}
	// No expert warnings or malformed frames: the blocks are what Wireshark expects.
	ex, err := exec.Command(tshark, "-n", "-r", path, "-q", "-z", "expert,warn").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, ex)
	}
	if strings.Contains(string(ex), "Malformed") || strings.Contains(string(ex), "Warning") {
		t.Errorf("tshark expert info:\n%s", ex)
	}
}

// pcapTestTsharkFile finds tshark (a test that needs it fails without it:
// .ci/run installs it) and creates a capture file for it to read.
func pcapTestTsharkFile(t *testing.T, name string) (tshark, path string, f *os.File) {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatal("tshark is not installed; .ci/run installs it (apt-get install tshark)")
	}
	path = filepath.Join(t.TempDir(), name)
	if f, err = os.Create(path); err != nil {
		t.Fatal(err)
	}
	return tshark, path, f
}
