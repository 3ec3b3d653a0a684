package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchSmallLab runs the whole bench on four phones: two calls, every
// party recorded, in both mappings. It checks what happened, never how fast.
// (Error events are not checked: a CSTA event the PBX sends while the lab
// closes may meet the recorder's closed link, and says so.)
func TestBenchSmallLab(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a lab")
	}
	for _, mapping := range []string{"dynamic", "static"} {
		t.Run(mapping, func(t *testing.T) {
			var out, errs bytes.Buffer
			code := run([]string{"bench", "--phones", "4", "--calls", "2", "--duration", "300ms",
				"--mapping", mapping, "--net", "127.23", "--out", t.TempDir()}, &out, &errs)
			if code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
			}
			for _, want := range []string{
				"4 phones in",
				"4 of 4 recording sessions",
				"2 of 2 talking",
				"4 of 4 answered",
				"0 events the bench's reader missed",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestBenchRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--phones", "1"}, "--phones 1: want at least 2"},
		{[]string{"--phones", "10", "--calls", "6"}, "--calls 6: want 0 … 5"},
		{[]string{"--monitored", "2"}, "--monitored 2: want a fraction"},
		{[]string{"--duration", "0s"}, "--duration 0s"},
		{[]string{"--mapping", "sometimes"}, `--mapping "sometimes": want dynamic or static`},
		{[]string{"--net", "10.1"}, `--net "10.1": want 127.N`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--vs-sipp", "--sipp-rate", "0"}, "--sipp-rate 0: want at least 1"},
		{[]string{"--vs-sipp", "--sipp-calls", "-1"}, "--sipp-calls -1: want at least 1"},
	} {
		var out, errs bytes.Buffer
		if code := run(append([]string{"bench"}, c.args...), &out, &errs); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", c.args, code, exitUsage)
		}
		if !strings.Contains(errs.String(), c.want) {
			t.Errorf("%v: stderr %q, want %q", c.args, errs.String(), c.want)
		}
	}
	var out, errs bytes.Buffer
	if code := run([]string{"bench", "--help"}, &out, &errs); code != exitOK || !strings.Contains(errs.String(), "--baseline") {
		t.Errorf("--help: exit %d, %q", code, errs.String())
	}
}

// TestBenchSetup runs bench --setup --vs-sipp on 20 phones and reads its
// figures back: every session set up and torn down, rates and percentiles
// that parse, SIPp's run (or the line saying sipp is missing) and the
// ratio. It checks the output's shape and counts, never a speed.
func TestBenchSetup(t *testing.T) {
	var out, errs bytes.Buffer
	code := run([]string{"bench", "--setup", "--vs-sipp", "--sipp-calls", "200", "--sipp-rate", "1000",
		"--phones", "20", "--calls", "10", "--net", "127.37", "--out", t.TempDir()}, &out, &errs)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
	text := out.String()
	find := func(re string) []string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("output lacks %s:\n%s", re, text)
		}
		return m[1:]
	}
	number := func(s string) float64 {
		t.Helper()
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return f
	}
	duration := func(s string) time.Duration {
		t.Helper()
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return d
	}
	m := find(`session set-up +(\d+) sessions in (\S+): (\d+)/s; INVITE→200 p50 (\S+) p99 (\S+); INVITE→ACK p50 (\S+) p99 (\S+)\n`)
	if m[0] != "20" || number(m[2]) <= 0 {
		t.Errorf("set-up: %d sessions at %s/s, want 20 at a rate", int(number(m[0])), m[2])
	}
	duration(m[1])
	if p50, p99 := duration(m[5]), duration(m[6]); p50 > p99 || p50 <= 0 {
		t.Errorf("INVITE→ACK p50 %s p99 %s", p50, p99)
	}
	m = find(`session BYE +(\d+) of (\d+) answered; BYE→200 p50 (\S+) p99 (\S+)\n`)
	if m[0] != "20" || m[1] != "20" {
		t.Errorf("BYE: %s of %s answered, want 20 of 20", m[0], m[1])
	}
	duration(m[2])
	duration(m[3])
	m = find(`session tear-down +(\d+) sessions in (\S+): (\d+)/s`)
	if m[0] != "20" {
		t.Errorf("tear-down: %s sessions, want 20", m[0])
	}
	find(`RTP +(none) \(--setup`)
	find(`file creation +(\d+ µs of CPU per file created in \S+ \(500 files, one goroutine\); a recording session creates 5|not measured in \S+: 500 files)`)
	if strings.Contains(text, "packets/s") {
		t.Errorf("--setup printed RTP rates:\n%s", text)
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		find(`SIPp +not run: (sipp is not on PATH)`)
		return
	}
	m = find(`SIPp uac → uas +(\d+) of (\d+) calls in (\S+) at -r 1000: (\d+) calls/s, (\d+) failed`)
	if m[1] != "200" || number(m[0])+number(m[4]) != 200 || number(m[3]) <= 0 {
		t.Errorf("SIPp: %s ok and %s failed of %s calls at %s/s", m[0], m[4], m[1], m[3])
	}
	duration(m[2])
	if r := number(find(`set-up / SIPp +([0-9.]+) `)[0]); r <= 0 {
		t.Errorf("set-up / SIPp %g", r)
	}
}

// TestBaselineBothShapes runs the naive baseline and the batched probe on
// seven streams for a short while: the probe sends from a socket per three
// streams (the last socket one), packets arrive, and a stream gets no
// more than its 50 a second. It checks counts, never a speed.
func TestBaselineBothShapes(t *testing.T) {
	const streams, d = 7, 400 * time.Millisecond
	for _, batched := range []bool{false, true} {
		b, err := runBaseline(t.Context(), streams, d, batched)
		if err != nil {
			t.Fatal(err)
		}
		wantSenders := streams
		if batched {
			wantSenders = 3
		}
		if b.senders != wantSenders || b.streams != streams {
			t.Errorf("batched %v: %d streams from %d sockets, want %d from %d", batched, b.streams, b.senders, streams, wantSenders)
		}
		// Paced from the start: at most the periods due by the window's
		// end (a second of warm-up plus d, and one period of slack).
		if most := uint64(streams * (int((time.Second+b.window)/(20*time.Millisecond)) + 2)); b.sent == 0 || b.sent > most {
			t.Errorf("batched %v: %d packets sent in the window, want 1..%d", batched, b.sent, most)
		}
		// Not lost == 0: under load a reader may not have drained its
		// socket in the 100 ms the run gives it.
		if b.received == 0 {
			t.Errorf("batched %v: nothing received", batched)
		}
	}
}

// TestLoopbackFloor moves whole batches through one socket pair and
// prints the floor and what a lab load needs on it: counts and wording,
// never a speed.
func TestLoopbackFloor(t *testing.T) {
	f, err := runFloor(t.Context(), 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// The CPU may read 0 on a loaded machine (sampled thread time): only
	// its sign is checked.
	if f.datagrams == 0 || f.datagrams%floorBatch != 0 || f.cpu < 0 {
		t.Fatalf("floor moved %d datagrams for %v of CPU, want whole batches of %d", f.datagrams, f.cpu, floorBatch)
	}
	var out strings.Builder
	f.print(&out, &benchResult{streams: 3000, sent: 1000, forked: 2000, window: time.Second, cpuPerSecond: 0.5})
	for _, want := range []string{"loopback floor ", "3000 streams at 50/s = 150000 packets/s need ≥ ", "the lab spent 166.67 µs per packet"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("floor output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	(&floorResult{datagrams: floorBatch}).print(&out, &benchResult{})
	if !strings.Contains(out.String(), "not measured: 64 datagrams took no CPU time") {
		t.Errorf("a floor of no CPU printed %q", out.String())
	}
}

// TestCreateCost makes its files in a directory of its own, removes them
// and reports a CPU figure; the line names the directory and the files
// per session. Nothing about speed.
func TestCreateCost(t *testing.T) {
	dir := t.TempDir()
	per, err := runCreateCost(dir, 20)
	if err != nil {
		t.Fatal(err)
	}
	if per < 0 { // 0 is possible: a thread's CPU time is sampled, and 20 files are little
		t.Errorf("a file creation cost %v of CPU", per)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("%d entries left in %s", len(left), dir)
	}
	var out strings.Builder
	printCreateCost(&out, dir, 500*time.Microsecond)
	for _, want := range []string{"500 µs of CPU per file created in " + dir, "creates 5: ≥ 2.50 ms per session, at most 400 sessions/s per core"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	printCreateCost(&out, dir, 0)
	if !strings.Contains(out.String(), "not measured in "+dir) {
		t.Errorf("a creation of no CPU printed %q", out.String())
	}
	if _, err := runCreateCost(filepath.Join(dir, "missing", "\x00"), 1); err == nil {
		t.Error("a directory that cannot be made: no error")
	}
}
