// Package scenarios holds the library of lab stories and their runner:
// each scenario builds a lab, drives its actors, narrates, waits on trace
// events (never on fixed sleeps) and checks the message flow and the
// recordings. Execute writes trace.txt, lab.pcap and the recordings.
//
// It must not reach into a node's internals: it acts through the nodes'
// public methods and judges by the trace and the files.
//
// Example:
//
//	s, _ := scenarios.Get("basic-call")
//	res, err := scenarios.Execute(ctx, s, scenarios.Options{OutDir: "out/run1", Log: os.Stdout})
package scenarios
