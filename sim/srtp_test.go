package sim

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/reclab/reclab/sim/media"
)

// Spec §1.3: the decrypted companion holds every SRTP packet with a known
// key in the clear, with valid lengths and checksums, the SDP made plain,
// and the rest of the frames as they were, on the same interfaces.
func TestWriteDecryptedPcap(t *testing.T) {
	var main bytes.Buffer
	p, err := NewPcapWriter(&main)
	if err != nil {
		t.Fatal(err)
	}
	a, b := netip.MustParseAddrPort("127.20.1.1:40000"), netip.MustParseAddrPort("127.20.1.2:40000")
	p.AddNode("7434", a.Addr())
	p.AddNode("6867i", b.Addr())
	key, _ := media.NewSDESKey(1, media.AEADAES256GCM)
	ctx, _ := media.NewSRTP(key)
	snd := media.NewSender(4242, 1, 0, media.PCMA)
	pcm := make([]int16, media.FrameSamples)
	media.NewTone(400, 8000).Next(pcm)
	var plains [][]byte
	ts := time.Unix(1_000_000, 0)
	sdp := "v=0\r\no=- 1 1 IN IP4 127.20.1.1\r\ns=-\r\nc=IN IP4 127.20.1.1\r\nt=0 0\r\nm=audio 40000 RTP/SAVP 8\r\na=crypto:" + key.Attribute() + "\r\na=sendrecv\r\n"
	sip := "INVITE sip:1002@127.20.0.1 SIP/2.0\r\nContent-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
	p.UDP(ts, a, b, []byte(sip))
	for i := range 3 {
		plain := snd.EncodePacket(nil, pcm, i == 0)
		plains = append(plains, plain)
		s, err := ctx.Protect(make([]byte, 0, 400), plain)
		if err != nil {
			t.Fatal(err)
		}
		p.UDP(ts.Add(time.Duration(i+1)*20*time.Millisecond), a, b, s)
	}
	other := media.NewSender(99, 1, 0, media.PCMA).EncodePacket(nil, pcm, false) // no key: kept as it is
	p.UDP(ts.Add(time.Second), b, a, other)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	var book SRTPBook
	book.LearnKey(4242, key)
	var out bytes.Buffer
	st, err := book.WriteDecryptedPcap(&out, bytes.NewReader(main.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if st.Frames != 5 || st.Decrypted != 3 || st.SDP != 1 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
	r, err := pcapgo.NewNgReader(&out, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var payloads [][]byte
	ifaces := map[int]bool{}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ifaces[ci.InterfaceIndex] = true
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if udp == nil || ip == nil || pkt.ErrorLayer() != nil {
			t.Fatalf("frame does not decode: %v", pkt)
		}
		if int(udp.Length) != 8+len(udp.Payload) || int(ip.Length) != 20+8+len(udp.Payload) {
			t.Errorf("lengths: ip %d udp %d payload %d", ip.Length, udp.Length, len(udp.Payload))
		}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ip, udp, gopacket.Payload(udp.Payload)); err != nil {
			t.Fatal(err)
		}
		again := gopacket.NewPacket(buf.Bytes(), layers.LayerTypeIPv4, gopacket.Default)
		if u := again.Layer(layers.LayerTypeUDP).(*layers.UDP); u.Checksum != udp.Checksum {
			t.Errorf("UDP checksum %#x, want %#x", udp.Checksum, u.Checksum)
		}
		payloads = append(payloads, append([]byte(nil), udp.Payload...))
	}
	if len(payloads) != 5 || len(ifaces) != 2 {
		t.Fatalf("%d frames on interfaces %v", len(payloads), ifaces)
	}
	msg := string(payloads[0])
	_, body, _ := strings.Cut(msg, "\r\n\r\n")
	if strings.Contains(msg, "a=crypto") || !strings.Contains(msg, "m=audio 40000 RTP/AVP 8\r\n") || !strings.Contains(msg, "Content-Length: "+strconv.Itoa(len(body))+"\r\n") {
		t.Errorf("SIP not made plain:\n%s", msg)
	}
	for i, want := range plains {
		if !bytes.Equal(payloads[i+1], want) {
			t.Errorf("packet %d: %x, want the RTP in the clear %x", i+1, payloads[i+1], want)
		}
	}
	if !bytes.Equal(payloads[4], other) {
		t.Error("a packet with no key changed")
	}
}

// A flow marked SRTP names its streams so in the trace, start and stop,
// with the suite on the start line; other flows stay RTP.
func TestSRTPFlowNamesItsStreams(t *testing.T) {
	n := newTestNet(t)
	a, b, _ := impairTestPair(t, n, "127.20.62.1", "127.20.62.2")
	n.SRTP().MarkFlow(a.LocalAddrPort(), b.LocalAddrPort(), media.AEADAES128GCM)
	start := n.Trace().Watch(func(e Event) bool { return e.Kind == KindStreamStart })
	stop := n.Trace().Watch(func(e Event) bool { return e.Kind == KindStreamStop })
	pkt := media.NewSender(1, 1, 0, media.PCMA).Packet(nil, make([]byte, 160), true)
	if _, err := a.WriteToAddrPort(pkt, b.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := start.Wait(ctx)
	if err != nil || !strings.HasPrefix(e.Summary, "SRTP stream ") || !strings.HasSuffix(e.Summary, "started (AEAD_AES_128_GCM)") {
		t.Fatalf("start %q, %v", e.Summary, err)
	}
	// The mark changes after the start: the stream keeps its name.
	n.SRTP().MarkFlow(a.LocalAddrPort(), b.LocalAddrPort(), media.SuiteNone)
	a.Close()
	if e, err = stop.Wait(ctx); err != nil || !strings.HasPrefix(e.Summary, "SRTP stream ") {
		t.Fatalf("stop %q, %v", e.Summary, err)
	}
	if what, _ := n.streamWhat(streamKey{a.LocalAddrPort(), b.LocalAddrPort()}); what != "RTP stream" {
		t.Errorf("an unmarked flow is %q", what)
	}
}
