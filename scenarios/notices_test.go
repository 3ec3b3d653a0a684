package scenarios

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// design.md: an unknown configuration parameter is kept and reported,
// never silently dropped (issue 11 item 9). The lab notes it as it is
// built, before the run's printer is attached: `reclab run` still prints
// it, with the file and line, and trace.txt holds it.
func TestUnknownConfigParameterIsPrinted(t *testing.T) {
	s, err := Parse("unknown.yaml", []byte("lab:\n  phones:\n    - {name: \"7434\", ext: \"1001\", model: \"7434\", config: {frobnicate: \"yes\"}}\nsteps:\n  - say: nothing\n"))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	res, err := Execute(context.Background(), s, Options{OutDir: t.TempDir(), Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	want := `7434.cfg:`
	trace, err := os.ReadFile(res.Trace)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"the run's output": log.String(), "trace.txt": string(trace)} {
		line := ""
		for _, l := range strings.Split(text, "\n") {
			if strings.Contains(l, `unknown parameter "frobnicate" kept, not applied`) {
				line = l
			}
		}
		if !strings.Contains(line, want) {
			t.Errorf("%s has no notice of frobnicate with its file and line:\n%s", name, text)
		}
	}
}
