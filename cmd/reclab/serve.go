package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/scenarios"
	"github.com/reclab/reclab/sim"
)

// loadLabFile reads and checks a lab file for the node kinds run (from
// --nodes), its default addresses moved by plan (--net): serve's and tui's.
func loadLabFile(file string, run []string, plan addressPlan) (lab.LabFile, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return lab.LabFile{}, fmt.Errorf("lab: %w", err)
	}
	lf, err := lab.ParseLabFile(file, src)
	if err != nil {
		return lab.LabFile{}, err
	}
	lf.Topology.Split.Run = run
	plan.placeDefaults(&lf.Topology)
	if err := lab.Check(lf.Topology); err != nil {
		return lab.LabFile{}, err
	}
	return lf, nil
}

// cmdServe runs the chosen nodes of a lab file until SIGTERM or Ctrl-C:
// split mode (README "Split mode"). The nodes it does not run are peers at
// the file's addresses: another `reclab serve` or a real PBX, recorder or
// phone.
func cmdServe(args []string, stdout, stderr io.Writer) int {
	return serve(args, os.Stdin, stdout, stderr)
}

func serve(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.String("nodes", strings.Join(lab.NodeKinds, ","), "the node kinds this process runs, `LIST` of pbx, phones, recorder; the others are peers at the file's addresses")
	out := fs.String("out", filepath.Join("out", "serve"), "output directory: lab.pcapng, trace.txt, trace.jsonl, recordings/, config/")
	jsonOut := fs.Bool("json", false, "print the flow as JSON lines (trace.jsonl's form) instead of text")
	hepFlag := hepFlag(fs)
	answer := fs.Bool("answer", false, "the phones run here answer every call as it rings (a farm for load runs)")
	var netV string
	netFlag(fs, &netV)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: reclab serve LAB.yaml [--nodes pbx,phones,recorder] [--out DIR] [--json] [--net 127.N]

Runs the nodes of a lab file (the scenario format's lab:, with the
addresses and peers of split mode: README "Split mode") until SIGTERM or
Ctrl-C, printing every message as it flows, as 'reclab run' does, and
writing the pcap, the trace and the recordings to DIR. The nodes it does
not run are peers at the file's addresses: another 'reclab serve', or a
node the file marks external: a real PBX, recorder or phone.

Addresses outside 127.0.0.0/8 are used only here, and only those the file
names. It prints "ready:" once every phone it runs is registered (and its
recorder monitors), and stops cleanly: recordings, trace and pcap closed.

Commands on standard input, one a line, act on the phones run here:
  dial PHONE NUMBER    answer PHONE    hang-up PHONE
(PHONE: a name or an extension). End of input changes nothing. With
--answer the phones answer every call themselves.

--nodes phones:FARM runs only the phones of one farm of the file, so each
farm of a load run is a process of its own.

--net 127.21 moves the addresses the file leaves to the default plan (PBX,
recorder, phone base) to 127.21.x.x, so a served lab runs beside another;
addresses the file names stay as they are.

Exit status: 0 stopped by a signal, 2 usage or a broken lab file, 3 the
lab could not be built or started.

Flags:`)
		fs.PrintDefaults()
	}
	// The file first or last: reclab serve lab.yaml --nodes pbx.
	var files []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		files, args = args[:1], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	files = append(files, fs.Args()...)
	if len(files) != 1 {
		fmt.Fprintln(stderr, "reclab serve: name one lab file (LAB.yaml)")
		return exitUsage
	}
	run, err := lab.ParseNodes(*nodes)
	if err != nil {
		fmt.Fprintf(stderr, "reclab serve: --nodes %s: %v\n", *nodes, err)
		return exitUsage
	}
	hep, _, err := labFlags(*hepFlag, *out, "", 0)
	if err != nil {
		fmt.Fprintf(stderr, "reclab serve: %v\n", err)
		return exitUsage
	}
	plan, err := parseNet(netV)
	if err != nil {
		fmt.Fprintf(stderr, "reclab serve: %v\n", err)
		return exitUsage
	}
	lf, err := loadLabFile(files[0], run, plan)
	if err != nil {
		fmt.Fprintln(stderr, err) // it names the file, the place and what was wrong
		return exitUsage
	}
	lab.SetSIPTimers(lf.SIPT1)
	l, err := lab.Build(lf.Topology, lab.Options{OutDir: *out, Pcap: true, HEP: hep})
	if err != nil {
		fmt.Fprintln(stderr, "reclab serve:", err)
		return exitLabFail
	}
	if *answer {
		autoAnswer(l)
	}
	printed, err := printFlow(l.Net.Trace(), *out, stdout, *jsonOut)
	if err != nil {
		l.Close()
		fmt.Fprintln(stderr, "reclab serve:", err)
		return exitLabFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	code := exitOK
	began := time.Now()
	if err := l.Start(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "reclab serve:", err)
		code = exitLabFail
	} else if ctx.Err() == nil {
		st := ServeState{Ready: true, Nodes: run, Phones: len(l.Phones), Took: time.Since(began).Round(time.Millisecond).String()}
		l.Net.Note("serve", "%s", st)
		l.Net.PublishState("serve", st)
		go control(ctx, l, stdin, stderr)
		<-ctx.Done()
		l.Net.Note("serve", "stopping: %v", context.Cause(ctx))
	}
	if err := l.Close(); err != nil {
		fmt.Fprintln(stderr, "reclab serve: closing the lab:", err)
	}
	<-printed
	fmt.Fprintf(stderr, "wrote %s: lab.pcapng trace.txt trace.jsonl recordings/ config/\n", *out)
	return code
}

// printFlow prints every event of the trace as it flows (text as `reclab
// run` prints it, or JSON lines) and writes trace.txt and trace.jsonl in
// dir. The returned channel closes once the trace has closed and all is
// written.
func printFlow(t *sim.Trace, dir string, w io.Writer, jsonLines bool) (<-chan struct{}, error) {
	tf, err := os.Create(filepath.Join(dir, "trace.txt"))
	if err != nil {
		return nil, err
	}
	jf, err := os.Create(filepath.Join(dir, "trace.jsonl"))
	if err != nil {
		tf.Close()
		return nil, err
	}
	sub := t.Subscribe(4096, true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer tf.Close()
		defer jf.Close()
		// Flushed after each event the subscription had ready, so a
		// served lab's files and output keep up while it idles.
		tw, jw, ow := bufio.NewWriter(tf), bufio.NewWriter(jf), bufio.NewWriter(w)
		flush := func() { tw.Flush(); jw.Flush(); ow.Flush() }
		defer flush()
		for e := range sub.C {
			// A state event is the typed twin of a note: its value goes to
			// the JSON; the text has the note's words.
			if e.Kind != sim.KindState {
				fmt.Fprintln(tw, e.String())
				if !jsonLines {
					fmt.Fprintln(ow, e.String())
				}
			}
			scenarios.WriteJSONL(jw, e)
			if jsonLines {
				scenarios.WriteJSONL(ow, e)
			}
			if len(sub.C) == 0 {
				flush()
			}
		}
	}()
	return done, nil
}

// control reads commands on stdin (`dial PHONE NUMBER`, `answer PHONE`,
// `hang-up PHONE`) and acts on the phones run here; a bad line is said on
// stderr with what was wrong. End of input ends only the reading.
func control(ctx context.Context, l *lab.Lab, stdin io.Reader, stderr io.Writer) {
	sc := bufio.NewScanner(stdin)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		fail := func(err error) { fmt.Fprintf(stderr, "reclab serve: stdin:%d: %s: %v\n", n, f[0], err) }
		want := map[string]int{"dial": 3, "answer": 2, "hang-up": 2}[f[0]]
		if want == 0 {
			fail(fmt.Errorf("unknown command; commands: dial PHONE NUMBER, answer PHONE, hang-up PHONE"))
			continue
		}
		if len(f) != want {
			fail(fmt.Errorf("want %d arguments, got %d", want-1, len(f)-1))
			continue
		}
		ph, err := l.Phone(f[1])
		if err != nil {
			fail(err)
			continue
		}
		switch f[0] {
		case "dial":
			err = ph.Dial(ctx, f[2])
		case "answer":
			err = ph.Answer()
		case "hang-up":
			err = ph.HangUp(ctx)
		}
		if err != nil {
			fail(err)
		}
	}
}

// ServeState is a served lab's: ready once every phone it runs registered
// and its recorder monitors (Took: since the start). Scripts and tests wait
// for it in `--json` output (state_type main.ServeState).
type ServeState struct {
	Ready  bool     `json:"ready"`
	Nodes  []string `json:"nodes"`
	Phones int      `json:"phones"`
	Took   string   `json:"took"`
}

func (s ServeState) String() string {
	return fmt.Sprintf("ready: %s; %d phones registered in %s", strings.Join(s.Nodes, ", "), s.Phones, s.Took)
}

// autoAnswer makes the lab's phones answer each call as it rings
// (`--answer`). It reads the typed call states; each answer goes on a
// goroutine of its own so that the trace's reader never waits on a phone.
func autoAnswer(l *lab.Lab) {
	sub := l.Net.Trace().Subscribe(4096, true)
	go func() {
		for e := range sub.C {
			if st, ok := e.State.(phones.CallChanged); ok && st.State == phones.CallRinging {
				if ph, err := l.Phone(st.Phone); err == nil {
					go ph.Answer()
				}
			}
		}
	}()
}
