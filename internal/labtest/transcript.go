package labtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// The pure cores' transcripts (testdata/<core>/*.txt) in etcd-raft's
// style: each command is an event in, its output the actions out, one a
// line, and the core's state after it. `go test ./PKG -run Transcripts
// -rewrite` rewrites the expected output from the cores.

// Cmd is one command of a transcript as its core's player sees it.
type Cmd struct {
	T *testing.T
	D *datadriven.TestData
}

// Arg is the command's argument key, "" when absent.
func (c Cmd) Arg(key string) string { return Arg(c.D, key) }

// Dur is the argument key as a duration; 0 when absent.
func (c Cmd) Dur(key string) time.Duration {
	if c.Arg(key) == "" {
		return 0
	}
	v, err := time.ParseDuration(c.Arg(key))
	if err != nil {
		c.D.Fatalf(c.T, "%s: %v", key, err)
	}
	return v
}

// Uint is the argument key as a number; def when absent.
func (c Cmd) Uint(key string, def uint64) uint64 {
	if c.Arg(key) == "" {
		return def
	}
	var n uint64
	if _, err := fmt.Sscan(c.Arg(key), &n); err != nil {
		c.D.Fatalf(c.T, "%s: %v", key, err)
	}
	return n
}

// Kind is the index of the command's name among names (a core's event
// names); it fails the test on an unknown command.
func (c Cmd) Kind(names []string) int {
	for i, n := range names {
		if n == c.D.Cmd {
			return i
		}
	}
	c.D.Fatalf(c.T, "unknown command %q", c.D.Cmd)
	return -1
}

// PlayTranscripts runs every file under dir: reset before each file, then
// step for each command, which returns the actions (one a line) and the
// core's state line.
func PlayTranscripts(t *testing.T, dir string, reset func(), step func(Cmd) (actions []string, state string)) {
	datadriven.Walk(t, dir, func(t *testing.T, path string) {
		reset()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			acts, state := step(Cmd{T: t, D: d})
			var b strings.Builder
			for _, a := range acts {
				fmt.Fprintln(&b, a)
			}
			fmt.Fprintf(&b, "state: %s\n", state)
			return b.String()
		})
	})
}

// ActionLines is acts as transcript lines.
func ActionLines[A fmt.Stringer](acts []A) []string {
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = a.String()
	}
	return out
}
