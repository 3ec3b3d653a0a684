package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestListShowsTheLibrary: name, spec section and description per scenario.
func TestListShowsTheLibrary(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"list"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"basic-call", "§3.1, §3.2", "one-party-monitored", "phone-families", "forged-invite"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("reclab list lacks %q:\n%s", want, out.String())
		}
	}
	// Every description starts in the same column, the longest name's too.
	col := -1
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.SplitN(line, "  ", 2) // name, then the rest
		rest := strings.TrimLeft(f[1], " ")
		sec := strings.SplitN(rest, "  ", 2)
		at := utf8.RuneCountInString(line) - utf8.RuneCountInString(strings.TrimLeft(sec[1], " "))
		if col >= 0 && at != col {
			t.Errorf("the description of %q starts at column %d, the others at %d", f[0], at, col)
		}
		col = at
	}
	out.Reset()
	if code := run([]string{"list", "--actions"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "expect-recording") {
		t.Errorf("reclab list --actions: exit %d\n%s", code, out.String())
	}
}

// TestRunRefusesBrokenFilesBeforeTheLab: exit 2, file:line:column, and no
// lab output written.
func TestRunRefusesBrokenFilesBeforeTheLab(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("steps:\n  - dial: {phone: \"7434\", to: 6867i}\n  - hangup: \"7434\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	outDir := filepath.Join(dir, "out")
	code := run([]string{"run", "basic-call", bad, "--out", outDir}, &out, &errb)
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if want := bad + `:3:5: step: unknown action "hangup" (did you mean "hang-up"?)`; !strings.Contains(errb.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, errb.String())
	}
	if _, err := os.Stat(outDir); err == nil {
		t.Error("a lab ran although one of the files was broken")
	}
	// A configuration value no phone takes is found before any lab starts
	// (issue 11 item 9: basic-call ran to PASS, then the run exited 3).
	badCfg := filepath.Join(dir, "bad-config.yaml")
	if err := os.WriteFile(badCfg, []byte("name: bad-config\nlab:\n  phones:\n    - {name: \"7434\", ext: \"1001\", model: \"7434\"}\n"+
		"    - {name: 6867i, ext: \"1002\", model: 6867i, config: {sip local port: \"abc\"}}\nsteps:\n  - say: hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := run([]string{"run", "basic-call", badCfg, "--out", outDir}, &out, &errb); code != exitUsage {
		t.Errorf("a bad configuration value: exit %d, want %d", code, exitUsage)
	}
	if want := `parameter "sip local port": bad value "abc"`; !strings.Contains(errb.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, errb.String())
	}
	if _, err := os.Stat(outDir); err == nil {
		t.Error("a lab ran although a file's configuration was bad")
	}
	errb.Reset()
	if code := run([]string{"run", "no-such-story"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "known: basic-call") {
		t.Errorf("unknown name: exit %d, %s", code, errb.String())
	}
	if code := run([]string{"run", "basic-call", "--speed", "0"}, &out, &errb); code != exitUsage {
		t.Errorf("--speed 0: exit %d", code)
	}
}

// An --out that cannot be written is a usage error said before any lab,
// and no run claims files it never wrote (issue 19).
func TestRunRefusesAnUnwritableOut(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"run", "basic-call", "--out", filepath.Join(file, "out")}, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "--out "+filepath.Join(file, "out")) || !strings.Contains(errb.String(), "not a directory") {
		t.Fatalf("exit %d, stderr %q; want %d naming --out", code, errb.String(), exitUsage)
	}
	if strings.Contains(out.String(), "wrote") || strings.Contains(out.String(), "FAIL") {
		t.Fatalf("stdout claims a run: %q", out.String())
	}
}
