package main

import (
	"bytes"
	"strings"
	"testing"
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
