package main

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// splitLab is a lab file for two processes: PBX and phones in one, the
// recorder in the other. ADDR is replaced by the first three bytes of the
// addresses (a loopback block, or a namespace's veth addresses).
const splitLab = `name: split
lab:
  pbx: {address: PBX.1}
  recorder: {address: REC.2}
  phones:
    - {name: "7434", ext: "1001", model: "7434", password: s3cret1, address: PBX.11}
    - {name: 6867i, ext: "1002", model: 6867i, password: s3cret2, address: PBX.12, config: {sip local port: 5070}}
`

// writeLab writes lab with its PBX. and REC. prefixes made net (e.g.
// "127.31.0.") and returns the file.
func writeLab(t *testing.T, lab, net string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(file, []byte(strings.NewReplacer("PBX.", net, "REC.", net).Replace(lab)), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// served is a `reclab serve` process (the test binary as main): its
// stdin, its --json events as they come, its --out directory.
type served struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan servedEvent
	out    string
	stderr *bytes.Buffer
}

type servedEvent struct {
	Kind      string          `json:"kind"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Summary   string          `json:"summary"`
	StateType string          `json:"state_type"`
	State     json.RawMessage `json:"state"`
}

// startServe runs `reclab serve file --json --out DIR args...` (its events
// buffered for a farm's thousands while the test waits on another), with
// prefix before it (e.g. `ip netns exec NS`).
func startServe(t *testing.T, name string, prefix []string, file string, args ...string) *served {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	argv := append(append(append([]string{}, prefix...), os.Args[0], "serve", file, "--json", "--out", out), args...)
	s := &served{t: t, name: name, out: out, events: make(chan servedEvent, 1<<16), stderr: &bytes.Buffer{}}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Env = append(os.Environ(), "RECLAB_AS_MAIN=1")
	s.cmd.Stderr = s.stderr
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e servedEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				s.events <- e
			}
		}
	}()
	return s
}

// ready waits for the process's ServeState.
func (s *served) ready() {
	s.t.Helper()
	s.wait("ready", func(e servedEvent) bool { return e.StateType == "main.ServeState" })
}

// wait reads events until one satisfies ok; the process ending first, or
// a minute passing, fails the test.
func (s *served) wait(what string, ok func(servedEvent) bool) servedEvent {
	s.t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case e, open := <-s.events:
			if !open {
				s.cmd.Wait()
				s.t.Fatalf("%s: ended before %s: %v\n%s", s.name, what, s.cmd.ProcessState, s.stderr)
			}
			if ok(e) {
				return e
			}
		case <-deadline:
			s.t.Fatalf("%s: no %s within a minute\n%s", s.name, what, s.stderr)
		}
	}
}

func (s *served) state(typ string, ok func(map[string]any) bool) func(servedEvent) bool {
	return func(e servedEvent) bool {
		if e.StateType != typ {
			return false
		}
		var m map[string]any
		json.Unmarshal(e.State, &m)
		return ok(m)
	}
}

func (s *served) send(line string) {
	s.t.Helper()
	if _, err := fmt.Fprintln(s.stdin, line); err != nil {
		s.t.Fatalf("%s: %v", s.name, err)
	}
}

// stop sends SIGTERM and waits for a clean exit (status 0, no signal).
func (s *served) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	for range s.events { // drain to the end
	}
	err := s.cmd.Wait()
	if err != nil {
		s.t.Fatalf("%s: after SIGTERM: %v\n%s", s.name, err, s.stderr)
	}
}

// recordedCall has phones process ph call 1001 → 1002 while recorder
// process rec records it: both parties' recordings closed in rec, each
// with its own tone on the left and the other's on the right, 0 lost.
func recordedCall(t *testing.T, ph, rec *served) {
	t.Helper()
	ph.send("dial 7434 1002")
	ph.wait("6867i ringing", ph.state("phones.CallChanged", func(m map[string]any) bool { return m["phone"] == "6867i" && m["state"] == float64(phones.CallRinging) }))
	ph.send("answer 6867i")
	talkRecorded(t, rec, "1001", "1002", func() { ph.send("hang-up 7434") })
	for _, who := range []struct{ ext, own, far string }{{"1001", "7434", "6867i"}, {"1002", "6867i", "7434"}} {
		checkFinished(t, rec.out, who.ext, media.ToneFrequency(map[string]int{"7434": 0, "6867i": 1}[who.own]),
			media.ToneFrequency(map[string]int{"7434": 0, "6867i": 1}[who.far]))
	}
	checkLost(t, rec.out)
}

// talkRecorded waits until rec records both parties a and b of a call,
// lets them talk a second (the WAVs grow as they are written: their
// headers are kept true, issue 11 item 5), hangs up and waits until both
// recordings are closed.
func talkRecorded(t *testing.T, rec *served, a, b string, hangUp func()) {
	t.Helper()
	started := map[string]bool{}
	rec.wait("recordings of "+a+" and "+b, rec.state("recorder.RecordingStarted", func(m map[string]any) bool {
		started[fmt.Sprint(m["ext"])] = true
		return started[a] && started[b]
	}))
	waitFiles(t, filepath.Join(rec.out, "recordings"), 2, media.SampleRate*4)
	hangUp()
	closed := 0
	rec.wait("both recordings closed", func(e servedEvent) bool {
		if e.StateType == "recorder.RecordingClosed" {
			closed++
		}
		return closed == 2
	})
}

// waitFiles waits until dir holds n WAVs with at least bytes of audio
// each, in the file and declared by its header.
func waitFiles(t *testing.T, dir string, n, bytes int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		wavs, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
		full := 0
		for _, w := range wavs {
			// The audio on disk: what the header declares, and the file
			// holds (a header not yet synced says "unknown", 0xFFFFFFFF).
			if b, err := os.ReadFile(w); err == nil && len(b) >= 44 && min(int(binary.LittleEndian.Uint32(b[40:])), len(b)-44) >= bytes {
				full++
			}
		}
		if full >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d recordings reached %d bytes within a minute", dir, full, n, bytes)
		}
	}
}

// checkLost: every recording's JSON says 0 packets lost, and some received.
func checkLost(t *testing.T, out string) {
	t.Helper()
	js, _ := filepath.Glob(filepath.Join(out, "recordings", "*.json"))
	if len(js) == 0 {
		t.Fatalf("%s: no recording JSON", out)
	}
	for _, f := range js {
		b, _ := os.ReadFile(f)
		type stats struct{ Received, Lost int }
		var meta struct{ TX, RX stats }
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, s := range []stats{meta.TX, meta.RX} {
			if s.Lost != 0 || s.Received == 0 {
				t.Errorf("%s: a stream received %d, lost %d", filepath.Base(f), s.Received, s.Lost)
			}
		}
	}
}

// Two `reclab serve` processes, PBX and phones in one and the recorder in
// the other, record one call end to end over loopback.
func TestServeTwoProcessesRecordACall(t *testing.T) {
	file := writeLab(t, splitLab, "127.31.0.")
	rec := startServe(t, "recorder", nil, file, "--nodes", "recorder")
	ph := startServe(t, "pbx+phones", nil, file, "--nodes", "pbx,phones")
	ph.ready()
	rec.ready() // its CSTA link is up and monitoring
	recordedCall(t, ph, rec)
	ph.stop()
	rec.stop()
	checkWholePcap(t, filepath.Join(rec.out, "lab.pcapng"))
}

// Phones in one process register, with the lab file's digest credentials,
// with a PBX in another (which runs the recorder too), and a call of theirs
// is recorded.
func TestServePhonesRegisterWithAnotherProcess(t *testing.T) {
	file := writeLab(t, splitLab, "127.32.0.")
	core := startServe(t, "pbx+recorder", nil, file, "--nodes", "pbx,recorder")
	ph := startServe(t, "phones", nil, file, "--nodes", "phones")
	core.ready()
	ph.ready()
	recordedCall(t, ph, core)
	ph.stop()
	core.stop()
}

// --net moves what a lab file leaves to the default plan (issue 19: a
// served lab beside another): two serves of the same address-less file,
// one on 127.20 and one with --net 127.21, both come up in one namespace,
// each with only its own /16's addresses on the wire.
func TestServeNetBesideAnother(t *testing.T) {
	file := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(file, []byte("lab:\n  phones:\n    - {name: \"7434\", ext: \"1001\", model: \"7434\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startServe(t, "on-127.20", nil, file)
	a.ready()
	b := startServe(t, "on-127.21", nil, file, "--net", "127.21")
	var saw int
	b.wait("ready", func(e servedEvent) bool {
		if strings.Contains(e.Summary, "127.20.") {
			t.Errorf("the --net 127.21 lab shows a 127.20 address: %s", e.Summary)
		}
		if e.From == "pbx" && strings.Contains(e.Summary, "127.21.0.1") {
			saw++
		}
		return e.StateType == "main.ServeState"
	})
	if saw == 0 {
		t.Error("the --net 127.21 lab's PBX never said its 127.21.0.1 address")
	}
	b.stop()
	a.stop()
}

// tlsLab is splitLab with CSTA over TLS: the PBX's certificate from files,
// the recorder trusting the CA that issued it (each process makes a lab
// CA of its own, so the two processes share this one through files).
const tlsLab = `name: split-tls
lab:
  pbx: {address: PBX.1, csta-tls-port: 8883, tls-cert: pbx.pem, tls-key: pbx-key.pem}
  recorder: {address: REC.2, csta-tls: true, csta-ca: ca.pem}
  phones:
    - {name: "7434", ext: "1001", model: "7434", password: s3cret1, address: PBX.11}
    - {name: 6867i, ext: "1002", model: 6867i, password: s3cret2, address: PBX.12, config: {sip local port: 5070}}
`

// writeCerts writes a CA (ca.pem) and a certificate it issued for ip
// (pbx.pem, pbx-key.pem) beside file.
func writeCerts(t *testing.T, file string, ip netip.Addr) {
	t.Helper()
	ca, err := sim.NewLabCA("test CA", time.Now(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("pbx", ip)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(file)
	for name, b := range map[string][]byte{
		"ca.pem":      ca.PEM(),
		"pbx.pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		"pbx-key.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// The recorder's CSTA link runs over TLS to the PBX's 8883 across two
// processes (design.md "Address plan"), and a call is recorded through it.
// What crossed the wire is TLS: the recorder's trace names TLS records on
// the link and no CSTA message in the clear, and the pcap holds them.
func TestServeCSTAOverTLS(t *testing.T) {
	file := writeLab(t, tlsLab, "127.33.0.")
	writeCerts(t, file, netip.MustParseAddr("127.33.0.1"))
	rec := startServe(t, "recorder", nil, file, "--nodes", "recorder")
	ph := startServe(t, "pbx+phones", nil, file, "--nodes", "pbx,phones")
	ph.ready()
	var handshake, data int
	rec.wait("ready", func(e servedEvent) bool {
		if e.Kind == "CSTA" || strings.HasPrefix(e.Summary, "TLS ") {
			switch {
			case strings.HasPrefix(e.Summary, "TLS handshake"):
				handshake++
			case strings.HasPrefix(e.Summary, "TLS application data (CSTA"):
				data++
			case strings.Contains(e.Summary, "Monitor") || strings.Contains(e.Summary, "SystemStatus"):
				t.Errorf("CSTA in the clear on a TLS link: %s → %s %s", e.From, e.To, e.Summary)
			}
		}
		return e.StateType == "main.ServeState"
	})
	t.Logf("recorder trace: %d TLS handshake, %d TLS application data records on the CSTA link", handshake, data)
	if handshake == 0 || data == 0 {
		t.Errorf("the recorder's trace shows %d TLS handshake and %d application data records on its CSTA link", handshake, data)
	}
	recordedCall(t, ph, rec)
	ph.stop()
	rec.stop()
	checkWholePcap(t, filepath.Join(rec.out, "lab.pcapng"))
}
