// Command reclab runs the voice-recording lab: a simulated MX-ONE PBX, Mitel
// phones and a recorder on loopback. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/reclab/reclab/scenarios"
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
  reclab run NAME [--out DIR]   run a library scenario headless, print the message flow
  reclab list                   list the library scenarios
  reclab help [COMMAND]         this text, or a command's

Run 'reclab COMMAND --help' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		// The TUI is not built yet (issue 6); say so instead of failing silently.
		fmt.Fprint(stderr, usage)
		fmt.Fprintln(stderr, "\nThe terminal UI is not available yet; use 'reclab run basic-call'.")
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "list":
		return cmdList(args[1:], stdout, stderr)
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

func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: reclab list\n\nLists the library scenarios: name, spec section, description.")
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	for _, n := range scenarios.Names() {
		s, _ := scenarios.Get(n)
		fmt.Fprintf(stdout, "%-16s %-12s %s\n", s.Name, s.Section, s.Description)
	}
	return exitOK
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output directory (default out/NAME)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: reclab run NAME [--out DIR]

Builds the scenario's lab on loopback (PBX 127.20.0.1, recorder 127.20.0.2,
phones 127.20.1.x), runs it and prints one line per message as it flows.
Writes DIR/lab.pcap, DIR/trace.txt, DIR/recordings/*.wav with a .json each,
and DIR/config/*.cfg (the phones' configuration files).

Exit status: 0 all checks passed, 1 a check failed, 2 usage, 3 lab failure.

Flags:`)
		fs.PrintDefaults()
	}
	// Allow flags after the name: reclab run basic-call --out DIR.
	var names []string
	rest := args
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return flagExit(err)
		}
		rest = fs.Args()
		if len(rest) > 0 {
			names = append(names, rest[0])
			rest = rest[1:]
		}
	}
	if len(names) != 1 {
		fmt.Fprintln(stderr, "reclab run: give exactly one scenario name; 'reclab list' shows them")
		return exitUsage
	}
	s, err := scenarios.Get(names[0])
	if err != nil {
		fmt.Fprintln(stderr, "reclab run:", err)
		return exitUsage
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("out", s.Name)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := scenarios.Execute(ctx, s, scenarios.Options{OutDir: dir, Log: stdout})
	fmt.Fprintf(stdout, "\nwrote:\n  %s\n  %s\n  %s\n", res.Pcap, res.Trace, filepath.Join(dir, "recordings", "*.wav (+ .json)"))
	if err != nil {
		fmt.Fprintln(stderr, "reclab run:", err)
		if len(res.Failures) > 0 {
			return exitFailed
		}
		return exitLabFail
	}
	fmt.Fprintf(stdout, "%s: PASS\n", s.Name)
	return exitOK
}

func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
