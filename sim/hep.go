package sim

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// HEPExporter sends every SIP message of the lab, as it is traced, to a
// HEP (HEPv3, "Homer Encapsulation Protocol") collector over UDP: sngrep
// (`sngrep -L udp:127.0.0.1:9060`) and Homer show the lab's calls live. It
// reads the trace through a non-blocking subscription: a collector that is
// slow or gone never slows the lab; what it misses is counted (Lost).
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
		if e.Proto != ProtoSIP || e.Kind != KindMessage || len(e.Bytes) == 0 || !e.Src.Addr().Is4() || !e.Dst.Addr().Is4() {
			continue
		}
		buf = AppendHEP3(buf[:0], x.epoch.Add(e.At), e.Src, e.Dst, e.Bytes)
		if _, err := x.conn.Write(buf); err == nil {
			x.sent.Add(1)
		}
	}
}

// Sent is how many SIP messages went to the collector; Lost how many the
// exporter's subscription missed because it fell behind.
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
	chunk(0x0001, []byte{2})  // IP family: IPv4
	chunk(0x0002, []byte{17}) // IP protocol: UDP
	chunk(0x0003, s4[:])
	chunk(0x0004, d4[:])
	chunk(0x0007, u16(src.Port()))
	chunk(0x0008, u16(to.Port()))
	chunk(0x0009, u32(uint32(ts.Unix())))
	chunk(0x000a, u32(uint32(ts.Nanosecond()/1000)))
	chunk(0x000b, []byte{1})   // protocol type: SIP
	chunk(0x000c, u32(0x7263)) // capture agent id: "rc"
	chunk(0x000f, payload)
	binary.BigEndian.PutUint16(dst[start+4:], uint16(len(dst)-start))
	return dst
}
