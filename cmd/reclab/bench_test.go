package main

import (
	"bytes"
	"strings"
	"testing"
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
