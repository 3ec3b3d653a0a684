package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/internal/labtest"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

var (
	update = flag.Bool("update", false, "rewrite testdata/golden/*.txt from this run")
	// go test ./scenarios -net-delay 0-300ms -seed 3: every story on a
	// network with latency (sim.LinkDelays); the goldens must still match.
	netDelay = flag.String("net-delay", "", "MIN-MAX: every link of each test lab its own delay (reclab run --net-delay)")
	seed     = flag.Int64("seed", 1, "with -net-delay: the seed of the links' delays")
)

var delayMark = regexp.MustCompile(`DELAYED [0-9.]+(ns|µs|ms|s) `)

// testNetDelay is the -net-delay flag's link delays (zero without it).
func testNetDelay(t *testing.T) sim.LinkDelays {
	t.Helper()
	if *netDelay == "" {
		return sim.LinkDelays{}
	}
	d, err := sim.ParseLinkDelays(*netDelay, *seed)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// run executes a scenario with a bounded context and returns the result
// and what it printed.
func run(t *testing.T, s *Scenario) (Result, string, error) {
	t.Helper()
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Execute(ctx, s, Options{OutDir: t.TempDir(), Log: &log, NetDelay: testNetDelay(t)})
	return res, log.String(), err
}

// checkGolden compares the run's normalised flow with
// testdata/golden/NAME.txt; -update rewrites it.
func checkGolden(t *testing.T, name string, res Result) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		if err := os.WriteFile(path, []byte(res.Golden), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./scenarios -update to create it)", err)
	}
	if string(want) != res.Golden {
		t.Errorf("the flow of %s differs from %s (go test ./scenarios -update to accept):\n%s", name, path, lineDiff(string(want), res.Golden))
	}
}

// lineDiff lists the lines only in want (-) or only in got (+), in order.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	// Longest common subsequence, small inputs.
	lcs := make([][]int, len(w)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(g)+1)
	}
	for i := len(w) - 1; i >= 0; i-- {
		for j := len(g) - 1; j >= 0; j-- {
			if w[i] == g[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			i, j = i+1, j+1
		case j < len(g) && (i == len(w) || lcs[i][j+1] >= lcs[i+1][j]):
			b.WriteString("+ " + g[j] + "\n")
			j++
		default:
			b.WriteString("- " + w[i] + "\n")
			i++
		}
	}
	return b.String()
}

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
	res, out, err := run(t, s)
	if err != nil {
		t.Fatalf("basic-call failed: %v\n%s", err, out)
	}
	// With -net-delay, delayed messages print "DELAYED 42ms " before their
	// summary: the flow is the same.
	out = delayMark.ReplaceAllString(out, "")
	for _, want := range []string{
		"7434      → pbx       RAS   GRQ 1001",
		"7434      → pbx       RAS   RRQ 1001 ttl 3600s",
		"pbx       → 7434      RAS   RCF ep 1001-1 ttl 3600s",
		"6867i     → pbx       SIP   REGISTER",
		"CSTA  EstablishedEvent 1001→1002",
		"recorder  → 7434      SIP   INVITE sip:1001@127.20.1.1:7300",
		"recorder  → 6867i     SIP   INVITE sip:1002@127.20.1.2:5070",
		"RTP stream 127.20.1.1:40000 → recorder tx started",
		"RTP stream 127.20.1.2:40000 → recorder rx started",
		"PASS  recorder → 7434 SIP INVITE port 7300 seen 1 time(s)",
		"PASS  recorder → 6867i SIP INVITE port 5070 seen 1 time(s)",
		"PASS  recording of 7434 (1001): left channel is 7434's own tone",
		"PASS  recording of 7434 (1001): right channel is the far end's tone",
		"PASS  recording of 7434 (1001): no packet lost",
		"PASS  recording of 7434 (1001): sidecar counts equal what the phone forked",
		"PASS  recording of 6867i (1002): left channel is 6867i's own tone",
		"PASS  recording of 6867i (1002): right channel is the far end's tone",
		"PASS  recording of 6867i (1002): no packet lost",
		"PASS  recording of 6867i (1002): sidecar counts equal what the phone forked",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the flow lacks %q", want)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a check failed:\n%s", out)
	}
	checkGolden(t, s.Name, res)
	checkOutputs(t, res)
	checkPcapWithTshark(t, res)
}

// TestLibrary runs every other library scenario: each passes and its flow
// matches its golden file.
func TestLibrary(t *testing.T) {
	lib, err := Library()
	if err != nil {
		t.Fatal(err)
	}
	if len(lib) < 4 {
		t.Fatalf("library has %d scenarios, want at least 4", len(lib))
	}
	byName := map[string]*Scenario{}
	var names []string
	for _, s := range lib {
		if s.Name == "basic-call" {
			continue // TestBasicCallRecordedEndToEnd
		}
		if s.Name == "srtp-call" || s.Name == "srtp-recorder-keys" {
			continue // TestSRTPRecordedBothWays
		}
		byName[s.Name] = s
		names = append(names, s.Name)
	}
	// Each story in a process of its own, eight at a time: a story spends
	// its time on its timers, so they overlap well even on 2 cores.
	labtest.Apart(t, names, 8, func(t *testing.T, name string) {
		s := byName[name]
		if s.Section == "" || s.Description == "" {
			t.Errorf("%s: no section or description for reclab list", s.Source)
		}
		res, out, err := run(t, s)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		checkGolden(t, s.Name, res)
	})
}

// checkOutputs: every export exists, the JSONL has one event a line and
// the diagram is a Mermaid sequence diagram.
func checkOutputs(t *testing.T, res Result) {
	t.Helper()
	jl, err := os.ReadFile(res.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := os.ReadFile(res.Trace)
	if err != nil {
		t.Fatal(err)
	}
	// trace.jsonl holds every event; trace.txt all but the typed state
	// events, whose notes it prints instead.
	var printed int
	states := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(jl), []byte("\n")) {
		var e struct {
			Kind      string          `json:"kind"`
			StateType string          `json:"state_type"`
			State     json.RawMessage `json:"state"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("trace.jsonl: %v in %s", err, line)
		}
		if e.Kind != "state" {
			printed++
			continue
		}
		states[e.StateType]++
		if e.StateType == "" || len(e.State) < 3 {
			t.Errorf("a state event without its value: %s", line)
		}
	}
	if b := bytes.Count(tx, []byte("\n")); printed != b || printed < 50 {
		t.Errorf("trace.jsonl has %d events that are not states, trace.txt %d lines", printed, b)
	}
	// Both parties recorded, each once: the recorder's typed event says so.
	if states["recorder.RecordingClosed"] != 2 || states["phones.RecordingState"] < 4 || states["phones.RegistrationState"] < 2 {
		t.Errorf("state events in trace.jsonl: %v", states)
	}
	flow, err := os.ReadFile(res.Flow)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"```mermaid\nsequenceDiagram\n", "n_recorder->>n_7434: SIP INVITE sip:1001@127.20.1.1:7300", "Note over n_7434,n_recorder: RTP 7434 → recorder tx started"} {
		if !bytes.Contains(flow, []byte(want)) {
			t.Errorf("flow.md lacks %q", want)
		}
	}
	rep, err := os.ReadFile(res.Report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# basic-call — PASS", "## Checks", "| PASS |", "## Recordings", "000000000000000000000001-1001.wav | 1001 | 7434 | 1001 → 1002"} {
		if !bytes.Contains(rep, []byte(want)) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	// Beside each recording's JSON, its RFC 7865 metadata, complete, with
	// the call's two parties at the PBX's domain.
	wavs, _ := filepath.Glob(filepath.Join(filepath.Dir(res.Trace), "recordings", "*.wav"))
	if len(wavs) != 2 {
		t.Fatalf("recordings: %v", wavs)
	}
	for _, w := range wavs {
		doc, err := os.ReadFile(strings.TrimSuffix(w, ".wav") + ".xml")
		if err != nil {
			t.Fatalf("no RFC 7865 metadata beside %s: %v", filepath.Base(w), err)
		}
		m, err := recorder.ParseRFC7865(doc)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(w), err)
		}
		aors := map[string]bool{}
		for _, p := range m.Participants {
			aors[p.NameID.AOR] = true
		}
		if m.DataMode != "complete" || len(m.Streams) != 2 || !aors["sip:1001@127.20.0.1"] || !aors["sip:1002@127.20.0.1"] {
			t.Errorf("%s's RFC 7865 metadata: %+v", filepath.Base(w), m)
		}
	}
}

// TestScenarioThatMustFail: checks that cannot hold fail with what was
// expected and what was seen, and a wait that cannot end stops the story
// with what it waited for.
func TestScenarioThatMustFail(t *testing.T) {
	s, err := Parse("must-fail.yaml", []byte(`
name: must-fail
steps:
  - expect: {from: recorder, to: "7434", proto: SIP, method: INVITE}
  - expect: {from: "6867i", to: pbx, proto: SIP, method: REGISTER, count: 3}
  - expect-phone: {phone: 6867i, registered: false}
  - expect-recording: {phone: "7434"}
  - wait: {from: "7434", to: pbx, proto: SIP, method: BYE, timeout: 200ms}
  - say: never reached
`))
	if err != nil {
		t.Fatal(err)
	}
	res, out, err := run(t, s)
	if err == nil {
		t.Fatalf("a scenario whose checks cannot hold passed:\n%s", out)
	}
	for _, want := range []string{
		"FAIL  recorder → 7434 SIP INVITE seen: want at least one, saw none",
		"FAIL  6867i → pbx SIP REGISTER seen 3 time(s): want exactly 3, saw 2; first:", // the challenged one and its answer
		"FAIL  phone 6867i: registered false: the phone is registered true",
		"FAIL  recording of 7434 (1001): no recording for extension 1001 among 0",
		"FAIL  step 5 (must-fail.yaml:8:5) wait: wanted 7434 → pbx SIP BYE within 200ms; saw nothing 7434 → pbx and no SIP message since the last action or the lab's start",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "never reached") {
		t.Error("the story went on after a failed wait")
	}
	if len(res.Failures) != 5 {
		t.Errorf("%d failures, want 5: %q", len(res.Failures), res.Failures)
	}
	rep, _ := os.ReadFile(res.Report)
	if !bytes.Contains(rep, []byte("# must-fail — FAIL")) || !bytes.Contains(rep, []byte("The story stopped")) {
		t.Errorf("report.md does not say the run failed:\n%s", rep)
	}
}

// TestNotImplementedRefusedBeforeTheLab: an action whose node method does
// not exist yet is refused by name, before any socket is bound.
func TestNotImplementedRefusedBeforeTheLab(t *testing.T) {
	// Every action exists today; pretend one does not.
	notImplemented["register-as"] = "phones.Phone cannot register another extension yet"
	defer delete(notImplemented, "register-as")
	s, err := Parse("later.yaml", []byte("steps:\n  - register-as: {phone: \"7434\", ext: \"1002\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = Execute(context.Background(), s, Options{OutDir: dir})
	if err == nil || !strings.Contains(err.Error(), "later.yaml:2:5: not implemented yet: register-as") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lab.pcapng")); err == nil {
		t.Error("a lab was built for a scenario that cannot run")
	}
}

// checkPcapWithTshark decodes the run's pcap: SIP with SDP, RTP, CSTA bytes
// on 8882, and nothing malformed.
func checkPcapWithTshark(t *testing.T, res Result) {
	t.Helper()
	pcap := res.Pcap
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
	// The 7434 registers over H.225.0 RAS (issue 15): discovery and
	// registration decoded as such, nothing of it malformed.
	for filter, want := range map[string]int{"h225.gatekeeperRequest_element": 1, "h225.gatekeeperConfirm_element": 1,
		"h225.registrationRequest_element && h225.timeToLive == 3600": 1, "h225.registrationConfirm_element && h225.endpointIdentifier == \"1001-1\"": 1} {
		if n := count(filter); n < want {
			t.Errorf("pcap: %d frames match %s, want at least %d", n, filter, want)
		}
	}
	if n := count("h225 && (_ws.malformed || _ws.expert.severity >= 0x00400000)"); n != 0 {
		t.Errorf("pcap: %d RAS frames malformed or with expert notes", n)
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
	// One interface per node, named after it: each packet where it left
	// its sender, so an interface holds the packets of one address.
	out, err := exec.Command("tshark", "-r", pcap, "-T", "fields", "-e", "frame.interface_name", "-e", "ip.src").Output()
	if err != nil {
		t.Fatalf("tshark interfaces: %v", err)
	}
	srcs := map[string]map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, src, _ := strings.Cut(line, "\t")
		if srcs[name] == nil {
			srcs[name] = map[string]bool{}
		}
		srcs[name][src] = true
	}
	for name, want := range map[string]string{"pbx": "127.20.0.1", "recorder": "127.20.0.2", "7434": "127.20.1.1", "6867i": "127.20.1.2"} {
		if len(srcs[name]) != 1 || !srcs[name][want] {
			t.Errorf("pcap: interface %s holds packets from %v, want only %s", name, srcs[name], want)
		}
	}
	// The fifth interface holds the notes and errors, no IP packet.
	if len(srcs) != 5 || len(srcs["notes"]) != 1 || !srcs["notes"][""] {
		t.Errorf("pcap: packets on interfaces %v, want the 4 nodes' and notes", srcs)
	}
	// Every note and error of the trace is a syslog frame with its text
	// as comment (issue 17).
	jl, err := os.ReadFile(res.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	notes := bytes.Count(jl, []byte(`"kind":"note"`)) + bytes.Count(jl, []byte(`"kind":"error"`))
	if n := count(`syslog && frame.comment && frame.interface_name == "notes"`); n != notes || n < 10 {
		t.Errorf("pcap: %d notes as syslog frames with a comment, the trace has %d", n, notes)
	}
	// The CSTA stream reassembles into whole ECMA-323 documents.
	out, err = exec.Command("tshark", "-r", pcap, "-q", "-z", "follow,tcp,ascii,0").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "<EstablishedEvent xmlns=\"http://www.ecma-international.org/standards/ecma-323/csta/ed4\"") {
		t.Errorf("pcap: the CSTA stream does not reassemble to an EstablishedEvent document")
	}
	checkCSTADissector(t, pcap)
}

// checkCSTADissector: with tools/wireshark/csta.lua, tshark decodes every
// CSTA message of the run by name and invokeID, the XML inside through its
// own dissector, with no malformed frame or warning (issue 17: CSTA was
// plain data, and decode-as XML warned on every frame).
func checkCSTADissector(t *testing.T, pcap string) {
	t.Helper()
	lua := "lua_script:" + filepath.Join("..", "tools", "wireshark", "csta.lua")
	out, err := exec.Command("tshark", "-r", pcap, "-X", lua, "-Y", "reclab_csta", "-T", "fields",
		"-e", "reclab_csta.message", "-e", "reclab_csta.invokeid", "-e", "xml").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark with the CSTA dissector: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"MonitorStart\t0001", "MonitorStartResponse\t0001", "BackInServiceEvent\t9999",
		"EstablishedEvent\t9999\txml", "ConnectionClearedEvent\t9999\txml"} {
		if !strings.Contains(text, want) {
			t.Errorf("the CSTA dissector's messages lack %q:\n%s", want, text)
		}
	}
	bad, err := exec.Command("tshark", "-r", pcap, "-X", lua, "-Y", "reclab_csta && (_ws.malformed || _ws.expert.severity >= 0x00600000)",
		"-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(string(bad))); n != 0 {
		t.Errorf("%d CSTA frames malformed or with a warning under the dissector", n)
	}
}
