// Command reclab runs the voice-recording lab: a simulated MX-ONE PBX, Mitel
// phones and a recorder on loopback. See README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Exit codes scripts can use.
const (
	exitOK      = 0
	exitFailed  = 1 // the scenario ran and a check failed
	exitUsage   = 2 // bad command line
	exitLabFail = 3 // the lab could not be built or started
)

const usage = `reclab — a loopback lab of an MX-ONE PBX, Mitel IP phones and a voice recorder

Usage:
  reclab                        the terminal UI on the default lab (writes out/tui)
  reclab tui [--out DIR] [--net 127.N] [--scenario NAME|FILE [--step] [--speed F]]
                                the same, writing to DIR; or play a scenario in the UI,
                                one step per '.' key with --step
  reclab run NAME|FILE... [--all] [--out DIR] [--speed F] [--net 127.N]
                                run scenarios headless, print the message flow and checks
  reclab check NAME|FILE...     validate scenarios without running them; print each step
  reclab list [--actions]       list the library scenarios (--actions: the steps a file may use)
  reclab bench [flags]          measure a lab of many phones and recorded calls
  reclab serve LAB.yaml [--nodes pbx,phones,recorder] [--json]
                                run the nodes of a lab file until Ctrl-C (split mode)
  reclab classroom [LAB.yaml] --authorized-keys FILE --instructor FILE [--listen 127.0.0.1:2222]
                                serve the terminal UI of one lab over SSH: the instructor
                                drives, trainees watch
  reclab help [COMMAND]         this text, or a command's

Run 'reclab COMMAND --help' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return cmdTUI(nil, stdout, stderr) // tuicmd.go
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "list":
		return cmdList(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr) // check.go
	case "bench":
		return cmdBench(args[1:], stdout, stderr)
	case "tui":
		return cmdTUI(args[1:], stdout, stderr)
	case "serve":
		return cmdServe(args[1:], stdout, stderr) // serve.go
	case "classroom":
		return cmdClassroom(args[1:], stdout, stderr) // classroom.go
	case "help", "-h", "--help":
		if len(args) > 1 {
			return run([]string{args[1], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "reclab: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// stopSignals end a run as Ctrl-C does: every recording, trace and pcap
// finished and closed. A service manager's SIGTERM and a closed terminal's
// SIGHUP are the usual ways a headless run is stopped.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}
