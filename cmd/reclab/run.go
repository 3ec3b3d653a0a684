package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"unicode/utf8"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/scenarios"
	"github.com/reclab/reclab/sim"
)

func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	actions := fs.Bool("actions", false, "list the steps a scenario file may use instead")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: reclab list [--actions]

Lists the library scenarios: name, spec section, description. With
--actions, lists the step keys of the scenario format (scenarios/README.md).

Flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if *actions {
		for _, a := range scenarios.Actions {
			fmt.Fprintf(stdout, "%-17s %s\n  %s\n", a.Name, a.Help, a.Usage)
		}
		return exitOK
	}
	lib, err := scenarios.Library()
	if err != nil {
		fmt.Fprintln(stderr, "reclab list:", err)
		return exitLabFail
	}
	// Columns as wide as their widest entry (issue 19: a long name shifted
	// the section column).
	nameW, secW := 0, 0
	for _, s := range lib {
		nameW, secW = max(nameW, utf8.RuneCountInString(s.Name)), max(secW, utf8.RuneCountInString(s.Section))
	}
	for _, s := range lib {
		fmt.Fprintf(stdout, "%-*s  %-*s  %s\n", nameW, s.Name, secW, s.Section, s.Description)
	}
	return exitOK
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output directory (default out/NAME; with several scenarios, DIR/NAME each)")
	all := fs.Bool("all", false, "run every library scenario")
	speed := fs.Float64("speed", 1, "the lab clock's rate: 2 runs the lab twice as fast as the machine's clock")
	hepFlag := hepFlag(fs)
	netDelay := fs.String("net-delay", "", "give every link of the lab (each node pair, each way) its own delay drawn from `MIN-MAX`, e.g. 0-300ms, plus jitter; each flow keeps its order (default: none)")
	seed := fs.Int64("seed", 1, "with --net-delay: the seed of the links' delays and jitter (the same seed, the same delays)")
	var netArg string
	netFlag(fs, &netArg)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: reclab run NAME|FILE... [--all] [--out DIR] [--speed F] [--net 127.N] [--net-delay MIN-MAX [--seed N]]

Runs scenarios headless: a library scenario by name ('reclab list'), or a
scenario file (NAME.yaml, format in scenarios/README.md). Each builds its lab
on loopback (PBX 127.20.0.1, recorder 127.20.0.2, phones 127.20.1.x), runs
its steps, prints each step with its narration, every message as it flows
and PASS/FAIL per check with the reason. --net 127.21 moves the lab to
127.21.x.x, beside another lab on 127.20.

Every file is read and checked before any lab starts: a broken one is
refused with file:line:column and what was expected there.

--net-delay 0-300ms --seed 3 plays the stories on a network with latency:
each link (PBX → recorder, 7434 → recorder, recorder → 7434, …) gets its
own fixed delay from the range, drawn with the seed, plus a jitter of up
to a tenth of it; SIP, RTP, CSTA and HTTP alike. A story's flow differs
only in timing, and its recordings still hold every packet.

Writes to DIR: lab.pcapng, trace.txt, trace.jsonl (one event a line), flow.md
(Mermaid sequence diagram), report.md, recordings/*.wav with a .json each,
and config/*.cfg (the phones' configuration files).

Exit status: 0 all checks passed, 1 a check failed, 2 usage, a broken
scenario file, an --out that cannot be written or the lab's addresses in
use (said before any lab starts), 3 lab failure.

Flags:`)
		fs.PrintDefaults()
	}
	names, err := parseAmongNames(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if *speed <= 0 {
		fmt.Fprintf(stderr, "reclab run: --speed %g: want a factor above 0\n", *speed)
		return exitUsage
	}
	var hep netip.AddrPort
	var delays sim.LinkDelays
	hep, delays, err = labFlags(*hepFlag, *out, *netDelay, *seed)
	if err != nil {
		fmt.Fprintf(stderr, "reclab run: %v\n", err)
		return exitUsage
	}
	plan, err := parseNet(netArg)
	if err != nil {
		fmt.Fprintf(stderr, "reclab run: %v\n", err)
		return exitUsage
	}
	var list []*scenarios.Scenario
	if *all {
		lib, err := scenarios.Library()
		if err != nil {
			fmt.Fprintln(stderr, "reclab run:", err)
			return exitLabFail
		}
		list = lib
	}
	named, ok := loadStories(names, stderr)
	if !ok {
		return exitUsage
	}
	list = append(list, named...)
	if len(list) == 0 {
		fmt.Fprintln(stderr, "reclab run: name a scenario, a scenario file or --all; 'reclab list' shows the library")
		return exitUsage
	}
	// Another lab on the same addresses is said before any lab starts.
	if err := plan.free(); err != nil {
		fmt.Fprintf(stderr, "reclab run: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	code := exitOK
	var summary []string
	for _, s := range list {
		dir := filepath.Join("out", s.Name)
		if *out != "" {
			dir = *out
			if len(list) > 1 {
				dir = filepath.Join(*out, s.Name)
			}
		}
		res, err := scenarios.Execute(ctx, s, scenarios.Options{OutDir: dir, Log: stdout, Speed: *speed, HEP: hep, NetDelay: delays, Topology: plan.place})
		if res.Started {
			pcaps := "lab.pcapng"
			if _, err := os.Stat(filepath.Join(dir, lab.DecryptedPcapName)); err == nil {
				pcaps += " " + lab.DecryptedPcapName // SRTP in the clear (spec §1.3)
			}
			fmt.Fprintf(stdout, "\nwrote %s: %s trace.txt trace.jsonl flow.md report.md recordings/\n", dir, pcaps)
		}
		verdict := "PASS"
		if err != nil {
			verdict = "FAIL"
			c := exitFailed
			if !res.Started {
				// Not a failed check: the story never ran (issue 19).
				verdict, c = "NOT RUN (the lab did not start)", exitLabFail
				var inUse *addrInUseError
				if err = plan.inUse(err); errors.As(err, &inUse) {
					c = exitUsage
				}
			}
			fmt.Fprintln(stderr, "reclab run:", err)
			code = max(code, c)
		}
		summary = append(summary, fmt.Sprintf("%s: %s", s.Name, verdict))
		fmt.Fprintf(stdout, "%s: %s\n", s.Name, verdict)
		if ctx.Err() != nil {
			break
		}
	}
	if len(summary) > 1 {
		fmt.Fprintln(stdout)
		for _, l := range summary {
			fmt.Fprintln(stdout, l)
		}
	}
	return code
}

// parseAmongNames parses fs's flags before, between and after the names
// (reclab run basic-call --out DIR) and returns the names.
func parseAmongNames(fs *flag.FlagSet, args []string) ([]string, error) {
	var names []string
	rest := args
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		rest = fs.Args()
		if len(rest) > 0 {
			names = append(names, rest[0])
			rest = rest[1:]
		}
	}
	return names, nil
}

// loadStories reads and checks each named story as before any lab starts
// (scenarios.Load, then Preflight), printing every problem to stderr; ok
// is false when any was broken.
func loadStories(names []string, stderr io.Writer) (list []*scenarios.Scenario, ok bool) {
	ok = true
	for _, n := range names {
		s, err := scenarios.Load(n)
		if err == nil {
			err = scenarios.Preflight(s)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			ok = false
			continue
		}
		list = append(list, s)
	}
	return list, ok
}

// parseHEP reads --hep: "" for none, else a loopback ADDR:PORT.
func parseHEP(v string) (netip.AddrPort, error) {
	if v == "" {
		return netip.AddrPort{}, nil
	}
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		return ap, fmt.Errorf("--hep %q: want ADDR:PORT, e.g. 127.0.0.1:9060", v)
	}
	if !ap.Addr().IsLoopback() {
		return ap, fmt.Errorf("--hep %s: the collector must be on loopback (127.0.0.0/8)", v)
	}
	return ap, nil
}

// writableDir checks that dir ("" is "out") can be made and written,
// without making it: a file is made and removed in its nearest existing
// ancestor, which must be a directory.
func writableDir(dir string) error {
	if dir == "" {
		dir = "out"
	}
	at := dir
	for {
		fi, err := os.Stat(at)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", at)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		parent := filepath.Dir(at)
		if parent == at {
			return err
		}
		at = parent
	}
	f, err := os.CreateTemp(at, ".reclab-write-check-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", at, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// labFlags reads the flags run and tui share: --hep, --out (writable, said
// before any lab starts; issue 19: a read-only --out claimed files it
// never wrote, and the TUI said "tui: tui: mkdir…") and --net-delay with
// --seed.
func labFlags(hepFlag, out, netDelay string, seed int64) (netip.AddrPort, sim.LinkDelays, error) {
	var delays sim.LinkDelays
	hep, err := parseHEP(hepFlag)
	if err != nil {
		return hep, delays, err
	}
	if err := writableDir(out); err != nil {
		return hep, delays, fmt.Errorf("--out %s: %w", out, err)
	}
	if netDelay != "" {
		if delays, err = sim.ParseLinkDelays(netDelay, seed); err != nil {
			return hep, delays, fmt.Errorf("--net-delay: %w", err)
		}
	}
	return hep, delays, nil
}
