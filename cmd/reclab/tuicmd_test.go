package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// A second TUI start keeps the first session's files (issue 12: the start
// truncated the class's capture).
func TestTUIStartKeepsThePreviousSession(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"lab.pcapng": "capture one", "recordings/a.wav": "audio", "tls-keys.log": "keys"} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := keepPrevious(dir)
	if err != nil || kept == "" {
		t.Fatalf("keepPrevious: %q, %v", kept, err)
	}
	if b, err := os.ReadFile(filepath.Join(kept, "lab.pcapng")); err != nil || string(b) != "capture one" {
		t.Fatalf("the previous pcap in %s: %q, %v", kept, b, err)
	}
	if _, err := os.Stat(filepath.Join(kept, "recordings", "a.wav")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lab.pcapng")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("lab.pcapng still in the session's directory: %v", err)
	}
	// A third start, a new capture of the same second: both are kept.
	os.WriteFile(filepath.Join(dir, "lab.pcapng"), []byte("capture two"), 0o644)
	os.Chtimes(filepath.Join(dir, "lab.pcapng"), time.Time{}, mustStat(t, filepath.Join(kept, "lab.pcapng")).ModTime())
	again, err := keepPrevious(dir)
	if err != nil || again == kept || !strings.HasPrefix(again, kept) {
		t.Fatalf("second keep: %q (first %q), %v", again, kept, err)
	}
	if kept, _ := keepPrevious(dir); kept != "" {
		t.Fatalf("an empty directory kept as %q", kept)
	}
}

func mustStat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}
