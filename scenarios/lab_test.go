package scenarios

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBasicCallRecordedEndToEnd runs the whole lab on real loopback sockets:
// registration, a call 7434 → 6867i, CSTA to the recorder, recording
// sessions to 7300 and 5070, RTP forked, WAVs checked by tone per channel
// and JSON counts against what the phones forked (the scenario's checks).
// Then tshark reads the pcap back.
func TestBasicCallRecordedEndToEnd(t *testing.T) {
	s, err := Get("basic-call")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Execute(ctx, s, Options{OutDir: dir, Log: &log})
	if err != nil {
		t.Fatalf("basic-call failed: %v\n%s", err, log.String())
	}
	out := log.String()
	for _, want := range []string{
		"7434      → pbx       SIP   REGISTER",
		"6867i     → pbx       SIP   REGISTER",
		"CSTA  EstablishedEvent 1001→1002",
		"recorder  → 7434      SIP   INVITE sip:1001@127.20.1.1:7300",
		"recorder  → 6867i     SIP   INVITE sip:1002@127.20.1.2:5070",
		"RTP stream 127.20.1.1:40000 → recorder tx started",
		"RTP stream 127.20.1.2:40000 → recorder rx started",
		"PASS  recording of 7434 (1001): left channel is 7434's own tone",
		"PASS  recording of 6867i (1002): right channel is the far end's tone",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the flow lacks %q", want)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a check failed:\n%s", out)
	}
	checkPcapWithTshark(t, res.Pcap)
}

// checkPcapWithTshark decodes the run's pcap: SIP with SDP, RTP, CSTA bytes
// on 8882, and nothing malformed.
func checkPcapWithTshark(t *testing.T, pcap string) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is not installed; .ci/run installs it (apt-get install tshark)")
	}
	count := func(filter string) int {
		t.Helper()
		out, err := exec.Command("tshark", "-r", pcap, "-Y", filter, "-T", "fields", "-e", "frame.number").Output()
		if err != nil {
			t.Fatalf("tshark -Y %q: %v", filter, err)
		}
		return len(strings.Fields(string(out)))
	}
	if n := count("sip.Method == \"INVITE\" && sdp.media.port == 20000"); n < 1 {
		t.Errorf("pcap: no recording INVITE with SDP towards recorder port 20000 (%d)", n)
	}
	if n := count("sip.Method == \"REGISTER\""); n < 2 {
		t.Errorf("pcap: %d REGISTERs, want 2", n)
	}
	if n := count("rtp && ip.dst == 127.20.0.2"); n < 200 {
		t.Errorf("pcap: %d RTP packets to the recorder decoded, want hundreds", n)
	}
	if n := count("tcp.port == 8882 && tcp.len > 0"); n < 5 {
		t.Errorf("pcap: %d CSTA segments on 8882", n)
	}
	if n := count("_ws.malformed || _ws.expert.severity >= 0x00600000"); n != 0 {
		t.Errorf("pcap: %d malformed or warning frames", n)
	}
	// The CSTA stream reassembles into whole ECMA-323 documents.
	out, err := exec.Command("tshark", "-r", pcap, "-q", "-z", "follow,tcp,ascii,0").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "<EstablishedEvent xmlns=\"http://www.ecma-international.org/standards/ecma-323/csta/ed4\"") {
		t.Errorf("pcap: the CSTA stream does not reassemble to an EstablishedEvent document")
	}
}
