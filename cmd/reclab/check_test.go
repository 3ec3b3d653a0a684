package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reclab check validates without running: exit 0 and one line per step
// for good stories, exit 2 and every problem for broken ones.
func TestCheckValidatesWithoutRunning(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("steps:\n  - dial: {phone: \"7434\", to: 6867i}\n  - wait: {from: pbx, to: \"7434\", proto: SIP, response: 180}\n  - hang-up: \"7434\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check", good, "basic-call"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		good + ": good, 3 steps",
		"  1  " + good + ":2:5  dial 7434 → 1002\n",
		"  2  " + good + ":3:5  wait for pbx → 7434 SIP 180 (timeout 10s)\n",
		"  3  " + good + ":4:5  hang-up 7434\n",
		"basic-call.yaml: basic-call (spec §3.1, §3.2), 14 steps",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("reclab check lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	errb.Reset()
	broken := filepath.Join("..", "..", "scenarios", "testdata", "broken")
	code := run([]string{"check", good, filepath.Join(broken, "missing-dash.yaml"), filepath.Join(broken, "unknown-model.yaml"), "-q"}, &out, &errb)
	if code != exitUsage {
		t.Errorf("broken stories: exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"missing-dash.yaml:5:3: this line starts in the column of the list's `-`", `unknown-model.yaml:4:40: phone model: unknown model "4424" (did you mean`} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if out.Len() > 0 {
		t.Errorf("-q printed plans:\n%s", out.String())
	}
	if code := run([]string{"check"}, &out, &errb); code != exitUsage {
		t.Errorf("check with no story: exit %d", code)
	}
}
