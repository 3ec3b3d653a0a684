package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/reclab/reclab/cmd/reclab/tui"
	"github.com/reclab/reclab/scenarios"
)

// cmdTUI opens the terminal UI on the default lab (lab.UIDefault). It is
// what `reclab` does with no arguments.
func cmdTUI(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", filepath.Join("out", "tui"), "output directory: lab.pcapng (written all along), recordings/, config/, exports")
	scen := fs.String("scenario", "", "run this library scenario (or .yaml file) at once, on a lab of its own; output in DIR/NAME")
	step := fs.Bool("step", false, "with --scenario: one step per press of the . key")
	speed := fs.Float64("speed", 1, "with --scenario: the lab clock's rate (2 runs the lab twice as fast)")
	hepFlag := fs.String("hep", "", "send every SIP message as HEP to a collector at ADDR:PORT (loopback), e.g. for sngrep -L udp:127.0.0.1:9060")
	netDelay := fs.String("net-delay", "", "give every link of the lab and of each scenario's lab (each node pair, each way) its own delay drawn from `MIN-MAX`, e.g. 0-300ms, plus jitter (default: none)")
	seed := fs.Int64("seed", 1, "with --net-delay: the seed of the links' delays and jitter")
	var netArg string
	netFlag(fs, &netArg)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: reclab tui [--out DIR] [--scenario NAME|FILE [--step] [--speed F]] [--net 127.N] [--net-delay MIN-MAX [--seed N]]
       reclab

Opens the terminal UI on the default lab: the PBX, the recorder and one
phone of each family (4422, 7434, 7444, 6737i, 6867i, 6920), registered and
monitored. Select a phone (1-9), dial (d), answer (a), hang up (x); ? lists
every key, + and - run the lab clock faster or slower, q quits.

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
	// A class's capture is not overwritten by the next start (issue 12: an
	// 8 MB capture became 24 bytes, even when the start then failed).
	if kept, err := keepPrevious(dir); err != nil {
		fmt.Fprintln(stderr, "reclab tui:", err)
		return exitLabFail
	} else if kept != "" {
		fmt.Fprintf(stderr, "reclab tui: the previous session's files are kept in %s\n", kept)
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	req := tui.ScenarioRequest{Name: *scen, Step: *step, Speed: *speed}
	if err := tui.Run(ctx, tui.Options{OutDir: *out, Scenario: req, HEP: hep, NetDelay: delays, Place: plan.place}); err != nil {
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

// keepPrevious moves a previous session's outputs in dir (its lab.pcapng and
// everything beside it but earlier kept sessions) into
// dir/previous-<time of that pcap>, and returns that directory; "" when
// dir holds no session.
func keepPrevious(dir string) (string, error) {
	info, err := os.Stat(filepath.Join(dir, "lab.pcapng"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	base := filepath.Join(dir, "previous-"+info.ModTime().Format("20060102-150405"))
	kept := base
	for i := 2; ; i++ {
		if _, err := os.Stat(kept); errors.Is(err, fs.ErrNotExist) {
			break
		}
		kept = fmt.Sprintf("%s-%d", base, i)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(kept, 0o755); err != nil {
		return "", err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "previous-") {
			continue
		}
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(kept, e.Name())); err != nil {
			return "", fmt.Errorf("keeping the previous session's %s: %w", e.Name(), err)
		}
	}
	return kept, nil
}
