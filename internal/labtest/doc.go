// Package labtest is the shared harness of reclab's tests that run labs on
// real loopback sockets.
//
// It owns isolation: Main runs a package's tests in a network namespace of
// their own, so whole-lab tests of different packages (which all use the
// lab's address plan, 127.20.x) run in parallel under `go test ./...`, and
// beside a lab a person is running on the same machine. It must not know
// the nodes: it imports nothing of reclab. Apart goes one step further for
// a table of whole-lab subtests (the story library): each in a child
// process and namespace of its own, several at a time.
//
// Example, in a package's main_test.go:
//
//	func TestMain(m *testing.M) { labtest.Main(m) }
package labtest
