package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/reclab/reclab/sim/media"
)

// What the lab knows of its SRTP (spec §1.3: encrypted media, keys to the
// recorder over CSTA). Phones tell the network each stream's key as they
// send with it, and which flows carry SRTP; the trace marks those streams
// (streams.go), and WriteDecryptedPcap writes the companion of the lab's
// pcap with every SRTP packet it has a key for in the clear. Nothing here is
// on the per-packet path: keys and flows change per call.

// SRTPBook holds the lab's SRTP keys by SSRC and the flows that carry SRTP.
// The zero value is empty and ready; it is safe for concurrent use.
type SRTPBook struct {
	mu    sync.Mutex
	keys  map[uint32]media.SDESKey
	flows map[streamKey]media.CryptoSuite
}

// SRTP is the network's book of SRTP keys and flows.
func (n *Network) SRTP() *SRTPBook { return &n.srtp }

// LearnKey records that the stream with ssrc is protected with key.
func (b *SRTPBook) LearnKey(ssrc uint32, key media.SDESKey) {
	if !key.Valid() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys == nil {
		b.keys = map[uint32]media.SDESKey{}
	}
	b.keys[ssrc] = key
}

// Keys is how many SSRCs have a key.
func (b *SRTPBook) Keys() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.keys)
}

// MarkFlow says what src → dst carries from now on: SRTP of suite, or plain
// RTP (media.SuiteNone). The trace names the flow's streams after it.
func (b *SRTPBook) MarkFlow(src, dst netip.AddrPort, suite media.CryptoSuite) {
	k := streamKey{unmapAP(src), unmapAP(dst)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !suite.Valid() {
		delete(b.flows, k)
		return
	}
	if b.flows == nil {
		b.flows = map[streamKey]media.CryptoSuite{}
	}
	b.flows[k] = suite
}

// flow is the suite src → dst carries, SuiteNone for plain RTP.
func (b *SRTPBook) flow(k streamKey) media.CryptoSuite {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flows[k]
}

// snapshot copies the keys, for a writer that runs without the lock.
func (b *SRTPBook) snapshot() map[uint32]media.SDESKey {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[uint32]media.SDESKey, len(b.keys))
	for k, v := range b.keys {
		out[k] = v
	}
	return out
}

func unmapAP(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// streamWhat is how the trace names a stream of k: "RTP stream", or "SRTP
// stream" with its suite as a suffix for the start line.
func (n *Network) streamWhat(k streamKey) (what, suffix string) {
	if s := n.srtp.flow(k); s.Valid() {
		return "SRTP stream", " (" + s.String() + ")"
	}
	return "RTP stream", ""
}

// DecryptedStats says what WriteDecryptedPcap did.
type DecryptedStats struct {
	Frames    int // frames copied in all
	Decrypted int // SRTP packets written in the clear
	Failed    int // SRTP packets of a known SSRC that did not authenticate (kept as they were)
	SDP       int // SIP messages whose SDP was rewritten to RTP/AVP
}

// WriteDecryptedPcap reads the lab's pcapng from src and writes its
// decrypted companion to dst (README "Headless runs"): the same frames on
// the same interfaces, each UDP packet whose SSRC has a key in the book
// unprotected to plain RTP (RFC 3711), and each SIP message's SDP rewritten
// from RTP/SAVP to RTP/AVP without its a=crypto lines, so Wireshark reads
// the streams as RTP. Packet comments are not copied (the notes stay as
// syslog frames). It runs once the lab's pcap is closed.
func (b *SRTPBook) WriteDecryptedPcap(dst io.Writer, src io.Reader) (DecryptedStats, error) {
	var st DecryptedStats
	r, err := pcapgo.NewNgReader(src, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return st, fmt.Errorf("sim: decrypted pcap: %w", err)
	}
	var w *pcapgo.NgWriter
	written := 0 // interfaces already in w
	ensure := func(upto int) error {
		for ; written <= upto; written++ {
			intf, err := r.Interface(written)
			if err != nil {
				return err
			}
			if w == nil {
				w, err = pcapgo.NewNgWriterInterface(dst, intf, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
					Application: "reclab", Comment: "reclab lab capture, SRTP decrypted with the lab's keys (spec §1.3)"}})
			} else {
				_, err = w.AddInterface(intf)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	d := decrypter{keys: b.snapshot(), ctx: map[uint32]*media.SRTP{}}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("sim: decrypted pcap: read: %w", err)
		}
		if err := ensure(ci.InterfaceIndex); err != nil {
			return st, fmt.Errorf("sim: decrypted pcap: interface %d: %w", ci.InterfaceIndex, err)
		}
		out := d.frame(data, &st)
		ci.CaptureLength, ci.Length = len(out), len(out)
		if err := w.WritePacket(ci, out); err != nil {
			return st, fmt.Errorf("sim: decrypted pcap: write: %w", err)
		}
		st.Frames++
	}
	if w == nil {
		return st, errors.New("sim: decrypted pcap: the lab's pcap has no interface")
	}
	return st, w.Flush()
}

// decrypter holds one SRTP context per SSRC while a pcap is rewritten.
type decrypter struct {
	keys map[uint32]media.SDESKey
	ctx  map[uint32]*media.SRTP
	buf  [65536]byte
}

// frame returns data, or a new frame with its UDP payload decrypted or its
// SDP made plain.
func (d *decrypter) frame(data []byte, st *DecryptedStats) []byte {
	pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if eth == nil || ip == nil || udp == nil {
		return data
	}
	payload := udp.Payload
	var plain []byte
	switch {
	case len(payload) >= media.HeaderSize && payload[0]>>6 == 2:
		ssrc := binary.BigEndian.Uint32(payload[8:12])
		key, ok := d.keys[ssrc]
		if !ok {
			return data
		}
		c := d.ctx[ssrc]
		if c == nil {
			var err error
			if c, err = media.NewSRTP(key); err != nil {
				return data
			}
			d.ctx[ssrc] = c
		}
		p, err := c.Unprotect(d.buf[:], payload)
		if err != nil {
			st.Failed++
			return data
		}
		plain = p
		st.Decrypted++
	case bytes.Contains(payload, []byte("RTP/SAVP")) && bytes.Contains(payload, []byte("SIP/2.0")):
		plain = plainSDP(payload)
		st.SDP++
	default:
		return data
	}
	udp.SetNetworkLayerForChecksum(ip)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		eth, ip, udp, gopacket.Payload(plain)); err != nil {
		return data
	}
	return sb.Bytes()
}

// plainSDP is a SIP message with its SDP turned into plain RTP: RTP/SAVP
// becomes RTP/AVP, a=crypto lines go, Content-Length follows.
func plainSDP(msg []byte) []byte {
	head, body, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok {
		return msg
	}
	var nb bytes.Buffer
	for line := range bytes.Lines(body) {
		if bytes.HasPrefix(line, []byte("a=crypto:")) {
			continue
		}
		nb.Write(bytes.Replace(line, []byte(" RTP/SAVP "), []byte(" RTP/AVP "), 1))
	}
	var out bytes.Buffer
	for i, line := range bytes.Split(head, []byte("\r\n")) {
		if i > 0 {
			out.WriteString("\r\n")
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		if n := string(bytes.TrimSpace(name)); n == "l" || bytes.EqualFold([]byte(n), []byte("Content-Length")) {
			out.WriteString("Content-Length: " + strconv.Itoa(nb.Len()))
			continue
		}
		out.Write(line)
	}
	out.WriteString("\r\n\r\n")
	out.Write(nb.Bytes())
	return out.Bytes()
}
