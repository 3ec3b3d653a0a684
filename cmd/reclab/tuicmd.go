package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/reclab/reclab/cmd/reclab/tui"
	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/scenarios"
)

// cmdTUI opens the terminal UI on the default lab (lab.UIDefault). It is
// what `reclab` does with no arguments.
func cmdTUI(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", filepath.Join("out", "tui"), "base directory: each start writes DIR/<timestamp>/ of its own: lab.pcapng (written all along), recordings/, config/, exports")
	scen := fs.String("scenario", "", "run this library scenario (or .yaml file) at once, on a lab of its own; output in DIR/NAME")
	step := fs.Bool("step", false, "with --scenario: one step per press of the . key")
	speed := fs.Float64("speed", 1, "with --scenario: the lab clock's rate (2 runs the lab twice as fast)")
	hepFlag := hepFlag(fs)
	netDelay := fs.String("net-delay", "", "give every link of the lab and of each scenario's lab (each node pair, each way) its own delay drawn from `MIN-MAX`, e.g. 0-300ms, plus jitter (default: none)")
	seed := fs.Int64("seed", 1, "with --net-delay: the seed of the links' delays and jitter")
	nodes := fs.String("nodes", strings.Join(lab.NodeKinds, ","), "with LAB.yaml: the node kinds this process runs, `LIST` of pbx, phones, recorder (or phones:FARM), as reclab serve")
	var netArg string
	netFlag(fs, &netArg)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: reclab tui [--out DIR] [--scenario NAME|FILE [--step] [--speed F]] [--net 127.N] [--net-delay MIN-MAX [--seed N]]
       reclab tui LAB.yaml [--nodes pbx,phones,recorder] [--out DIR] [--net 127.N]
       reclab

Opens the terminal UI on the default lab: the PBX, the recorder and one
phone of each family (4422, 7434, 7444, 6737i, 6867i, 6920), registered and
monitored. Select a phone (1-9), dial (d), answer (a), hang up (x); ? lists
every key, + and - run the lab clock faster or slower, q quits.

With --scenario, the UI runs that scenario instead, its narration in the
Log pane; --step holds each step until you press '.', so a trainer can
explain it first. Inside the UI, s lists the library (t there: step mode,
+/-: speed).

With a lab file, the UI runs its nodes as 'reclab serve' does (split
mode, README "Split mode"): --nodes picks those run here, the others are
peers at the file's addresses; the UI drives the phones run here.

Flags:`)
		fs.PrintDefaults()
	}
	// A lab file first or last: reclab tui lab.yaml --nodes pbx.
	var files []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		files, args = args[:1], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	files = append(files, fs.Args()...)
	if len(files) > 1 || (len(files) == 1 && !strings.HasSuffix(files[0], ".yaml") && !strings.HasSuffix(files[0], ".yml")) {
		fmt.Fprintf(stderr, "reclab tui: unexpected argument %q (a lab file is LAB.yaml)\n", files[len(files)-1])
		return exitUsage
	}
	nodesSet := false
	fs.Visit(func(f *flag.Flag) { nodesSet = nodesSet || f.Name == "nodes" })
	if len(files) == 1 && *scen != "" {
		fmt.Fprintln(stderr, "reclab tui: a lab file or --scenario, not both")
		return exitUsage
	}
	if nodesSet && len(files) == 0 {
		fmt.Fprintln(stderr, "reclab tui: --nodes goes with a lab file (reclab tui LAB.yaml --nodes …)")
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
	hep, delays, err := labFlags(*hepFlag, *out, *netDelay, *seed)
	if err != nil {
		fmt.Fprintf(stderr, "reclab tui: %v\n", err)
		return exitUsage
	}
	plan, err := parseNet(netArg)
	if err == nil {
		err = plan.free() // another lab on these addresses, said before the screen changes
	}
	if err != nil {
		fmt.Fprintf(stderr, "reclab tui: %v\n", err)
		return exitUsage
	}
	// A lab file (split mode, as reclab serve): its topology, nodes and SIP
	// T1; a broken one is a usage error, said before the screen changes.
	var topo lab.Topology
	place := plan.place
	if len(files) == 1 {
		run, err := lab.ParseNodes(*nodes)
		if err != nil {
			fmt.Fprintf(stderr, "reclab tui: --nodes %s: %v\n", *nodes, err)
			return exitUsage
		}
		lf, err := loadLabFile(files[0], run, plan)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		topo, place = lf.Topology, nil // the file's addresses stay; --net moved only its defaults
		lab.SetSIPTimers(lf.SIPT1)
	}
	// A name that is not in the library, or a broken file, is a usage
	// error, said before the screen changes or a folder is made.
	name := ""
	if *scen != "" {
		s, err := scenarios.Load(*scen)
		if err != nil {
			fmt.Fprintln(stderr, "reclab tui:", err)
			return exitUsage
		}
		name = s.Name
	}
	// Each start writes a session folder of its own, out/<timestamp>/, and
	// never touches another's (issue 12: a start truncated the class's
	// capture, even a start that then failed).
	session, err := tui.SessionDir(*out, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "reclab tui:", err)
		return exitLabFail
	}
	dir := filepath.Join(session, name)
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	req := tui.ScenarioRequest{Name: *scen, Step: *step, Speed: *speed}
	if err := tui.Run(ctx, tui.Options{OutDir: session, Topology: topo, Scenario: req, HEP: hep, NetDelay: delays, Place: place}); err != nil {
		// tui's errors name their package; one prefix is enough (issue
		// 19: "tui: tui: mkdir…").
		msg := strings.TrimPrefix(plan.inUse(err).Error(), "tui: ")
		fmt.Fprintln(stderr, "reclab tui:", msg)
		var inUse *addrInUseError
		if errors.As(plan.inUse(err), &inUse) {
			return exitUsage
		}
		return exitLabFail
	}
	fmt.Fprintf(stdout, "lab closed; pcap, recordings and exports are in %s\n", dir)
	return exitOK
}
