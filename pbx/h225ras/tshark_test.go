package h225ras

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// The test vectors: one of each message, as the lab sends them, and the
// lines tshark's H.225.0 dissector must print for each.
var (
	phoneRAS  = netip.MustParseAddrPort("127.20.1.1:1719")
	phoneSIP  = netip.MustParseAddrPort("127.20.1.1:5060")
	gkRAS     = netip.MustParseAddrPort("127.20.0.1:1719")
	ttlReason = URQTTLExpired
)

type vector struct {
	name     string
	from, to netip.AddrPort
	msg      Message
	want     []string // substrings of tshark -V's decode of this frame
}

func vectors() []vector {
	vendor := Vendor{CountryCode: 0xa5, ManufacturerCode: 0x1234, ProductID: "Mitel 7434", VersionID: "4.2.1"}
	return []vector{
		{"grq", phoneRAS, gkRAS, &GRQ{RequestSeqNum: 1, Protocol: ProtocolV4, RASAddress: phoneRAS,
			EndpointType: Terminal(), EndpointAlias: []Alias{Digits("1001")}},
			[]string{"RasMessage: gatekeeperRequest (0)", "requestSeqNum: 1", "protocolIdentifier: 0.0.8.2250.0.4",
				"ip: 127.20.1.1", "port: 1719", "dialledDigits: 1001"}},
		{"gcf", gkRAS, phoneRAS, &GCF{RequestSeqNum: 1, Protocol: ProtocolV4, GatekeeperID: "MX-ONE", RASAddress: gkRAS},
			[]string{"RasMessage: gatekeeperConfirm (1)", "gatekeeperIdentifier: MX-ONE", "ip: 127.20.0.1"}},
		{"grj", gkRAS, phoneRAS, &GRJ{RequestSeqNum: 9, Protocol: ProtocolV4, GatekeeperID: "MX-ONE", Reason: GRJTerminalExcluded},
			[]string{"RasMessage: gatekeeperReject (2)", "rejectReason: terminalExcluded (1)"}},
		{"rrq", phoneRAS, gkRAS, &RRQ{RequestSeqNum: 2, Protocol: ProtocolV4, DiscoveryComplete: true,
			CallSignal: []netip.AddrPort{phoneSIP}, RAS: []netip.AddrPort{phoneRAS}, TerminalType: Terminal(),
			TerminalAlias: []Alias{Digits("1001"), {Kind: AliasH323ID, Value: "p1001"}}, GatekeeperID: "MX-ONE",
			EndpointVendor: vendor, TimeToLive: 60, WillSupplyUUIEs: false, MaintainConnection: false},
			[]string{"RasMessage: registrationRequest (3)", "discoveryComplete: True", "port: 5060",
				"dialledDigits: 1001", "h323-ID: p1001", "productId: Mitel 7434", "versionId: 4.2.1",
				"timeToLive: 60", "keepAlive: False", "t35CountryCode: Sweden (165)"}},
		{"rcf", gkRAS, phoneRAS, &RCF{RequestSeqNum: 2, Protocol: ProtocolV4, CallSignal: []netip.AddrPort{phoneSIP},
			TerminalAlias: []Alias{Digits("1001")}, GatekeeperID: "MX-ONE", EndpointID: "1001-1", TimeToLive: 60},
			[]string{"RasMessage: registrationConfirm (4)", "endpointIdentifier: 1001-1", "timeToLive: 60",
				"willRespondToIRR: False", "maintainConnection: False"}},
		{"rrq-keepalive", phoneRAS, gkRAS, &RRQ{RequestSeqNum: 3, Protocol: ProtocolV4, DiscoveryComplete: false,
			CallSignal: []netip.AddrPort{phoneSIP}, RAS: []netip.AddrPort{phoneRAS}, TerminalType: Terminal(),
			GatekeeperID: "MX-ONE", EndpointVendor: vendor, TimeToLive: 60, KeepAlive: true, EndpointID: "1001-1"},
			[]string{"RasMessage: registrationRequest (3)", "keepAlive: True", "endpointIdentifier: 1001-1"}},
		{"rrj", gkRAS, phoneRAS, &RRJ{RequestSeqNum: 3, Protocol: ProtocolV4, Reason: RRJFullRegistrationRequired, GatekeeperID: "MX-ONE"},
			[]string{"RasMessage: registrationReject (5)", "rejectReason: fullRegistrationRequired"}},
		{"rrj-duplicate", gkRAS, phoneRAS, &RRJ{RequestSeqNum: 4, Protocol: ProtocolV4, Reason: RRJDuplicateAlias, DuplicateAlias: []Alias{Digits("1001")}},
			[]string{"rejectReason: duplicateAlias (4)", "dialledDigits: 1001"}},
		{"urq", phoneRAS, gkRAS, &URQ{RequestSeqNum: 5, CallSignal: []netip.AddrPort{phoneSIP},
			EndpointAlias: []Alias{Digits("1001")}, EndpointID: "1001-1"},
			[]string{"RasMessage: unregistrationRequest (6)", "endpointIdentifier: 1001-1", "dialledDigits: 1001"}},
		{"urq-gk", gkRAS, phoneRAS, &URQ{RequestSeqNum: 6, CallSignal: []netip.AddrPort{phoneSIP},
			EndpointAlias: []Alias{Digits("1001")}, EndpointID: "1001-1", GatekeeperID: "MX-ONE", Reason: &ttlReason},
			[]string{"RasMessage: unregistrationRequest (6)", "gatekeeperIdentifier: MX-ONE", "reason: ttlExpired (1)"}},
		{"ucf", gkRAS, phoneRAS, &UCF{RequestSeqNum: 5},
			[]string{"RasMessage: unregistrationConfirm (7)", "requestSeqNum: 5"}},
		{"urj", gkRAS, phoneRAS, &URJ{RequestSeqNum: 7, Reason: URJNotCurrentlyRegistered},
			[]string{"RasMessage: unregistrationReject (8)", "rejectReason: notCurrentlyRegistered (0)"}},
	}
}

// WritePcap writes datagrams as Ethernet/IPv4/UDP frames, for tshark.
func writePcap(path string, frames []vector, payloads [][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, v := range frames {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 127, 20, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 127, 20, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: v.from.Addr().AsSlice(), DstIP: v.to.Addr().AsSlice()}
		udp := &layers.UDP{SrcPort: layers.UDPPort(v.from.Port()), DstPort: layers.UDPPort(v.to.Port())}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			return err
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, udp, gopacket.Payload(payloads[i])); err != nil {
			return err
		}
		b := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: t.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			return err
		}
	}
	return nil
}

// TestTsharkDecodes writes every vector to a pcap and has tshark decode
// it: each frame must show its fields and no malformed or expert-error
// item. Without tshark the test fails: the vectors are only checked here.
func TestTsharkDecodes(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatalf("tshark is needed to check the RAS vectors against Wireshark's H.225.0 dissector: %v", err)
	}
	vs := vectors()
	var payloads [][]byte
	for _, v := range vs {
		b, err := Encode(v.msg)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		payloads = append(payloads, b)
	}
	path := filepath.Join(t.TempDir(), "ras.pcap")
	if err := writePcap(path, vs, payloads); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-r", path, "-V", "-O", "h225").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	frames := splitFrames(string(out))
	if len(frames) != len(vs) {
		t.Fatalf("tshark shows %d frames, want %d:\n%s", len(frames), len(vs), out)
	}
	for i, v := range vs {
		fr := frames[i]
		if !strings.Contains(fr, "H.225.0 RAS") && !strings.Contains(fr, "H225") {
			t.Errorf("%s: tshark did not decode it as H.225.0 RAS:\n%s", v.name, fr)
			continue
		}
		for _, w := range v.want {
			if !strings.Contains(fr, w) {
				t.Errorf("%s: tshark's decode lacks %q:\n%s", v.name, w, fr)
			}
		}
		for _, bad := range []string{"Malformed", "[Expert Info (Error", "[Expert Info (Warning", "Dissector bug"} {
			if strings.Contains(fr, bad) {
				t.Errorf("%s: tshark reports %q:\n%s", v.name, bad, fr)
			}
		}
	}
	expert, err := exec.Command(tshark, "-r", path, "-q", "-z", "expert,error").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -z expert: %v\n%s", err, expert)
	}
	if bytes.Contains(expert, []byte("Errors (")) {
		t.Errorf("tshark's expert summary has errors:\n%s", expert)
	}
	if testing.Verbose() {
		fmt.Println(string(out))
	}
}

// splitFrames cuts tshark -V output at each "Frame N:" line.
func splitFrames(s string) []string {
	var out []string
	for _, part := range strings.Split("\n"+s, "\nFrame ")[1:] {
		if strings.TrimSpace(part) != "" {
			out = append(out, part)
		}
	}
	return out
}
