package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reclab/reclab/cmd/reclab/classroom"
	"github.com/reclab/reclab/cmd/reclab/tui"
	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/sim"
)

// cmdClassroom serves the terminal UI of one lab over SSH to an instructor
// and trainees (issue 18; cmd/reclab/classroom).
func cmdClassroom(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("classroom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:2222", "the SSH server's `ADDR:PORT`: on 127.0.0.0/8, or an address the lab file names (split mode)")
	keys := fs.String("authorized-keys", "", "`FILE` of the public keys that may connect (authorized_keys format): trainees, who watch")
	instr := fs.String("instructor", "", "the instructor's key(s), who drive the lab: a public key `FILE` (authorized_keys format) or SHA256:… fingerprints, comma separated, of keys in --authorized-keys")
	out := fs.String("out", filepath.Join("out", "classroom"), "base `DIR`: the host key (DIR/ssh_host_ed25519, kept across starts) and each start's DIR/<timestamp>/ (lab.pcapng, recordings/, exports)")
	var netArg string
	netFlag(fs, &netArg)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: reclab classroom [LAB.yaml] --authorized-keys FILE --instructor FILE|SHA256:… [--listen 127.0.0.1:2222] [--out DIR] [--net 127.N]

Serves the terminal UI over SSH: one lab (the default one, or LAB.yaml's),
one screen per SSH connection, each with its own size, focus, scroll,
filters and Detail selection. Only the keys of --authorized-keys and
--instructor get in.

The instructor's keys drive the lab: every action of the UI. A trainee's
keys browse; their actions are refused with a note, unless the instructor
hands them the controls: ctrl+o hands them to the next trainee, ctrl+r
takes them back. Step mode (H, .) and the lab clock (+, -) stay the
instructor's; everyone sees the same step. A trainee follows the
instructor's selection; ctrl+f toggles browsing freely.

A slow or vanished client never slows the lab or the other screens: its
screen drops frames. The host key is made in DIR once and its fingerprint
printed at start. A scenario the instructor runs (s) replaces the lab on
every screen, its narration in each Log pane and its step on the last
line; back (b) replays as such a scenario; the mapping switch (m) is not
served here yet.

  ssh-keygen -t ed25519 -f teacher -N ''; ssh-keygen -t ed25519 -f pupil -N ''
  cat pupil.pub > trainees
  reclab classroom --authorized-keys trainees --instructor teacher.pub
  ssh -t -i teacher -p 2222 127.0.0.1        # the instructor
  ssh -t -i pupil -p 2222 127.0.0.1          # each trainee

Flags:`)
		fs.PrintDefaults()
	}
	// The lab file anywhere among the flags.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return flagExit(err)
		}
		if fs.NArg() == 0 {
			break
		}
		files, args = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	if len(files) > 1 {
		fmt.Fprintln(stderr, "reclab classroom: name at most one lab file (LAB.yaml)")
		return exitUsage
	}
	fail := func(code int, err error) int {
		fmt.Fprintln(stderr, "reclab classroom:", err)
		return code
	}
	if *keys == "" || *instr == "" {
		return fail(exitUsage, fmt.Errorf("--authorized-keys FILE and --instructor name who gets in and who drives"))
	}
	trainees, err := classroom.LoadKeys(*keys)
	if err != nil {
		return fail(exitUsage, fmt.Errorf("--authorized-keys: %w", err))
	}
	instructors, trainees, err := instructorKeys(*instr, trainees)
	if err != nil {
		return fail(exitUsage, fmt.Errorf("--instructor: %w", err))
	}
	plan, err := parseNet(netArg)
	if err != nil {
		return fail(exitUsage, err)
	}
	topo := lab.UIDefault()
	plan.place(&topo)
	if len(files) == 1 {
		src, err := os.ReadFile(files[0])
		if err != nil {
			return fail(exitUsage, err)
		}
		lf, err := lab.ParseLabFile(files[0], src)
		if err == nil {
			lf.Topology.Split.Run, _ = lab.ParseNodes(strings.Join(lab.NodeKinds, ","))
			plan.placeDefaults(&lf.Topology)
			err = lab.Check(lf.Topology)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		lab.SetSIPTimers(lf.SIPT1)
		topo = lf.Topology
	} else if err := plan.free(); err != nil {
		return fail(exitUsage, err)
	}
	if err := listenAllowed(*listen, topo); err != nil {
		return fail(exitUsage, err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail(exitLabFail, err)
	}
	session, err := tui.SessionDir(*out, time.Now())
	if err != nil {
		return fail(exitLabFail, err)
	}
	l, err := lab.Build(topo, lab.Options{OutDir: session, Pcap: true, Clock: sim.NewScaledClock(1)})
	if err != nil {
		return fail(exitLabFail, plan.inUse(err))
	}
	closeLab := sync.OnceValue(l.Close)
	defer closeLab()
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	if err := l.Start(ctx); err != nil {
		return fail(exitLabFail, err)
	}
	srv, err := classroom.New(ctx, classroom.Config{Lab: classroom.Closing(tui.NewLabBackend(l, session), closeLab),
		HostKey: filepath.Join(*out, "ssh_host_ed25519"), Trainees: trainees, Instructors: instructors,
		Scenarios: tui.Library(session, plan.place), Relab: tui.Relabber(topo, session, lab.Options{})})
	if err != nil {
		return fail(exitLabFail, err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail(exitLabFail, err)
	}
	fmt.Fprintf(stdout, "classroom: lab up (%d phones), files in %s\n", len(l.Phones), session)
	fmt.Fprintf(stdout, "host key %s %s\n", filepath.Join(*out, "ssh_host_ed25519"), srv.Fingerprint)
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Fprintf(stdout, "ready: ssh -t -i KEY -p %s %s   (%d instructor key(s), %d trainee key(s)); Ctrl-C ends the class\n", port, host, len(instructors), len(trainees))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-done:
	}
	srv.Close()
	if cerr := closeLab(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(exitLabFail, err)
	}
	fmt.Fprintf(stdout, "class ended; pcap, recordings and exports are in %s\n", session)
	return exitOK
}

// instructorKeys reads --instructor: a public key file, or SHA256
// fingerprints of keys among the trainees' (which then are no trainee's).
func instructorKeys(v string, trainees []gossh.PublicKey) (instructors, rest []gossh.PublicKey, err error) {
	if !strings.HasPrefix(v, "SHA256:") {
		k, err := classroom.LoadKeys(v)
		return k, trainees, err
	}
	want := map[string]bool{}
	for _, fp := range strings.Split(v, ",") {
		want[strings.TrimSpace(fp)] = true
	}
	for _, k := range trainees {
		if fp := gossh.FingerprintSHA256(k); want[fp] {
			instructors = append(instructors, k)
			delete(want, fp)
		} else {
			rest = append(rest, k)
		}
	}
	for fp := range want {
		return nil, nil, fmt.Errorf("%s is no key of --authorized-keys", fp)
	}
	return instructors, rest, nil
}

// listenAllowed is the rule of every address reclab uses: 127.0.0.0/8, or
// in split mode an address the lab file names (lab.Check's rule for the
// nodes, here for the SSH server).
func listenAllowed(v string, t lab.Topology) error {
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		return fmt.Errorf("--listen %q: want ADDR:PORT, e.g. 127.0.0.1:2222", v)
	}
	if ap.Addr().IsLoopback() {
		return nil
	}
	if t.Split.Allow {
		named := []netip.Addr{t.PBXAddr, t.RecorderAddr}
		for i := range t.Phones {
			named = append(named, t.Phones[i].Addr)
		}
		for _, a := range named {
			if a == ap.Addr() {
				return nil
			}
		}
	}
	return fmt.Errorf("--listen %s is outside 127.0.0.0/8: only an address the lab file names (split mode) may be used", v)
}
