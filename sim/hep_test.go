package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The lab's SIP, exported as HEP, as sngrep (a HEP collector nobody here
// wrote) receives it: sngrep saves what it decoded as a pcap, and tshark
// finds the OPTIONS and its 200 in it with the lab's addresses (issue 17:
// nothing could watch the lab live from outside). .ci/run installs sngrep.
func TestHEPToSngrep(t *testing.T) {
	sngrep, err := exec.LookPath("sngrep")
	if err != nil {
		t.Fatalf("sngrep is not installed (apt-get install sngrep; .ci/run does): %v", err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "sngrep.pcap")
	collector := netip.MustParseAddrPort("127.20.53.9:9060")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sngrep, "-N", "-L", "udp:"+collector.String(), "-O", out)
	cmd.Env = append(os.Environ(), "TERM=dumb")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// sngrep -N prints "Dialog count: N" as it takes dialogs in.
	dialogs := make(chan int, 64)
	go func() {
		defer close(dialogs)
		sc := bufio.NewScanner(stdout)
		sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
			if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
				return i + 1, data[:i], nil
			}
			if atEOF && len(data) > 0 {
				return len(data), data, nil
			}
			return 0, nil, nil
		})
		for sc.Scan() {
			var k int
			if _, err := fmt.Sscanf(sc.Text(), "Dialog count: %d", &k); err == nil {
				dialogs <- k
			}
		}
	}()

	n := newTestNet(t)
	a := addNode(t, n, "alice", "127.20.53.1")
	b := addNode(t, n, "bob", "127.20.53.2")
	optionsStack(t, b, 5060, nil)
	sa, err := a.StartSIP(5060, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	// sngrep binds its listener after it starts: the collector is up
	// once that address cannot be bound any more (a bounded wait on the
	// condition, not a fixed delay).
	for i := 0; ; i++ {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(collector))
		if err != nil {
			break
		}
		c.Close()
		if i == 500 {
			t.Fatal("sngrep never listened on " + collector.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	x, err := n.ExportHEP(collector)
	if err != nil {
		t.Fatal(err)
	}
	// Three OPTIONS and their 200s, then a fourth OPTIONS: the exporter
	// sends in trace order from one socket, so once sngrep has counted the
	// fourth dialog it has taken in every message before it.
	for range 4 {
		req := sip.NewRequest(sip.OPTIONS, sip.Uri{User: "bob", Host: "127.20.53.2", Port: 5060})
		req.SetDestination("127.20.53.2:5060")
		if _, err := sa.Client.Do(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	for k := range dialogs {
		if k >= 4 {
			break
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if x.Sent() < 7 || x.Lost() != 0 {
		t.Fatalf("exporter sent %d, lost %d", x.Sent(), x.Lost())
	}
	cmd.Process.Signal(os.Interrupt) // sngrep writes its pcap as it exits
	cmd.Wait()
	got, err := exec.Command("tshark", "-r", out, "-Y", "sip", "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "sip.CSeq").Output()
	if err != nil {
		t.Fatal(err)
	}
	requests, answers := strings.Count(string(got), "127.20.53.1\t127.20.53.2\t"), strings.Count(string(got), "127.20.53.2\t127.20.53.1\t")
	if requests < 4 || answers < 3 {
		t.Fatalf("sngrep's capture: %d OPTIONS, %d 200s, want 4 and 3:\n%s", requests, answers, got)
	}
}

func watchN(n *Network, count int, match func(Event) bool) *Watch {
	return n.Trace().WatchN(count, match)
}

// hepChunks decodes one HEPv3 packet into its generic chunks, by type.
func hepChunks(t *testing.T, b []byte) map[uint16][]byte {
	t.Helper()
	if len(b) < 6 || string(b[:4]) != "HEP3" || int(binary.BigEndian.Uint16(b[4:])) != len(b) {
		t.Fatalf("not a HEPv3 packet: % x", b[:min(len(b), 16)])
	}
	out := map[uint16][]byte{}
	for p := 6; p < len(b); {
		if len(b)-p < 6 {
			t.Fatalf("a chunk header cut at %d", p)
		}
		typ, n := binary.BigEndian.Uint16(b[p+2:]), int(binary.BigEndian.Uint16(b[p+4:]))
		if n < 6 || p+n > len(b) {
			t.Fatalf("chunk %#x of length %d at %d of %d", typ, n, p, len(b))
		}
		out[typ] = b[p+6 : p+n]
		p += n
	}
	return out
}

// CSTA goes to the collector as HEP logs (type 100) with its XML, on the
// link's TCP ports; RTP streams as RTCP-like JSON reports (type 5) with
// their packet counts.
func TestHEPCarriesCSTAAndStreams(t *testing.T) {
	col, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.20.53.19:9060")))
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	n := newTestNet(t)
	x, err := n.ExportHEP(netip.MustParseAddrPort("127.20.53.19:9060"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	pbx, rec := netip.MustParseAddrPort("127.20.53.11:8882"), netip.MustParseAddrPort("127.20.53.12:40312")
	phone := netip.MustParseAddrPort("127.20.53.13:40000")
	frame := append([]byte{0, 0, 0, 30, '0', '0', '0', '1'}, []byte(`<MonitorStart xmlns="x"/>`)...)
	n.trace.Publish(Event{Kind: KindMessage, Proto: ProtoCSTA, Src: rec, Dst: pbx, Summary: "MonitorStart 1001", Bytes: frame})
	n.trace.Publish(Event{Kind: KindStreamStop, Proto: ProtoRTP, Src: phone, Dst: rec, Packets: 321, Summary: "RTP stream stopped, 321 packets"})

	buf := make([]byte, 4096)
	col.SetReadDeadline(SocketDeadline(10 * time.Second))
	for _, want := range []struct {
		proto, ipProto byte
		src, dst       netip.AddrPort
		payload        string
	}{
		{100, 6, rec, pbx, "CSTA MonitorStart 1001\n<MonitorStart xmlns=\"x\"/>"},
		{5, 17, phone, rec, `"sender_information":{"packets":321}`},
	} {
		k, err := col.Read(buf)
		if err != nil {
			t.Fatalf("collector: %v", err)
		}
		c := hepChunks(t, buf[:k])
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(c[3])), binary.BigEndian.Uint16(c[7]))
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(c[4])), binary.BigEndian.Uint16(c[8]))
		if c[0x0b][0] != want.proto || c[2][0] != want.ipProto || src != want.src || dst != want.dst || !strings.Contains(string(c[0x0f]), want.payload) {
			t.Errorf("HEP type %d, IP protocol %d, %s → %s, payload %q; want type %d, %d, %s → %s, %q",
				c[0x0b][0], c[2][0], src, dst, c[0x0f], want.proto, want.ipProto, want.src, want.dst, want.payload)
		}
	}
}
