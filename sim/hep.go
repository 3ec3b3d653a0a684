package sim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// HEPExporter sends the lab's signalling, as it is traced, to a HEP (HEPv3,
// "Homer Encapsulation Protocol") collector over UDP: sngrep (`sngrep -L
// udp:127.0.0.1:9060`) and Homer show the lab's calls live.
//
//   - every SIP message, as HEP protocol type 1 (SIP) over UDP;
//   - every CSTA message, as type 100 (a log, which Homer keeps beside the
//     calls): its summary line, then its XML, with the TCP ports of the link;
//   - every RTP stream's start and stop, as type 5 (RTCP as JSON), an
//     RTCP-like report of the packets the stream carried so far.
//
// It reads the trace through a non-blocking subscription: a collector that
// is slow or gone never slows the lab; what it misses is counted (Lost).
type HEPExporter struct {
	conn  *net.UDPConn
	sub   *Subscription
	epoch time.Time
	sent  atomic.Uint64
	done  chan struct{}
}

// ExportHEP starts sending the network's SIP to the collector at to, which
// must be on loopback unless the network allows otherwise (split mode).
func (n *Network) ExportHEP(to netip.AddrPort) (*HEPExporter, error) {
	if !to.Addr().IsLoopback() && !n.cfg.AllowNonLoopback {
		return nil, fmt.Errorf("sim: hep: collector %s is outside 127.0.0.0/8 (split mode is off)", to)
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return nil, fmt.Errorf("sim: hep: %w", err)
	}
	x := &HEPExporter{conn: conn, sub: n.trace.Subscribe(4096, false), epoch: n.start, done: make(chan struct{})}
	go x.run()
	return x, nil
}

func (x *HEPExporter) run() {
	defer close(x.done)
	var buf []byte
	for e := range x.sub.C {
		if !e.Src.Addr().Is4() || !e.Dst.Addr().Is4() {
			continue
		}
		ts := x.epoch.Add(e.At)
		switch {
		case e.Proto == ProtoSIP && e.Kind == KindMessage && len(e.Bytes) > 0:
			buf = AppendHEP3(buf[:0], ts, e.Src, e.Dst, e.Bytes)
		case e.Proto == ProtoCSTA && e.Kind == KindMessage:
			buf = appendHEP3(buf[:0], ts, e.Src, e.Dst, hepTCP, hepLog, hepCSTALog(e))
		case e.Proto == ProtoRTP && (e.Kind == KindStreamStart || e.Kind == KindStreamStop):
			buf = appendHEP3(buf[:0], ts, e.Src, e.Dst, hepUDP, hepRTCPJSON, hepStreamReport(e))
		default:
			continue
		}
		if _, err := x.conn.Write(buf); err == nil {
			x.sent.Add(1)
		}
	}
}

// HEP's IP protocols and payload types (HEPv3, chunk 0x000b).
const (
	hepUDP      = 17
	hepTCP      = 6
	hepSIP      = 1
	hepRTCPJSON = 5
	hepLog      = 100
)

// hepCSTALog is a CSTA message as a log line: the summary, then the XML
// (the frame without its 8-byte header, docs/wire.md "CSTA framing").
func hepCSTALog(e Event) []byte {
	xmlDoc := e.Bytes
	if i := bytes.IndexByte(xmlDoc, '<'); i >= 0 {
		xmlDoc = xmlDoc[i:]
	}
	return append([]byte("CSTA "+e.Summary+"\n"), xmlDoc...)
}

// hepStreamReport is an RTP stream's start or stop as an RTCP-like report
// in JSON, as HEP agents send RTCP: a sender report's packet count, with
// what happened to the stream beside it.
func hepStreamReport(e Event) []byte {
	r := hepReport{Type: 200, Event: "start", Summary: e.Summary, Sender: hepSender{Packets: e.Packets}, Blocks: []int{}}
	if e.Kind == KindStreamStop {
		r.Event = "stop"
	}
	doc, _ := json.Marshal(r) // plain fields: it cannot fail
	return doc
}

type hepReport struct {
	Type    int       `json:"type"` // 200: a sender report (RFC 3550 §6.4.1)
	Event   string    `json:"reclab_stream"`
	Summary string    `json:"reclab_summary"`
	Sender  hepSender `json:"sender_information"`
	Count   int       `json:"report_count"`
	Blocks  []int     `json:"report_blocks"`
}

type hepSender struct {
	Packets uint64 `json:"packets"`
}

// Sent is how many messages and reports went to the collector; Lost how
// many events the exporter's subscription missed because it fell behind.
func (x *HEPExporter) Sent() uint64 { return x.sent.Load() }
func (x *HEPExporter) Lost() uint64 { return x.sub.Lost() }

// Close stops the export.
func (x *HEPExporter) Close() error {
	x.sub.Close()
	<-x.done
	return x.conn.Close()
}

// AppendHEP3 appends one HEPv3 packet carrying a SIP message sent over UDP
// from src to dst at ts: a "HEP3" header with the total length, then
// chunks of vendor 0 (generic): IP family, IP protocol, addresses, ports,
// time, protocol type SIP, capture agent id, payload.
func AppendHEP3(dst []byte, ts time.Time, src, to netip.AddrPort, payload []byte) []byte {
	return appendHEP3(dst, ts, src, to, hepUDP, hepSIP, payload)
}

func appendHEP3(dst []byte, ts time.Time, src, to netip.AddrPort, ipProto, protoType byte, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, 'H', 'E', 'P', '3', 0, 0)
	chunk := func(typ uint16, v []byte) {
		dst = binary.BigEndian.AppendUint16(dst, 0) // vendor: generic
		dst = binary.BigEndian.AppendUint16(dst, typ)
		dst = binary.BigEndian.AppendUint16(dst, uint16(6+len(v)))
		dst = append(dst, v...)
	}
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	s4, d4 := src.Addr().As4(), to.Addr().As4()
	chunk(0x0001, []byte{2}) // IP family: IPv4
	chunk(0x0002, []byte{ipProto})
	chunk(0x0003, s4[:])
	chunk(0x0004, d4[:])
	chunk(0x0007, u16(src.Port()))
	chunk(0x0008, u16(to.Port()))
	chunk(0x0009, u32(uint32(ts.Unix())))
	chunk(0x000a, u32(uint32(ts.Nanosecond()/1000)))
	chunk(0x000b, []byte{protoType})
	chunk(0x000c, u32(0x7263)) // capture agent id: "rc"
	chunk(0x000f, payload)
	binary.BigEndian.PutUint16(dst[start+4:], uint16(len(dst)-start))
	return dst
}
