package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/lab"
)

// Scenario is one lab story: a topology, the steps that drive it and the
// checks that decide whether it passed.
type Scenario struct {
	Name        string
	Section     string // the spec section it shows, e.g. "§3.2"
	Description string
	Topology    func() lab.Topology
	Run         func(r *Run) error
}

var library = map[string]*Scenario{}

func register(s *Scenario) { library[s.Name] = s }

// Get finds a library scenario by name.
func Get(name string) (*Scenario, error) {
	if s, ok := library[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("scenarios: no scenario %q; known: %s", name, strings.Join(Names(), ", "))
}

// Names lists the library, sorted.
func Names() []string {
	var out []string
	for n := range library {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Run is one execution of a scenario against a live lab.
type Run struct {
	Scenario *Scenario
	Lab      *lab.Lab
	Ctx      context.Context
	Out      string
	log      io.Writer
	failures []string
}

// Say narrates a step.
func (r *Run) Say(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.Lab.Net.Note("scenario", "%s", msg)
}

// Check records a check's outcome.
func (r *Run) Check(ok bool, what string, format string, args ...any) {
	if ok {
		fmt.Fprintf(r.log, "PASS  %s\n", what)
		return
	}
	reason := fmt.Sprintf(format, args...)
	fmt.Fprintf(r.log, "FAIL  %s: %s\n", what, reason)
	r.failures = append(r.failures, what+": "+reason)
}

// Wait blocks until the n-th event that matches, or fails after timeout
// with what it waited for.
func (r *Run) Wait(w *sim.Watch, timeout time.Duration, what string) (sim.Event, error) {
	ctx, cancel := context.WithTimeout(r.Ctx, timeout)
	defer cancel()
	e, err := w.Wait(ctx)
	if err != nil {
		return e, fmt.Errorf("waited %s for %s: %w", timeout, what, err)
	}
	return e, nil
}

// Options for Execute.
type Options struct {
	OutDir string
	Log    io.Writer // where the flow and the check results are printed; nil for none
}

// Result of a run.
type Result struct {
	Failures []string
	Trace    string // path of trace.txt
	Pcap     string
}

// Execute builds the scenario's lab, runs it, prints every trace event as it
// happens (to opt.Log and OutDir/trace.txt), and returns what failed.
func Execute(ctx context.Context, s *Scenario, opt Options) (Result, error) {
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("scenarios: %w", err)
	}
	res := Result{Trace: filepath.Join(opt.OutDir, "trace.txt"), Pcap: filepath.Join(opt.OutDir, "lab.pcap")}
	tf, err := os.Create(res.Trace)
	if err != nil {
		return res, fmt.Errorf("scenarios: %w", err)
	}
	defer tf.Close()

	l, err := lab.Build(s.Topology(), lab.Options{OutDir: opt.OutDir, Pcap: true})
	if err != nil {
		return res, err
	}
	// The printer is a blocking subscriber: trace.txt must hold every line.
	sub := l.Net.Trace().Subscribe(4096, true)
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		w := io.MultiWriter(tf, opt.Log)
		for e := range sub.C {
			fmt.Fprintln(w, e.String())
		}
	}()
	r := &Run{Scenario: s, Lab: l, Ctx: ctx, Out: opt.OutDir, log: opt.Log}
	fmt.Fprintf(opt.Log, "scenario %s (spec %s): %s\n", s.Name, s.Section, s.Description)
	runErr := s.Run(r)
	closeErr := l.Close()
	<-printed
	if runErr != nil {
		r.failures = append(r.failures, runErr.Error())
		fmt.Fprintf(opt.Log, "FAIL  %v\n", runErr)
	}
	if closeErr != nil {
		r.failures = append(r.failures, "closing the lab: "+closeErr.Error())
	}
	res.Failures = r.failures
	if len(r.failures) == 0 {
		return res, nil
	}
	return res, errors.New("scenarios: " + strings.Join(r.failures, "; "))
}
