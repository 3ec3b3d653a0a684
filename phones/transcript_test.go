package phones

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/reclab/reclab/internal/labtest"
)

// The cores' transcripts (testdata/<core>/*.txt) in etcd-raft's style:
// each command is an event in, its output the actions out, one a line, and
// the core's state after it. `go test ./phones -run Transcripts -rewrite`
// rewrites the expected output from the cores.

// transcriptCmd is one command of a transcript as its core's player sees it.
type transcriptCmd struct {
	t *testing.T
	d *datadriven.TestData
}

// arg is the command's argument key, "" when absent.
func (c transcriptCmd) arg(key string) string { return labtest.Arg(c.d, key) }

// dur is the argument key as a duration; 0 when absent.
func (c transcriptCmd) dur(key string) time.Duration {
	if c.arg(key) == "" {
		return 0
	}
	v, err := time.ParseDuration(c.arg(key))
	if err != nil {
		c.d.Fatalf(c.t, "%s: %v", key, err)
	}
	return v
}

// uint is the argument key as a number; def when absent.
func (c transcriptCmd) uint(key string, def uint64) uint64 {
	if c.arg(key) == "" {
		return def
	}
	var n uint64
	if _, err := fmt.Sscan(c.arg(key), &n); err != nil {
		c.d.Fatalf(c.t, "%s: %v", key, err)
	}
	return n
}

// kind is the index of the command's name among names (a core's event
// names); it fails the test on an unknown command.
func (c transcriptCmd) kind(names []string) int {
	for i, n := range names {
		if n == c.d.Cmd {
			return i
		}
	}
	c.d.Fatalf(c.t, "unknown command %q", c.d.Cmd)
	return -1
}

// playTranscripts runs every file under dir: reset before each file, then
// step for each command, which returns the actions (one a line) and the
// core's state line.
func playTranscripts(t *testing.T, dir string, reset func(), step func(transcriptCmd) (actions []string, state string)) {
	datadriven.Walk(t, dir, func(t *testing.T, path string) {
		reset()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			acts, state := step(transcriptCmd{t: t, d: d})
			var b strings.Builder
			for _, a := range acts {
				fmt.Fprintln(&b, a)
			}
			fmt.Fprintf(&b, "state: %s\n", state)
			return b.String()
		})
	})
}

// actionLines is acts as transcript lines.
func actionLines[A fmt.Stringer](acts []A) []string {
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = a.String()
	}
	return out
}
