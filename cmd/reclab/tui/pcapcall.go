package tui

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/reclab/reclab/sim"
)

// pcapFlusher is a backend whose pcap can be pushed to its file before the
// file is read (the real lab); a backend without it has its file as is.
type pcapFlusher interface{ FlushPcap() error }

func (b *labBackend) FlushPcap() error { return b.l.Net.FlushPcap() }

// savePcap writes the selected call's packets — SIP, CSTA, HTTP and its
// RTP — from the session's lab.pcapng to call-N.pcap beside it (issue 12,
// as sngrep saves a call). The call is the one selected in the call list,
// or the one the ladder is filtered to.
func (m *Model) savePcap() tea.Cmd {
	c := m.filter.call
	if m.list == listCalls && m.listSel < len(m.callList) {
		c = m.callList[m.listSel]
	}
	if c == nil {
		m.setStatus(true, "save pcap: select a call first (C lists the calls; Enter or p on one)")
		return nil
	}
	var members []sim.Event
	for _, e := range m.events {
		if c.member(e) {
			members = append(members, e)
		}
	}
	dir := m.b.OutDir()
	src, dst := filepath.Join(dir, "lab.pcapng"), filepath.Join(dir, fmt.Sprintf("call-%d.pcap", c.n))
	var flush func() error
	if f, ok := unwrap(m.b).(pcapFlusher); ok {
		flush = f.FlushPcap
	}
	m.setStatus(false, "saving call %d's packets…", c.n)
	return func() tea.Msg {
		if flush != nil {
			if err := flush(); err != nil {
				return actionMsg{err: fmt.Errorf("save pcap: %w", err)}
			}
		}
		n, err := writeCallPcap(src, dst, members)
		if err != nil {
			return actionMsg{err: fmt.Errorf("save pcap: %w", err)}
		}
		return actionMsg{text: fmt.Sprintf("saved call %d (%s→%s): %d packets in %s", c.n, c.caller, c.callee, n, dst)}
	}
}

// flowKey is one direction of a UDP flow.
type flowKey struct{ src, dst string }

// writeCallPcap copies from the session's pcapng the packets of the
// call's events: each SIP, CSTA or HTTP message by its bytes (a TCP write
// split into segments by each segment's bytes), each RTP stream by its
// addresses between its start and stop. It returns how many it wrote.
func writeCallPcap(src, dst string, members []sim.Event) (int, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	r, err := pcapgo.NewNgReader(in, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", src, err)
	}
	msgs := map[string]bool{}                 // SIP payloads of the call
	var tcpMsgs [][]byte                      // CSTA and HTTP writes of the call
	streams := map[flowKey][2]time.Duration{} // RTP: first start, last stop (-1: on)
	for _, e := range members {
		switch {
		case e.Kind == sim.KindMessage && e.Proto == sim.ProtoSIP:
			msgs[string(e.Bytes)] = true
		case e.Kind == sim.KindMessage && len(e.Bytes) > 0:
			tcpMsgs = append(tcpMsgs, e.Bytes)
		case e.Proto == sim.ProtoRTP && (e.Kind == sim.KindStreamStart || e.Kind == sim.KindStreamStop):
			k := flowKey{e.Src.String(), e.Dst.String()}
			w, ok := streams[k]
			if !ok {
				w = [2]time.Duration{e.At, -1}
			}
			if e.Kind == sim.KindStreamStart {
				w[0], w[1] = min(w[0], e.At), -1
			} else {
				w[1] = e.At
			}
			streams[k] = w
		}
	}
	// Pcap timestamps are the lab clock's time; event times are since the
	// lab's start. The first SIP message of the call found in both gives
	// the offset.
	type pkt struct {
		ci   gopacket.CaptureInfo
		data []byte
		rtp  *flowKey
	}
	var keep []pkt
	var offset time.Duration
	haveOffset := false
	var sipAt map[string]time.Duration
	sipAt = map[string]time.Duration{}
	for _, e := range members {
		if e.Kind == sim.KindMessage && e.Proto == sim.ProtoSIP {
			if _, ok := sipAt[string(e.Bytes)]; !ok {
				sipAt[string(e.Bytes)] = e.At
			}
		}
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break // a file still being written ends at a record's end
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", src, err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
		var sip, dip string
		if ip4, ok := p.NetworkLayer().(*layers.IPv4); ok {
			sip, dip = ip4.SrcIP.String(), ip4.DstIP.String()
		} else if ip6, ok := p.NetworkLayer().(*layers.IPv6); ok {
			sip, dip = ip6.SrcIP.String(), ip6.DstIP.String()
		} else {
			continue
		}
		switch l := p.TransportLayer().(type) {
		case *layers.UDP:
			if msgs[string(l.Payload)] {
				if !haveOffset {
					offset, haveOffset = ci.Timestamp.Sub(time.Unix(0, 0))-sipAt[string(l.Payload)], true
				}
				keep = append(keep, pkt{ci: ci, data: data})
				continue
			}
			k := flowKey{fmt.Sprintf("%s:%d", sip, l.SrcPort), fmt.Sprintf("%s:%d", dip, l.DstPort)}
			if _, ok := streams[k]; ok {
				keep = append(keep, pkt{ci: ci, data: data, rtp: &k})
			}
		case *layers.TCP:
			if len(l.Payload) == 0 {
				continue
			}
			for _, b := range tcpMsgs {
				if bytes.Contains(b, l.Payload) {
					keep = append(keep, pkt{ci: ci, data: data})
					break
				}
			}
		}
	}
	out, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	w := pcapgo.NewWriterNanos(out)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		out.Close()
		return 0, err
	}
	n := 0
	for _, p := range keep {
		if p.rtp != nil && haveOffset {
			// Only the stream's packets between its start and its stop
			// (an RTP port is used again by the phone's next call).
			at := p.ci.Timestamp.Sub(time.Unix(0, 0)) - offset
			win := streams[*p.rtp]
			if at < win[0]-time.Second || (win[1] >= 0 && at > win[1]+time.Second) {
				continue
			}
		}
		ci := p.ci
		ci.InterfaceIndex = 0
		if err := w.WritePacket(ci, p.data); err != nil {
			out.Close()
			return n, err
		}
		n++
	}
	return n, out.Close()
}
