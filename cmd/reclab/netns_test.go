package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/reclab/reclab/phones"
)

// Multi-process across network namespaces (issue 13 item 3): each test
// makes two namespaces of its own joined by a veth pair, with addresses
// from 198.18.0.0/15 (the benchmarking range; nothing leaves them), and
// deletes them at the end whatever happens.

var nsCount atomic.Int32

// nsPair is two network namespaces, A and B, joined by a veth pair, and
// the /24 of 198.18 whose addresses their ends hold.
type nsPair struct {
	a, b string
	net  string // "198.18.N."
}

// makeNamespaces makes the pair; aHosts and bHosts are the host bytes each
// end holds (198.18.N.host/24). Namespace and interface names carry the
// process id, so runs beside each other never meet.
func makeNamespaces(t *testing.T, aHosts, bHosts []int) nsPair {
	t.Helper()
	n := nsCount.Add(1)
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, n)
	p := nsPair{a: "rl13-" + id + "-a", b: "rl13-" + id + "-b", net: fmt.Sprintf("198.18.%d.", 100+(os.Getpid()+int(n))%150)}
	va, vb := "rl"+id+"a", "rl"+id+"b"
	t.Cleanup(func() {
		for _, ns := range []string{p.a, p.b} {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		}
	})
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", p.a)
	run("netns", "add", p.b)
	run("link", "add", va, "netns", p.a, "type", "veth", "peer", "name", vb, "netns", p.b)
	for _, side := range []struct {
		ns, dev string
		hosts   []int
	}{{p.a, va, aHosts}, {p.b, vb, bHosts}} {
		for _, h := range side.hosts {
			run("-n", side.ns, "addr", "add", fmt.Sprintf("%s%d/24", p.net, h), "dev", side.dev)
		}
		run("-n", side.ns, "link", "set", "lo", "up")
		run("-n", side.ns, "link", "set", side.dev, "up")
	}
	return p
}

func (p nsPair) exec(ns string) []string { return []string{"ip", "netns", "exec", ns} }

func (p nsPair) labFile(t *testing.T, lab string) string { return writeLab(t, lab, p.net) }

// PBX and phones in one namespace, the recorder in another, as two
// `reclab serve` processes over real IP: one call recorded end to end,
// each party's tones in its file, 0 lost.
func TestServeAcrossNamespaces(t *testing.T) {
	ns := makeNamespaces(t, []int{1, 11, 12}, []int{2})
	file := ns.labFile(t, splitLab)
	rec := startServe(t, "recorder", ns.exec(ns.b), file, "--nodes", "recorder")
	ph := startServe(t, "pbx+phones", ns.exec(ns.a), file, "--nodes", "pbx,phones")
	ph.ready()
	rec.ready()
	recordedCall(t, ph, rec)
	ph.stop()
	rec.stop()
	checkWholePcap(t, filepath.Join(rec.out, "lab.pcapng"))
}

// externalRecorderLab: the PBX and phones served here, the recorder a real
// one elsewhere (SIPp) that the phones allow.
const externalRecorderLab = `lab:
  pbx: {address: PBX.1}
  recorder: {external: REC.2}
  phones:
    - {name: "7434", ext: "1001", model: "7434", password: s3cret1, address: PBX.11}
    - {name: 6867i, ext: "1002", model: 6867i, password: s3cret2, address: PBX.12, config: {sip local port: 5070}}
`

// SIPp, a SIP tool nobody here wrote, as the external recorder in another
// namespace against a 743x (fixed port 7300) and a 6800 (its SIP port) on
// a call: each answers its INVITE with a=sendonly, its UPDATE and BYE, and
// forks both directions of the call to SIPp's two ports until the BYE.
func TestSIPpRecordsPhonesAcrossNamespaces(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatalf("sipp (Debian sip-tester, installed by .ci/run): %v", err)
	}
	ns := makeNamespaces(t, []int{1, 11, 12}, []int{2})
	ph := startServe(t, "pbx+phones", ns.exec(ns.a), ns.labFile(t, externalRecorderLab), "--nodes", "pbx,phones")
	ph.ready()
	ph.send("dial 7434 1002")
	ph.wait("6867i ringing", ph.state("phones.CallChanged", func(m map[string]any) bool {
		return m["phone"] == "6867i" && m["state"] == float64(phones.CallRinging)
	}))
	ph.send("answer 6867i")
	ph.wait("7434 talking", ph.state("phones.CallChanged", func(m map[string]any) bool {
		return m["phone"] == "7434" && m["state"] == float64(phones.CallTalking)
	}))
	scenario, err := filepath.Abs(filepath.Join("testdata", "sipp-recorder.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for i, target := range []struct{ ext, addr string }{{"1001", ns.net + "11:7300"}, {"1002", ns.net + "12:5070"}} {
		mp := fmt.Sprint(6000 + 10*i)
		args := append(ns.exec(ns.b), "sipp", "-sf", scenario, "-i", ns.net+"2", "-p", fmt.Sprint(5060+i), "-mp", mp,
			"-s", target.ext, "-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin", "-trace_err",
			"-error_file", filepath.Join(t.TempDir(), "sipp-errors.log"), target.addr)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = t.TempDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			errs, _ := os.ReadFile(args[len(args)-2])
			t.Fatalf("sipp against %s (%s): %v\n%s\n%s", target.ext, target.addr, err, tail(out), errs)
		}
	}
	ph.send("hang-up 7434")
	ph.stop()
	// Both phones forked both directions to SIPp: four streams, each from
	// the phone's call socket to SIPp's tx or rx port, with packets.
	streams := readStreams(t, filepath.Join(ph.out, "trace.jsonl"), ns.net+"2")
	want := map[string]bool{ns.net + "11:40000 → " + ns.net + "2:6000": true, ns.net + "11:40000 → " + ns.net + "2:6002": true,
		ns.net + "12:40000 → " + ns.net + "2:6010": true, ns.net + "12:40000 → " + ns.net + "2:6012": true}
	for k, n := range streams {
		if !want[k] || n == 0 {
			t.Errorf("forked stream %s: %d packets", k, n)
		}
		delete(want, k)
	}
	for k := range want {
		t.Errorf("no forked stream %s; streams to SIPp: %v", k, streams)
	}
}

// readStreams sums, per stream (src → dst), the packets of the RTP
// streams a served lab sent to addr.
func readStreams(t *testing.T, jsonl, addr string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct {
			Kind, Src, Dst string
			Packets        int
		}
		if json.Unmarshal([]byte(line), &e) != nil || !strings.HasPrefix(e.Dst, addr+":") {
			continue
		}
		switch e.Kind {
		case "stream-start":
			out[e.Src+" → "+e.Dst] += 0
		case "stream-stop":
			out[e.Src+" → "+e.Dst] += e.Packets
		}
	}
	return out
}

func tail(b []byte) string {
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
