package sim

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket/pcapgo"
)

// Every datagram that reaches a lab socket is traced and captured, whatever
// its source says (issue 11 item 7: datagrams from a lab node's address but
// no lab socket, 0 of 103, were neither).
func TestSpoofedSourceIsTraced(t *testing.T) {
	var pcap bytes.Buffer
	n, err := NewNetwork(Config{Pcap: &pcap})
	if err != nil {
		t.Fatal(err)
	}
	rec := addNode(t, n, "recorder", "127.20.54.2")
	addNode(t, n, "7434", "127.20.54.1")
	rtp, err := rec.ListenPacket(20000)
	if err != nil {
		t.Fatal(err)
	}
	// Outside the lab, a socket on the 7434's address (as a raw-socket
	// forger would send from), sending SIP and RTP to the recorder.
	forger, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.20.54.1:6666")))
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	sipMsg := []byte("OPTIONS sip:recorder@127.20.54.2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.20.54.1:6666;branch=z9hG4bKf\r\nFrom: <sip:x@127.20.54.1>;tag=1\r\nTo: <sip:recorder@127.20.54.2>\r\nCall-ID: spoof\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	rtpPkt := make([]byte, 172)
	rtpPkt[0], rtpPkt[1] = 0x80, 8 // RTP v2, PCMA
	traced := n.Trace().Watch(func(e Event) bool {
		return e.Kind == KindMessage && e.Proto == ProtoSIP && e.Src.String() == "127.20.54.1:6666" && strings.HasPrefix(e.Summary, "OPTIONS")
	})
	buf := make([]byte, 2048)
	for _, b := range [][]byte{sipMsg, rtpPkt} {
		if _, err := forger.WriteToUDPAddrPort(b, rtp.LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := rtp.ReadFromAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}
	waitWatch(t, traced)
	rtp.Close()
	n.Close()
	r, err := pcapgo.NewNgReader(&pcap, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	for {
		_, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		records++
		// Captured where it arrived: no lab socket sent it, whatever its
		// source address says.
		if intf, err := r.Interface(ci.InterfaceIndex); err != nil || intf.Name != "recorder" {
			t.Errorf("record %d on interface %d %q (%v), want the recorder's", records, ci.InterfaceIndex, intf.Name, err)
		}
	}
	if records != 2 {
		t.Fatalf("%d records in the pcap, want the forger's 2", records)
	}
}
