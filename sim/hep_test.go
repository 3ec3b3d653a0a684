package sim

import (
	"bufio"
	"bytes"
	"context"
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
