package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/reclab/reclab/cmd/reclab/tui"
	"github.com/reclab/reclab/scenarios"
	"github.com/reclab/reclab/sim"
)

// cmdTUI opens the terminal UI on the default lab (lab.UIDefault). It is
// what `reclab` does with no arguments.
func cmdTUI(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", filepath.Join("out", "tui"), "output directory: lab.pcap (written all along), recordings/, config/, exports")
	scen := fs.String("scenario", "", "run this library scenario (or .yaml file) at once, on a lab of its own; output in DIR/NAME")
	step := fs.Bool("step", false, "with --scenario: one step per press of the . key")
	speed := fs.Float64("speed", 1, "with --scenario: a factor on its timers and pauses (2 runs twice as fast)")
	netDelay := fs.String("net-delay", "", "give every link of the lab and of each scenario's lab (each node pair, each way) its own delay drawn from `MIN-MAX`, e.g. 0-300ms, plus jitter (default: none)")
	seed := fs.Int64("seed", 1, "with --net-delay: the seed of the links' delays and jitter")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: reclab tui [--out DIR] [--scenario NAME|FILE [--step] [--speed F]] [--net-delay MIN-MAX [--seed N]]
       reclab

Opens the terminal UI on the default lab: the PBX, the recorder and one
phone of each family (4422, 7434, 7444, 6737i, 6867i, 6920), registered and
monitored. Select a phone (1-9), dial (d), answer (a), hang up (x); ? lists
every key, q quits.

With --scenario, the UI runs that scenario instead, its narration in the
Log pane; --step holds each step until you press '.', so a trainer can
explain it first. Inside the UI, s lists the library (t there: step mode,
+/-: speed).

Flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "reclab tui: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *speed <= 0 {
		fmt.Fprintf(stderr, "reclab tui: --speed %g: want a factor above 0\n", *speed)
		return exitUsage
	}
	if *scen == "" && (*step || *speed != 1) {
		fmt.Fprintln(stderr, "reclab tui: --step and --speed go with --scenario NAME")
		return exitUsage
	}
	var delays sim.LinkDelays
	if *netDelay != "" {
		d, err := sim.ParseLinkDelays(*netDelay, *seed)
		if err != nil {
			fmt.Fprintf(stderr, "reclab tui: --net-delay: %v\n", err)
			return exitUsage
		}
		delays = d
	}
	dir := *out
	if *scen != "" {
		// A name that is not in the library, or a broken file, is a usage
		// error, said before the screen changes.
		s, err := scenarios.Load(*scen)
		if err != nil {
			fmt.Fprintln(stderr, "reclab tui:", err)
			return exitUsage
		}
		dir = filepath.Join(*out, s.Name)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	req := tui.ScenarioRequest{Name: *scen, Step: *step, Speed: *speed}
	if err := tui.Run(ctx, tui.Options{OutDir: *out, Scenario: req, NetDelay: delays}); err != nil {
		fmt.Fprintln(stderr, "reclab tui:", err)
		return exitLabFail
	}
	fmt.Fprintf(stdout, "lab closed; pcap, recordings and exports are in %s\n", dir)
	return exitOK
}
