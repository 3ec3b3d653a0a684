package main

import (
	"os"
	"testing"

	"github.com/reclab/reclab/internal/labtest"
)

// TestMain: whole-lab tests bind the lab's address plan, so the package runs
// in a network namespace of its own (labtest.Main). Run with RECLAB_AS_MAIN=1
// the test binary is the reclab command itself, for tests that need a real
// process to signal (signal_test.go).
func TestMain(m *testing.M) {
	if os.Getenv("RECLAB_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	labtest.Main(m)
}
