// Package scenarios holds the library of lab stories and their runner.
//
// A scenario is a YAML file (format in README.md): a `lab:` section (phones,
// recorder, timers, a rogue host) and `steps:` — actions on any actor, waits
// on trace events (never fixed sleeps, except the story's own pauses), checks
// of the message flow, the phones' state and the recordings, and `say:`
// narration. Parse refuses a broken file with file:line:column and the
// valid choices before any lab starts; a YAML structure error says the
// mistake, quotes the line and the README's example (yamlerr.go). Plan
// says each step in one line without running it (reclab check). A wait or
// check that fails names the nearest events that came instead (nearest.go). Execute builds the lab, runs the
// steps, prints every trace event and PASS/FAIL per check, and writes
// lab.pcapng, trace.txt, trace.jsonl, flow.md (Mermaid), report.md and the
// recordings. The library is embedded (library/*.yaml); each scenario has a
// golden flow under testdata/golden, refreshed with `go test -update`.
//
// It must not reach into a node's internals: it acts through the nodes'
// public methods and judges by the trace and the files.
//
// Example:
//
//	s, _ := scenarios.Load("basic-call") // or a path to a .yaml file
//	res, err := scenarios.Execute(ctx, s, scenarios.Options{OutDir: "out/run1", Log: os.Stdout})
package scenarios
