package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The UI itself is tested in package tui; here only its command line.
func TestTUICommandLine(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"tui", "--help"}, &out, &errb); code != exitOK || !strings.Contains(errb.String(), "Usage: reclab tui [--out DIR]") {
		t.Errorf("tui --help: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"tui", "extra"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), `unexpected argument "extra"`) {
		t.Errorf("tui extra: exit %d, stderr %q", code, errb.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tui", "--scenario", "basic-cal"}, `no scenario "basic-cal"`},
		{[]string{"tui", "--step"}, "--step and --speed go with --scenario NAME"},
		{[]string{"tui", "--scenario", "basic-call", "--speed", "0"}, "--speed 0: want a factor above 0"},
	} {
		errb.Reset()
		if code := run(tc.args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errb.String(), tc.want)
		}
	}
	out.Reset()
	if code := run([]string{"help"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "reclab tui [--out DIR]") {
		t.Errorf("help does not list tui:\n%s", out.String())
	}
}

// `reclab tui LAB.yaml --nodes pbx,phones` is serve with the UI: run as a
// process (its terminal a pipe), its PBX takes the CSTA link of a recorder
// served by another process, which then monitors every phone the UI's
// process registered; q closes the UI's lab cleanly, pcap written.
func TestTUIServesALabFile(t *testing.T) {
	file := writeLab(t, splitLab, "127.34.0.")
	rec := startServe(t, "recorder", nil, file, "--nodes", "recorder")
	out := t.TempDir()
	cmd := exec.Command(os.Args[0], "tui", file, "--nodes", "pbx,phones", "--out", out)
	cmd.Env = append(os.Environ(), "RECLAB_AS_MAIN=1", "TERM=dumb")
	// The UI wants a terminal: a pseudo-terminal, its controlling one.
	term, tty := openPTY(t)
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var stdout bytes.Buffer
	screen := make(chan struct{})
	go func() { io.Copy(&stdout, term); close(screen) }()
	// Ready (monitoring: the UI's PBX served its CSTA link) and both
	// phones in service, in whichever order the two processes get there.
	ready, inService := false, map[string]bool{}
	rec.wait("ready and BackInService of 1001 and 1002", func(e servedEvent) bool {
		ready = ready || e.StateType == "main.ServeState"
		for _, ext := range []string{"1001", "1002"} {
			if e.From == "pbx" && strings.Contains(e.Summary, "BackInServiceEvent "+ext) {
				inService[ext] = true
			}
		}
		return ready && len(inService) == 2
	})
	io.WriteString(term, "q")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tui after q: %v\n%s", err, stderr.String())
	}
	term.Close()
	<-screen
	if !strings.Contains(stdout.String(), "lab closed; pcap, recordings and exports are in "+out) {
		t.Errorf("tui's last words: %q", stdout.String()[max(0, stdout.Len()-300):])
	}
	if pcaps, _ := filepath.Glob(filepath.Join(out, "*", "lab.pcapng")); len(pcaps) != 1 {
		t.Errorf("pcaps under %s: %v", out, pcaps)
	}
	rec.stop()

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tui", file, "--scenario", "basic-call"}, "a lab file or --scenario, not both"},
		{[]string{"tui", "--nodes", "pbx"}, "--nodes goes with a lab file"},
		{[]string{"tui", file, "--nodes", "pbx,bogus"}, `node kind "bogus" unknown`},
		{[]string{"tui", filepath.Join(t.TempDir(), "none.yaml")}, "none.yaml: no such file"},
	} {
		var o, e bytes.Buffer
		if code := run(tc.args, &o, &e); code != exitUsage || !strings.Contains(e.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, e.String(), tc.want)
		}
	}
}

// openPTY opens a pseudo-terminal pair (/dev/ptmx): the terminal's side
// and the program's.
func openPTY(t *testing.T) (term, tty *os.File) {
	t.Helper()
	term, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd := int(term.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120})
	t.Cleanup(func() { term.Close(); tty.Close() })
	return term, tty
}
