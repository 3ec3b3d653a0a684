package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reclab/reclab/sim/media"
)

// longCall is a call that talks for two minutes: long enough that only a
// signal ends it.
const longCall = `name: long-call
description: a call that talks until the run is stopped
lab:
  phones:
    - {name: "7434", ext: "1001", model: "7434"}
    - {name: 6867i, ext: "1002", model: 6867i, config: {sip local port: 5070}}
steps:
  - dial: {phone: "7434", to: 6867i}
  - wait: {from: pbx, to: "7434", proto: SIP, response: 180}
  - answer: 6867i
  - wait: {to: recorder, proto: RTP, count: 4, timeout: 15s}
  - wait: 1s
  - say: both parties have talked for a second
  - wait: 2m
`

// SIGTERM and SIGHUP stop a headless run as Ctrl-C does (issue 11 item 5):
// every recording finished, its WAV header true to its data, its JSON
// written, each channel carrying its phone's tone.
func TestRunFinishesRecordingsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, sc, out := startTalkingRun(t, longCall)
			defer cmd.Process.Kill()
			go func() {
				for sc.Scan() { // keep the pipe drained
				}
			}()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatalf("the run did not stop within a minute of %s", sig)
			}
			if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
				t.Fatalf("the run died of %s instead of finishing", ws.Signal())
			}
			for _, who := range []struct{ ext, own, far string }{{"1001", "7434", "6867i"}, {"1002", "6867i", "7434"}} {
				checkFinished(t, out, who.ext, media.ToneFrequency(map[string]int{"7434": 0, "6867i": 1}[who.own]),
					media.ToneFrequency(map[string]int{"7434": 0, "6867i": 1}[who.far]))
			}
		})
	}
}

// checkFinished: ext's one recording has its JSON, a WAV whose header
// declares exactly the data that is there, and the right tones.
func checkFinished(t *testing.T, out, ext string, own, far float64) {
	t.Helper()
	wavs, _ := filepath.Glob(filepath.Join(out, "recordings", "*-"+ext+".wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings of %s: %v", ext, wavs)
	}
	b, err := os.ReadFile(wavs[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[36:40]) != "data" {
		t.Fatalf("%s: no plain WAV header", wavs[0])
	}
	if riff, data := binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[40:]); int(riff) != len(b)-8 || int(data) != len(b)-44 {
		t.Fatalf("%s: header says RIFF %d and data %d for a file of %d bytes", wavs[0], riff, data, len(b))
	}
	f, _ := os.Open(wavs[0])
	left, right, rate, err := media.ReadWAV(f)
	f.Close()
	if err != nil || len(left) < rate/2 {
		t.Fatalf("%s: %d samples at %d Hz: %v", wavs[0], len(left), rate, err)
	}
	for _, ch := range []struct {
		name    string
		samples []int16
		want    float64
	}{{"left", left, own}, {"right", right, far}} {
		if got, _ := media.DominantTone(ch.samples, rate, []float64{own, far}); got != ch.want {
			t.Errorf("%s %s channel: %g Hz, want %g", ext, ch.name, got, ch.want)
		}
	}
	js, err := os.ReadFile(strings.TrimSuffix(wavs[0], ".wav") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(js, &meta); err != nil || meta.Reason == "" {
		t.Fatalf("%s: %v %s", ext, err, js)
	}
}

// Against SIGKILL nothing can be finished, so files are kept true as they
// are written (issue 11 item 5): each WAV's header declares at most the
// data the file holds and lags it by at most about a second (two allowed,
// for a loaded machine), each recording has its JSON with reason
// "unfinished", and the pcap ends at a whole record.
func TestKilledRunLeavesTrueFiles(t *testing.T) {
	cmd, sc, out := startTalkingRun(t, strings.Replace(longCall, "wait: 1s", "wait: 3s", 1))
	defer cmd.Process.Kill()
	go func() {
		for sc.Scan() { // keep the pipe drained
		}
	}()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	wavs, _ := filepath.Glob(filepath.Join(out, "recordings", "*.wav"))
	if len(wavs) != 2 {
		t.Fatalf("recordings after the kill: %v", wavs)
	}
	const second = media.SampleRate * 4 // stereo 16-bit
	for _, w := range wavs {
		b, err := os.ReadFile(w)
		if err != nil {
			t.Fatal(err)
		}
		declared, held := int(binary.LittleEndian.Uint32(b[40:])), len(b)-44
		if declared > held || held-declared > 2*second || declared < second {
			t.Errorf("%s: header declares %d bytes of data, the file holds %d", filepath.Base(w), declared, held)
		}
		js, err := os.ReadFile(strings.TrimSuffix(w, ".wav") + ".json")
		if err != nil {
			t.Fatalf("no JSON for %s after the kill: %v", filepath.Base(w), err)
		}
		var meta struct {
			Reason    string `json:"reason"`
			Extension string `json:"extension"`
		}
		if err := json.Unmarshal(js, &meta); err != nil || meta.Reason != "unfinished" || meta.Extension == "" {
			t.Errorf("%s's JSON: %v %s", filepath.Base(w), err, js)
		}
	}
	checkWholePcap(t, filepath.Join(out, "lab.pcapng"))
}

// checkWholePcap walks a pcapng file's blocks: each one whole (its leading
// and trailing lengths agree), the file ending at a block's end, with
// packets in it.
func checkWholePcap(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const shb, epb = 0x0A0D0D0A, 6
	if len(b) < 28 || binary.LittleEndian.Uint32(b) != shb {
		t.Fatalf("%s: %d bytes, no pcapng section header", path, len(b))
	}
	p, packets := 0, 0
	for p < len(b) {
		if len(b)-p < 12 {
			t.Fatalf("%s: %d bytes of a block header at the end", path, len(b)-p)
		}
		kind, n := binary.LittleEndian.Uint32(b[p:]), int(binary.LittleEndian.Uint32(b[p+4:]))
		if n < 12 || n%4 != 0 {
			t.Fatalf("%s: block at %d has length %d", path, p, n)
		}
		if len(b)-p < n {
			t.Fatalf("%s: the last block is cut: %d of %d bytes", path, len(b)-p, n)
		}
		if trail := int(binary.LittleEndian.Uint32(b[p+n-4:])); trail != n {
			t.Fatalf("%s: block at %d says %d bytes at its head, %d at its end", path, p, n, trail)
		}
		if kind == epb {
			packets++
		}
		p += n
	}
	if packets == 0 {
		t.Fatalf("%s: no packet", path)
	}
}

// startTalkingRun runs reclab (the test binary as main, TestMain) on story
// and returns once its narration says both parties have talked: the
// process, its output from there on, and its --out directory.
func startTalkingRun(t *testing.T, story string) (*exec.Cmd, *bufio.Scanner, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "long.yaml")
	if err := os.WriteFile(file, []byte(story), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(os.Args[0], "run", file, "--out", out)
	cmd.Env = append(os.Environ(), "RECLAB_AS_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "both parties have talked for a second") {
			return cmd, sc, out
		}
	}
	cmd.Process.Kill()
	t.Fatalf("the run ended before the call talked (%v)", sc.Err())
	return nil, nil, ""
}
