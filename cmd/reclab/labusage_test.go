package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reclab/reclab/lab"
)

// A read-only --out (a file system mounted read-only, in a mount namespace
// of the test's own) is a usage error said before any lab starts, and
// nothing claims files (issue 19: "wrote …/ro/out", then "mkdir …:
// read-only file system", then FAIL, exit 3).
func TestRunRefusesAReadOnlyOut(t *testing.T) {
	ro := t.TempDir()
	out := filepath.Join(ro, "out")
	script := `mount -t tmpfs -o ro tmpfs "$1" && shift && exec "$@"`
	args := []string{"-m", "sh", "-c", script, "sh", ro, os.Args[0], "run", "basic-call", "--out", out}
	if os.Getuid() != 0 {
		args = append([]string{"-r"}, args...) // a user namespace may mount its own tmpfs
	}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), "RECLAB_AS_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if code != exitUsage {
		t.Fatalf("exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", code, err, exitUsage, stdout.String(), stderr.String())
	}
	if want := "reclab run: --out " + out + ": cannot write in " + ro; !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "read-only file system") {
		t.Errorf("stderr %q lacks %q and the cause", stderr.String(), want)
	}
	if stdout.Len() > 0 {
		t.Errorf("a refused run printed (a lab started, or claims files):\n%s", stdout.String())
	}
}

// Another lab on the default addresses: `run` says so before its lab
// starts, with the remedy, exit 2; `run --net 127.21` beside it passes.
// The tests run in a network namespace of their own (labtest.Main), so
// the lab on 127.20 here is the only one.
func TestRunBesideAnotherLab(t *testing.T) {
	other, err := lab.Build(lab.Default(), lab.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.PBX.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := other.Recorder.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range other.Phones {
		if err := p.PowerOn(); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "basic-call", "--out", filepath.Join(dir, "clash")}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "address already in use") || !strings.Contains(stderr.String(), "--net 127.21") {
		t.Errorf("beside a lab on 127.20: exit %d, stderr %q; want %d with the remedy --net 127.21", code, stderr.String(), exitUsage)
	}
	if stdout.Len() > 0 {
		t.Errorf("a run refused before its lab printed:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "clash")); err == nil {
		t.Error("a refused run wrote its output directory")
	}

	stdout.Reset()
	stderr.Reset()
	out := filepath.Join(dir, "beside")
	if code := run([]string{"run", "basic-call", "--net", "127.21", "--out", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("run --net 127.21 beside a lab on 127.20: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	// The lab was on 127.21: its trace names those addresses, not 127.20.
	trace, err := os.ReadFile(filepath.Join(out, "trace.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(trace, []byte(`"127.21.0.1:5060"`)) || bytes.Contains(trace, []byte(`"127.20.`)) {
		t.Errorf("the lab under --net 127.21 did not use 127.21.x.x only")
	}
}

// An address the probe does not cover, taken when the lab starts: the run
// still answers exit 2 with the remedy, not a failed check.
func TestRunAddressTakenAtStart(t *testing.T) {
	// The default lab's second phone, 6867i, 127.20.1.2, SIP port 5070.
	c, err := net.ListenPacket("udp4", "127.20.1.2:5070")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "basic-call", "--out", t.TempDir()}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "127.20.1.2:5070") || !strings.Contains(stderr.String(), "--net 127.21") {
		t.Errorf("exit %d, stderr %q; want %d naming the address and --net 127.21", code, stderr.String(), exitUsage)
	}
	if strings.Contains(stdout.String(), "wrote") || strings.Contains(stdout.String(), "basic-call: FAIL") {
		t.Errorf("a run whose lab never started claims files or a failed check:\n%s", stdout.String())
	}
}
