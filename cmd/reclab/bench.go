package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/sim"
)

// benchConfig is `reclab bench`'s command line.
type benchConfig struct {
	phones     int
	calls      int
	monitored  float64
	duration   time.Duration
	mapping    string
	baseline   bool
	out        string
	cpuprofile string
	memprofile string
	workers    int
	net        string // first two bytes of the lab's addresses, "127.20"
	setup      bool   // signalling only: no RTP, set-up and tear-down figures
	vsSIPp     bool   // also run SIPp's uac → uas and print the ratio
	pcap       bool   // write DIR/lab.pcapng, so its cost is in the figures
	sippRate   int    // SIPp's -r
	sippCalls  int    // SIPp's -m
}

// addrs is the bench lab's address plan under --net (netflag.go), so a
// bench can run beside other labs on the same host.
func (c benchConfig) addrs() (pbx, rec, phone netip.Addr, err error) {
	p, err := parseNet(c.net)
	return p.pbx, p.recorder, p.phoneBase, err
}

func (c benchConfig) validate() error {
	switch {
	case c.phones < 2:
		return fmt.Errorf("--phones %d: want at least 2", c.phones)
	case c.phones > lab.BenchMaxPhones:
		return fmt.Errorf("--phones %d: at most %d fit in 127.20.1.1 … 127.20.255.254", c.phones, lab.BenchMaxPhones)
	case c.calls < 0 || 2*c.calls > c.phones:
		return fmt.Errorf("--calls %d: want 0 … %d (each call takes two of the %d phones)", c.calls, c.phones/2, c.phones)
	case c.monitored < 0 || c.monitored > 1:
		return fmt.Errorf("--monitored %g: want a fraction 0 … 1", c.monitored)
	case c.duration <= 0:
		return fmt.Errorf("--duration %s: want more than 0", c.duration)
	case c.mapping != "dynamic" && c.mapping != "static":
		return fmt.Errorf("--mapping %q: want dynamic or static", c.mapping)
	case c.net == "":
		return errors.New("--net is empty")
	case c.workers < 1:
		return fmt.Errorf("--workers %d: want at least 1", c.workers)
	case c.sippRate < 1:
		return fmt.Errorf("--sipp-rate %d: want at least 1", c.sippRate)
	case c.sippCalls < 1:
		return fmt.Errorf("--sipp-calls %d: want at least 1", c.sippCalls)
	}
	return nil
}

const benchUsage = `Usage: reclab bench [flags]

Builds a lab of N phones (p10001, p10002, … on 127.20.1.1 upwards, extensions
10001 …, alternately 7434 and 6867i), registers them, sets up the calls (phone
i dials phone calls+i, which answers), lets them talk with real-time 20 ms RTP
for the duration, hangs up and prints figures: registration rate, recording-
session set-up rate and latency (INVITE → 200 → ACK, BYE → 200, from the
trace's lab-clock times), RTP packets per second sent, forked, recorded and
lost, CPU per wall second, peak RSS and heap per idle registered phone.
No pcap is written; recordings go to DIR/recordings (about 32 KB per
recorded party and second: delete DIR afterwards).

--baseline then runs the same number of 50-packet-per-second streams over
plain loopback UDP sockets with nothing else, twice: naive (one sender
socket, goroutine and ticker, one reader goroutine per stream), then the
batched probe (one pacer of 4 goroutines per core, a sending socket per 3
streams as a talking phone's call socket, each socket's packets of a
period in one sendmmsg, one reader per stream). It prints the lab's
figures as ratios to both; issue 14's target is the lab at 1.8 of the
naive baseline's packets per CPU-second. Last it measures the loopback
floor: one socket pair moving 64 datagrams per sendmmsg and recvmmsg, the
least CPU this machine's kernel takes per datagram, and the cores the
lab's load needs at that cost.

--setup measures recording-session set-up and tear-down alone: the phones
send no RTP, the calls hang up as soon as every session is up, and the
figures are sessions per second (first INVITE to last ACK; first BYE to
last 200) with INVITE→ACK and BYE→200 percentiles. --vs-sipp then runs
SIPp's built-in scenarios, sipp -sn uas and sipp -sn uac (--sipp-calls
calls at --sipp-rate per second), on loopback in the same command and
prints the lab's set-up rate over SIPp's calls per second; without sipp
on PATH it says so. --setup also measures what creating a file costs in
DIR (500 small files from one goroutine, removed afterwards): a recording
session creates five, so the filesystem bounds the set-up rate.

--pcap writes DIR/lab.pcapng (about 230 bytes per RTP packet: 550–850 MB
for 20 s of 500 calls) so the capture's cost is measured, and prints how
many packets the capture dropped.

Flags:`

func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c benchConfig
	fs.IntVar(&c.phones, "phones", 1000, "phones in the lab")
	fs.IntVar(&c.calls, "calls", 500, "concurrent calls (each takes two phones)")
	fs.Float64Var(&c.monitored, "monitored", 1, "fraction of the phones the recorder monitors")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "how long the calls talk")
	fs.StringVar(&c.mapping, "mapping", "dynamic", "recording mapping: dynamic or static (spec §3.1)")
	fs.BoolVar(&c.baseline, "baseline", false, "also run plain loopback streams and print ratios")
	fs.StringVar(&c.out, "out", "out/bench", "output directory (recordings, phone configs)")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the lab run to this file")
	fs.StringVar(&c.memprofile, "memprofile", "", "write a heap profile, taken once every phone is registered, to this file")
	fs.IntVar(&c.workers, "workers", 64, "registrations and dials in flight at once")
	fs.BoolVar(&c.setup, "setup", false, "measure recording-session set-up and tear-down with no RTP flowing")
	fs.BoolVar(&c.vsSIPp, "vs-sipp", false, "also run SIPp's -sn uac → -sn uas on loopback and print set-up / SIPp")
	fs.BoolVar(&c.pcap, "pcap", false, "write DIR/lab.pcapng while the lab runs (its cost is then in the figures)")
	fs.IntVar(&c.sippRate, "sipp-rate", 5000, "--vs-sipp: SIPp's call rate (-r), calls per second")
	fs.IntVar(&c.sippCalls, "sipp-calls", 20000, "--vs-sipp: SIPp's number of calls (-m)")
	netFlag(fs, &c.net)
	fs.Usage = func() {
		fmt.Fprintln(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "reclab bench: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(stderr, "reclab bench:", err)
		return exitUsage
	}
	if _, _, _, err := c.addrs(); err != nil {
		fmt.Fprintln(stderr, "reclab bench:", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()

	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "reclab bench:", err)
			return exitUsage
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "reclab bench:", err)
			return exitUsage
		}
	}
	res, err := runBench(ctx, c, stdout)
	if c.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		fmt.Fprintln(stderr, "reclab bench:", err)
		return exitLabFail
	}
	res.print(stdout, c)
	if c.setup {
		per, err := runCreateCost(c.out, createCostFiles)
		if err != nil {
			fmt.Fprintln(stderr, "reclab bench: file creation:", err)
			return exitLabFail
		}
		printCreateCost(stdout, c.out, per)
	}
	if c.vsSIPp {
		fmt.Fprintf(stdout, "\nSIPp: %d calls of sipp -sn uac → sipp -sn uas at -r %d on loopback …\n", c.sippCalls, c.sippRate)
		if err := compareSIPp(ctx, c, res, stdout); err != nil {
			fmt.Fprintln(stderr, "reclab bench: SIPp:", err)
			return exitLabFail
		}
	}
	if c.baseline {
		fmt.Fprintf(stdout, "\nbaseline: %d streams of 50 packets/s over plain loopback UDP for %s, naive (a socket, goroutine and ticker per stream), then batched (one pacer, a socket per %d streams, sendmmsg) …\n",
			res.streams, c.duration, probeFanout)
		naive, err := runBaseline(ctx, res.streams, c.duration, false)
		if err != nil {
			fmt.Fprintln(stderr, "reclab bench: baseline:", err)
			return exitLabFail
		}
		probe, err := runBaseline(ctx, res.streams, c.duration, true)
		if err != nil {
			fmt.Fprintln(stderr, "reclab bench: batched probe:", err)
			return exitLabFail
		}
		naive.print(stdout, res, capacityTarget)
		probe.print(stdout, res, 0)
		fmt.Fprintf(stdout, "  probe / baseline     %.2f packets per CPU-second: the most batching buys on this machine in the lab's shape\n",
			(float64(probe.sent)/probe.window.Seconds()/probe.cpuPerSecond)/(float64(naive.sent)/naive.window.Seconds()/naive.cpuPerSecond))
		floor, err := runFloor(ctx, min(c.duration, 5*time.Second))
		if err != nil {
			fmt.Fprintln(stderr, "reclab bench:", err)
			return exitLabFail
		}
		floor.print(stdout, res)
	}
	return exitOK
}

// benchResult is what a lab run measured.
type benchResult struct {
	phones, monitored, calls int
	streams                  int // RTP streams while talking: 2 per call + 2 per recorded party

	registerTime  time.Duration
	heapPerPhone  float64 // bytes
	stackPerPhone float64
	goroutines    int // after registration

	allSessionsAfter time.Duration // since the first dial
	allSinceRegister time.Duration // since the first REGISTER
	sessionsWanted   int
	sessionsUp       int
	setup            setupFigures
	callsTalking     int
	callSetupTime    time.Duration
	hangUpTime       time.Duration // every caller's BYE answered

	window                     time.Duration
	sent, forked, farReceived  uint64 // during the talk window
	totalForked                uint64 // whole run
	recorded, lost, unrecorded int64  // whole run, from the recordings' sidecars
	late, files                int64
	cpuPerSecond               float64 // during the talk window
	maxRSS                     int64   // bytes, whole process
	traceLost, errors          uint64
	firstErrors                []string
	byeWanted                  int
	pcapDropped                uint64 // --pcap: packets the capture could not keep up with
}

// setupFigures are the recording sessions' set-up and tear-down times.
type setupFigures struct {
	invite200, inviteACK, bye200 []time.Duration
	first, last                  time.Duration // first INVITE, last ACK (lab clock)
	started                      bool          // first is set
	byeFirst, byeLast            time.Duration // first BYE, last 200 to a BYE
	byeStarted                   bool          // byeFirst is set
}

// rate is the sessions set up per second, first INVITE to last ACK; 0
// with none.
func (s setupFigures) rate() float64 {
	if len(s.inviteACK) == 0 || s.last <= s.first {
		return 0
	}
	return float64(len(s.inviteACK)) / (s.last - s.first).Seconds()
}

func (r *benchResult) print(w io.Writer, c benchConfig) {
	talk := c.duration.String() + " talk"
	if c.setup {
		talk = "set-up and tear-down only (--setup)"
	}
	if c.pcap {
		talk += ", pcap on"
	}
	fmt.Fprintf(w, "\nreclab bench: %d phones, %d calls, %d monitored, %s mapping, %s, GOMAXPROCS %d\n",
		r.phones, r.calls, r.monitored, c.mapping, talk, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "  registration         %d phones in %s: %.0f registrations/s\n",
		r.phones, r.registerTime.Round(time.Millisecond), float64(r.phones)/r.registerTime.Seconds())
	fmt.Fprintf(w, "  idle phone           %.1f KiB heap + %.1f KiB goroutine stacks per registered phone (%d goroutines)\n",
		r.heapPerPhone/1024, r.stackPerPhone/1024, r.goroutines)
	fmt.Fprintf(w, "  all sessions up      %d of %d recording sessions, the last %s after the first dial, %s after the first REGISTER\n",
		r.sessionsUp, r.sessionsWanted, r.allSessionsAfter.Round(time.Millisecond), r.allSinceRegister.Round(time.Millisecond))
	s := r.setup
	if n := len(s.inviteACK); n > 0 {
		span := s.last - s.first
		fmt.Fprintf(w, "  session set-up       %d sessions in %s: %.0f/s; INVITE→200 p50 %s p99 %s; INVITE→ACK p50 %s p99 %s\n",
			n, span.Round(time.Millisecond), float64(n)/span.Seconds(),
			pct(s.invite200, 50), pct(s.invite200, 99), pct(s.inviteACK, 50), pct(s.inviteACK, 99))
	}
	if n := len(s.bye200); n > 0 {
		fmt.Fprintf(w, "  session BYE          %d of %d answered; BYE→200 p50 %s p99 %s\n", n, r.byeWanted, pct(s.bye200, 50), pct(s.bye200, 99))
		if span := s.byeLast - s.byeFirst; span > 0 {
			fmt.Fprintf(w, "  session tear-down    %d sessions in %s: %.0f/s (first BYE to last 200)\n", n, span.Round(time.Millisecond), float64(n)/span.Seconds())
		}
	}
	fmt.Fprintf(w, "  calls                %d of %d talking %s after the first dial; all hung up in %s\n",
		r.callsTalking, r.calls, r.callSetupTime.Round(time.Millisecond), r.hangUpTime.Round(time.Millisecond))
	if c.pcap {
		fmt.Fprintf(w, "  pcap                 %s/lab.pcapng; %d packets not captured (the capture's ring was full)\n", c.out, r.pcapDropped)
	}
	if c.setup {
		fmt.Fprintf(w, "  RTP                  none (--setup: the phones send no RTP; the calls hang up once every session is up)\n")
		fmt.Fprintf(w, "  recorder (whole run) %d files\n", r.files)
		fmt.Fprintf(w, "  CPU                  peak RSS %.0f MiB\n", float64(r.maxRSS)/(1<<20))
		r.printTrace(w)
		return
	}
	secs := r.window.Seconds()
	fmt.Fprintf(w, "  RTP (talk window %s, %d streams)\n", r.window.Round(time.Millisecond), r.streams)
	fmt.Fprintf(w, "    sent by phones     %.0f packets/s\n", float64(r.sent)/secs)
	fmt.Fprintf(w, "    forked             %.0f packets/s\n", float64(r.forked)/secs)
	fmt.Fprintf(w, "    received by phones %.0f packets/s\n", float64(r.farReceived)/secs)
	fmt.Fprintf(w, "    total              %.0f packets/s (of %d expected at 50/s per stream)\n", float64(r.sent+r.forked)/secs, 50*r.streams)
	fmt.Fprintf(w, "  recorder (whole run) %d files, %d packets recorded of %d forked; lost (sequence gaps) %d, late %d, forked but not recorded %d\n",
		r.files, r.recorded, r.totalForked, r.lost, r.late, r.unrecorded)
	fmt.Fprintf(w, "  CPU                  %.2f cores (user+sys per wall second, talk window); peak RSS %.0f MiB\n",
		r.cpuPerSecond, float64(r.maxRSS)/(1<<20))
	r.printTrace(w)
}

func (r *benchResult) printTrace(w io.Writer) {
	fmt.Fprintf(w, "  trace                %d error events, %d events the bench's reader missed\n", r.errors, r.traceLost)
	for _, e := range r.firstErrors {
		fmt.Fprintf(w, "    %s\n", e)
	}
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	i = min(max(i-1, 0), len(s)-1)
	return s[i].Round(10 * time.Microsecond).String()
}

// benchWatcher reads the trace as it flows: it answers ringing callees,
// counts talking calls and calls up (the phones' CallChanged states), and pairs the recorder's INVITE, 200 and ACK (and
// BYE and 200) by Call-ID with their lab-clock times.
type benchWatcher struct {
	sub      *sim.Subscription
	byName   map[string]*phones.Phone
	callerOf map[string]*phones.Phone // callee's node name → the phone that dials it
	// hangOnTalk makes the watcher hang up each caller as soon as its
	// callee talks (static mapping's first calls); hangs waits for those.
	hangOnTalk atomic.Bool
	hangs      sync.WaitGroup
	done       chan struct{}
	changed    chan struct{} // gets a token whenever a count moved

	mu          sync.Mutex
	invite      map[string]time.Duration
	ok          map[string]time.Duration
	bye         map[string]time.Duration
	finished    map[string]bool // Call-IDs already measured: retransmissions do not count twice
	setup       setupFigures
	talking     int
	call        map[string]phones.CallState // by phone node name; absent: idle
	busy        int                         // phones whose call is not idle
	hungUp      int                         // callers the watcher hung up (hangOnTalk)
	lastTalking time.Duration
	errors      uint64
	firstErrors []string
}

func newBenchWatcher(l *lab.Lab, size, calls int) *benchWatcher {
	w := &benchWatcher{
		sub:      l.Net.Trace().Subscribe(size, false),
		byName:   map[string]*phones.Phone{},
		callerOf: map[string]*phones.Phone{},
		done:     make(chan struct{}),
		changed:  make(chan struct{}, 1),
		invite:   map[string]time.Duration{},
		ok:       map[string]time.Duration{},
		bye:      map[string]time.Duration{},
		finished: map[string]bool{},
		call:     map[string]phones.CallState{},
	}
	for _, p := range l.Phones {
		w.byName[p.Name()] = p
	}
	for i := range calls {
		w.callerOf[l.Phones[calls+i].Name()] = l.Phones[i]
	}
	go w.run()
	return w
}

func (w *benchWatcher) run() {
	defer close(w.done)
	for e := range w.sub.C {
		if w.handle(e) {
			select {
			case w.changed <- struct{}{}:
			default:
			}
		}
	}
}

func (w *benchWatcher) handle(e sim.Event) bool {
	switch e.Kind {
	case sim.KindError:
		w.mu.Lock()
		w.errors++
		if len(w.firstErrors) < 5 {
			w.firstErrors = append(w.firstErrors, e.String())
		}
		w.mu.Unlock()
		return false
	case sim.KindState:
		if c, ok := e.State.(phones.CallChanged); ok {
			return w.callChanged(e.At, c)
		}
		return false
	case sim.KindMessage:
	default:
		return false
	}
	if e.Proto != sim.ProtoSIP || (e.From != "recorder" && e.To != "recorder") {
		return false
	}
	id := sim.SIPHeader(e.Bytes, "Call-ID", "i")
	w.mu.Lock()
	defer w.mu.Unlock()
	method := strings.Fields(e.Summary)[0]
	if e.To == "recorder" {
		method = e.Summary // "200 OK (INVITE)"
	}
	if w.finished[method+" "+id] {
		return false
	}
	switch {
	case e.From == "recorder" && strings.HasPrefix(e.Summary, "INVITE "):
		if _, seen := w.invite[id]; !seen { // a retransmission keeps the first time
			w.invite[id] = e.At
			if !w.setup.started || e.At < w.setup.first {
				w.setup.first, w.setup.started = e.At, true
			}
		}
	case e.To == "recorder" && e.Summary == "200 OK (INVITE)":
		if t, ok := w.invite[id]; ok {
			if _, seen := w.ok[id]; !seen {
				w.ok[id] = e.At
				w.setup.invite200 = append(w.setup.invite200, e.At-t)
			}
		}
	case e.From == "recorder" && strings.HasPrefix(e.Summary, "ACK "):
		if t, ok := w.invite[id]; ok {
			delete(w.invite, id)
			delete(w.ok, id)
			// Re-INVITEs (session refresh) and retransmissions share the
			// Call-ID: only the first exchange is the set-up.
			w.finished["INVITE "+id], w.finished["200 OK (INVITE) "+id], w.finished["ACK "+id] = true, true, true
			w.setup.inviteACK = append(w.setup.inviteACK, e.At-t)
			w.setup.last = e.At
			return true
		}
	case e.From == "recorder" && strings.HasPrefix(e.Summary, "BYE "):
		if _, seen := w.bye[id]; !seen {
			w.bye[id] = e.At
			if !w.setup.byeStarted || e.At < w.setup.byeFirst {
				w.setup.byeFirst, w.setup.byeStarted = e.At, true
			}
		}
	case e.To == "recorder" && e.Summary == "200 OK (BYE)":
		if t, ok := w.bye[id]; ok {
			delete(w.bye, id)
			w.finished["BYE "+id], w.finished["200 OK (BYE) "+id] = true, true
			w.setup.bye200 = append(w.setup.bye200, e.At-t)
			w.setup.byeLast = max(w.setup.byeLast, e.At)
			return true
		}
	}
	return false
}

// callChanged follows one phone's call: a ringing callee is answered, a
// talking one counted (and its caller hung up, hangOnTalk), and the phones
// with a call up counted, so a phase can wait for every call to be over.
// O(1) per event: the bench's 1,000 phones are never walked.
func (w *benchWatcher) callChanged(at time.Duration, c phones.CallChanged) bool {
	w.mu.Lock()
	was := w.call[c.Phone]
	w.call[c.Phone] = c.State
	switch {
	case was == phones.CallIdle && c.State != phones.CallIdle:
		w.busy++
	case was != phones.CallIdle && c.State == phones.CallIdle:
		w.busy--
	}
	w.mu.Unlock()
	switch c.State {
	case phones.CallRinging:
		if p := w.byName[c.Phone]; p != nil {
			p.Answer() // an error here means the caller gave up; the figures show it
		}
	case phones.CallTalking:
		// The callee talks once the ACK reached it: the caller can hang
		// up without cutting the INVITE transaction short.
		if p := w.callerOf[c.Phone]; p != nil && w.hangOnTalk.Load() {
			w.mu.Lock()
			w.hungUp++
			w.mu.Unlock()
			w.hangs.Add(1)
			go func() {
				defer w.hangs.Done()
				ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
				defer cancel()
				p.HangUp(ctx)
			}()
		}
		w.mu.Lock()
		w.talking++
		w.lastTalking = at
		w.mu.Unlock()
	}
	return true
}

// waitFor returns when cond holds (checked under the watcher's lock after
// every change) or timeout passes; it reports whether cond held.
func (w *benchWatcher) waitFor(ctx context.Context, timeout time.Duration, cond func(*benchWatcher) bool) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		w.mu.Lock()
		ok := cond(w)
		w.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-w.changed:
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// phaseTimeout bounds each set-up phase; a phase that does not finish is
// reported with what it reached, not as a failure of the command.
const phaseTimeout = 60 * time.Second

func runBench(ctx context.Context, c benchConfig, log io.Writer) (*benchResult, error) {
	topo, err := lab.Bench(c.phones, c.monitored, c.mapping)
	if err != nil {
		return nil, err
	}
	if topo.PBXAddr, topo.RecorderAddr, topo.PhoneBase, err = c.addrs(); err != nil {
		return nil, err
	}
	res := &benchResult{phones: c.phones, calls: c.calls}
	monitored := map[string]bool{}
	for _, ext := range topo.Recorder.Monitored {
		monitored[ext] = true
	}
	for _, p := range topo.Phones {
		if monitored[p.Ext] {
			res.monitored++
		}
	}
	recordedParties := 0
	for i := range 2 * c.calls {
		if monitored[topo.Phones[i].Ext] {
			recordedParties++
		}
	}
	res.streams = 2*c.calls + 2*recordedParties

	heap0, stack0 := memNow()
	l, err := lab.Build(topo, lab.Options{OutDir: c.out, TraceCapacity: 1024, Pcap: c.pcap, NoMedia: c.setup})
	if err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()
	const watchBuffer = 1 << 15
	w := newBenchWatcher(l, watchBuffer, c.calls)
	chanBytes := float64(watchBuffer) * float64(unsafe.Sizeof(sim.Event{}))

	fmt.Fprintf(log, "bench: building %d phones, %d monitored, %s mapping …\n", c.phones, res.monitored, c.mapping)
	if err := l.PBX.Start(); err != nil {
		return nil, err
	}
	if err := l.Recorder.Start(ctx); err != nil {
		return nil, err
	}
	if err := l.PowerOnAll(c.workers); err != nil {
		return nil, err
	}
	regStart := l.Net.Now()
	rctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	err = l.RegisterAll(rctx, c.workers)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("registration: %w", err)
	}
	res.registerTime = l.Net.Now() - regStart
	// Idle: registered, no call and no recording session (in static mapping
	// too: its session starts with the phone's first call, spec §3.1).
	heap1, stack1 := memNow()
	res.heapPerPhone = (float64(heap1-heap0) - chanBytes) / float64(c.phones)
	res.stackPerPhone = float64(stack1-stack0) / float64(c.phones)
	res.goroutines = runtime.NumGoroutine()
	if c.memprofile != "" {
		if err := writeHeapProfile(c.memprofile); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(log, "bench: %d phones registered in %s\n", c.phones, res.registerTime.Round(time.Millisecond))

	// Both mappings set a session up for each monitored party of a call:
	// dynamic per call; static at the phone's first call, kept after it
	// (spec §3.1). So in static mapping a first, brief call per pair (the
	// caller hangs up as soon as its callee talks) brings every session up, and its
	// set-up is measured apart from the talking calls' RTP.
	res.sessionsWanted = recordedParties
	sessionsUp := func(dialStart time.Duration, acks0 int) {
		if !w.waitFor(ctx, phaseTimeout, func(w *benchWatcher) bool { return len(w.setup.inviteACK)-acks0 >= recordedParties }) {
			fmt.Fprintf(log, "bench: not every recording session up after %s\n", phaseTimeout)
		}
		w.mu.Lock()
		res.sessionsUp, res.allSessionsAfter, res.setup = len(w.setup.inviteACK)-acks0, w.setup.last-dialStart, w.setup
		res.allSinceRegister = w.setup.last - regStart
		w.mu.Unlock()
	}
	if c.mapping == "static" && c.calls > 0 {
		fmt.Fprintf(log, "bench: static mapping: a brief first call per pair brings the sessions up …\n")
		w.hangOnTalk.Store(true)
		dialStart := l.Net.Now()
		if err := dialAll(ctx, l, c.calls, c.workers); err != nil {
			return nil, err
		}
		sessionsUp(dialStart, 0)
		w.waitFor(ctx, phaseTimeout, func(w *benchWatcher) bool { return w.hungUp >= c.calls })
		w.hangOnTalk.Store(false)
		w.hangs.Wait()
		// The callees hear the BYE a moment after their callers: a second
		// call before that would get 486 Busy Here.
		if !w.waitFor(ctx, phaseTimeout, func(w *benchWatcher) bool { return w.busy == 0 }) {
			fmt.Fprintf(log, "bench: some first calls still up after %s\n", phaseTimeout)
		}
		fmt.Fprintf(log, "bench: %d static sessions up %s after the first REGISTER\n", res.sessionsUp, res.allSinceRegister.Round(time.Millisecond))
	}

	// Calls: phone i dials phone calls+i, which the watcher answers.
	dialStart := l.Net.Now()
	w.mu.Lock()
	acks0, talking0 := len(w.setup.inviteACK), w.talking
	w.mu.Unlock()
	if err := dialAll(ctx, l, c.calls, c.workers); err != nil {
		return nil, err
	}
	okCalls := w.waitFor(ctx, phaseTimeout, func(w *benchWatcher) bool { return w.talking-talking0 >= 2*c.calls })
	if c.mapping == "dynamic" || c.calls == 0 {
		sessionsUp(dialStart, acks0)
	}
	w.mu.Lock()
	res.callsTalking, res.callSetupTime = (w.talking-talking0)/2, w.lastTalking-dialStart
	w.mu.Unlock()
	if !okCalls {
		fmt.Fprintf(log, "bench: only %d of %d calls talking after %s\n", res.callsTalking, c.calls, phaseTimeout)
	}
	talk := c.duration
	if c.setup {
		talk = 0 // no RTP: straight to the tear-down
		fmt.Fprintf(log, "bench: %d calls up, %d recording sessions; hanging up at once (--setup) …\n", res.callsTalking, res.sessionsUp)
	} else {
		fmt.Fprintf(log, "bench: %d calls talking, %d recording sessions; talking for %s …\n", res.callsTalking, res.sessionsUp, c.duration)
	}

	// The talk window: real-time RTP, nothing else happening.
	stats0, cpu0, t0 := phoneStats(l), cpuTime(), time.Now()
	select {
	case <-time.After(talk):
	case <-ctx.Done():
	}
	stats1, cpu1, t1 := phoneStats(l), cpuTime(), time.Now()
	res.window = t1.Sub(t0)
	res.sent = stats1.Sent - stats0.Sent
	res.forked = (stats1.ForkedTX + stats1.ForkedRX) - (stats0.ForkedTX + stats0.ForkedRX)
	res.farReceived = stats1.Received - stats0.Received
	res.cpuPerSecond = (cpu1 - cpu0).Seconds() / res.window.Seconds()

	fmt.Fprintf(log, "bench: hanging up …\n")
	// Hang up: in dynamic mapping ConnectionCleared makes the recorder send
	// BYE; in static mapping the sessions stay until the lab closes.
	w.mu.Lock()
	byes0 := len(w.setup.bye200)
	w.mu.Unlock()
	hctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	hangStart := time.Now()
	hangAll(hctx, l, c.calls, max(c.workers, c.calls)) // every BYE at once: each waits for its 200
	res.hangUpTime = time.Since(hangStart)
	cancel()
	if c.mapping == "dynamic" {
		res.byeWanted = res.sessionsUp
		w.waitFor(ctx, phaseTimeout, func(w *benchWatcher) bool { return len(w.setup.bye200)-byes0 >= res.byeWanted })
	}
	res.totalForked = phoneStats(l).ForkedTX + phoneStats(l).ForkedRX
	fmt.Fprintf(log, "bench: closing the lab (the recorder finishes %d files) …\n", res.sessionsUp)
	closed = true
	if err := l.Close(); err != nil {
		fmt.Fprintln(log, "bench: closing the lab:", err)
	}
	<-w.done
	w.mu.Lock()
	if c.mapping == "static" {
		res.byeWanted = res.sessionsUp
	}
	res.setup.bye200, res.setup.byeFirst, res.setup.byeLast = w.setup.bye200, w.setup.byeFirst, w.setup.byeLast
	res.errors, res.firstErrors = w.errors, w.firstErrors
	w.mu.Unlock()
	res.traceLost = w.sub.Lost()
	for _, rec := range l.Recorder.Recordings() {
		m := rec.Meta
		res.files++
		res.recorded += m.Packets()
		res.lost += m.Lost()
		res.late += m.TX.Late + m.RX.Late
	}
	res.unrecorded = int64(res.totalForked) - res.recorded
	res.pcapDropped = l.Net.PcapDropped()
	res.maxRSS = maxRSS()
	return res, nil
}

func dialAll(ctx context.Context, l *lab.Lab, calls, workers int) error {
	var firstErr atomic.Pointer[error]
	forEachCall(calls, workers, func(i int) bool {
		if ctx.Err() != nil {
			return false
		}
		if err := l.Phones[i].Dial(ctx, l.Phones[calls+i].Ext()); err != nil {
			firstErr.CompareAndSwap(nil, &err)
			return false
		}
		return true
	})
	if p := firstErr.Load(); p != nil {
		return fmt.Errorf("dial: %w", *p)
	}
	return nil
}

// hangAll hangs up every caller; a call already gone is no error here.
func hangAll(ctx context.Context, l *lab.Lab, calls, workers int) {
	forEachCall(calls, workers, func(i int) bool {
		l.Phones[i].HangUp(ctx)
		return true
	})
}

// forEachCall runs call(i) for i in [0, calls) on up to workers goroutines
// that take the next index in turn; a worker stops when call returns false.
func forEachCall(calls, workers int, call func(i int) bool) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, max(calls, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= calls || !call(i) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

func phoneStats(l *lab.Lab) phones.MediaStats {
	var s phones.MediaStats
	for _, p := range l.Phones {
		m := p.Stats()
		s.Sent += m.Sent
		s.Received += m.Received
		s.ForkedTX += m.ForkedTX
		s.ForkedRX += m.ForkedRX
	}
	return s
}

// memNow is the live heap and goroutine stacks after a full collection.
func memNow() (heap, stack uint64) {
	runtime.GC()
	runtime.GC() // the first may leave finalizer-held objects for the second
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func cpuTime() time.Duration { return rusageCPU(syscall.RUSAGE_SELF) }

// threadCPUTime is the calling OS thread's CPU time (it must be locked to
// its goroutine): what the process's GC and other goroutines spend is not
// in it.
func threadCPUTime() time.Duration { return rusageCPU(unix.RUSAGE_THREAD) }

func rusageCPU(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}

// baselineResult is what plain loopback sockets carried.
type baselineResult struct {
	name           string
	streams        int
	senders        int // sending sockets
	window         time.Duration
	sent, received uint64
	cpuPerSecond   float64
	lost           int64 // whole run: sent and never received
}

// print prints b and the lab's figures over it; capacity is packets per
// CPU-second, the lab's over b's.
func (b *baselineResult) print(w io.Writer, lab *benchResult, target float64) {
	secs := b.window.Seconds()
	fmt.Fprintf(w, "  %-20s %d streams from %d sockets, %.0f packets/s sent, %.0f received, %d lost; %.2f cores\n",
		b.name, b.streams, b.senders, float64(b.sent)/secs, float64(b.received)/secs, b.lost, b.cpuPerSecond)
	labPPS := float64(lab.sent+lab.forked) / lab.window.Seconds()
	basePPS := float64(b.sent) / secs
	fmt.Fprintf(w, "  lab / %-14s packets/s %.2f; CPU %.2f\n", b.name, labPPS/basePPS, lab.cpuPerSecond/b.cpuPerSecond)
	if lab.cpuPerSecond > 0 && b.cpuPerSecond > 0 {
		capacity := (labPPS / lab.cpuPerSecond) / (basePPS / b.cpuPerSecond)
		fmt.Fprintf(w, "  capacity             the lab carries %.2f of the %s's packets per CPU-second", capacity, b.name)
		if target > 0 {
			fmt.Fprintf(w, " (target ≥ %.1f)", target)
		}
		fmt.Fprintln(w)
	}
}

// baselinePacket is a G.711 20 ms RTP packet's size: 12 header + 160 bytes.
const baselinePacket = 172

// capacityTarget is issue 14's: the lab at least 1.8 of the naive
// baseline's packets per CPU-second, what its batched probe reached.
const capacityTarget = 1.8

// probeFanout is how many streams leave one of the batched probe's
// sockets: a talking phone's call socket sends its call packet and the
// recorder's two copies (tx and rx) each period.
const probeFanout = 3

// runBaseline sends streams at 50 packets/s over plain loopback UDP, each
// to a socket of its own with a reader goroutine, as the lab's receivers
// are. Naive (batched false): one sender socket, goroutine and 20 ms
// ticker per stream. Batched, issue 14's probe of what the machine can do
// in the lab's shape: a pacer of a few goroutines for all, a socket per
// probeFanout streams, and each socket's packets of a period in one
// sendmmsg (ipv4.PacketConn.WriteBatch). These sockets are the measuring
// stick, not lab nodes, so they do not come from sim.
func runBaseline(ctx context.Context, streams int, d time.Duration, batched bool) (*baselineResult, error) {
	lo := netip.MustParseAddr("127.0.0.1")
	nsend, fanout := streams, 1
	if batched {
		fanout = probeFanout
		nsend = (streams + fanout - 1) / fanout
	}
	var recv, send []*net.UDPConn
	closeAll := func() {
		for _, c := range append(recv, send...) {
			c.Close()
		}
	}
	listen := func(to *[]*net.UDPConn, n int) error {
		for range n {
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
			if err != nil {
				return err
			}
			*to = append(*to, c)
		}
		return nil
	}
	if err := errors.Join(listen(&recv, streams), listen(&send, nsend)); err != nil {
		closeAll()
		return nil, err
	}
	var sent, received atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range recv {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				received.Add(1)
			}
		}()
	}
	pkt := make([]byte, baselinePacket)
	pkt[0] = 0x80
	// pace sends the periods due since start from senders, each period's
	// packets of a socket in one call of sendPeriod; as a phone's pacer
	// (phones/media.go), late ticks do not lose rate.
	pace := func(senders []int, sendPeriod func(i int)) {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		start, done := time.Now(), int64(0)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for due := int64(time.Since(start)/(20*time.Millisecond)) + 1; done < due; done++ {
				for _, i := range senders {
					sendPeriod(i)
				}
			}
		}
	}
	if !batched {
		for i, c := range send {
			dst := recv[i].LocalAddr().(*net.UDPAddr).AddrPort()
			wg.Add(1)
			go pace([]int{i}, func(int) {
				if _, err := c.WriteToUDPAddrPort(pkt, dst); err == nil {
					sent.Add(1)
				}
			})
		}
	} else {
		pcs := make([]*ipv4.PacketConn, nsend)
		batches := make([][]ipv4.Message, nsend)
		all := make([]int, nsend)
		for i, c := range send {
			pcs[i], all[i] = ipv4.NewPacketConn(c), i
			for j := i * fanout; j < min((i+1)*fanout, streams); j++ {
				batches[i] = append(batches[i], ipv4.Message{Buffers: [][]byte{pkt}, Addr: recv[j].LocalAddr()})
			}
		}
		// In lanes, as the lab's pacer (phones/pacer.go): 4 per core.
		lanes := 4 * runtime.GOMAXPROCS(0)
		for l := range lanes {
			wg.Add(1)
			go pace(all[l*nsend/lanes:(l+1)*nsend/lanes], func(i int) {
				n, _ := pcs[i].WriteBatch(batches[i], 0)
				sent.Add(uint64(max(n, 0)))
			})
		}
	}
	// Let the tickers spread out before measuring.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	s0, r0, cpu0, t0 := sent.Load(), received.Load(), cpuTime(), time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	s1, r1, cpu1, t1 := sent.Load(), received.Load(), cpuTime(), time.Now()
	close(stop)
	// Packets in flight at the end are not lost: give the readers a moment.
	time.Sleep(100 * time.Millisecond)
	b := &baselineResult{name: "baseline", streams: streams, senders: nsend, window: t1.Sub(t0),
		sent: s1 - s0, received: r1 - r0, lost: int64(sent.Load()) - int64(received.Load())}
	if batched {
		b.name = "batched probe"
	}
	closeAll()
	wg.Wait()
	b.cpuPerSecond = (cpu1 - cpu0).Seconds() / b.window.Seconds()
	return b, nil
}

// floorBatch is how many datagrams the loopback floor moves per system
// call each way: far more than the lab ever has waiting on one socket.
const floorBatch = 64

// floorResult is the machine's own cost of a loopback datagram.
type floorResult struct {
	datagrams uint64
	cpu       time.Duration
}

// perDatagram is the CPU one datagram cost, sent and received.
func (f *floorResult) perDatagram() time.Duration {
	return f.cpu / time.Duration(max(f.datagrams, 1))
}

// runFloor measures what the kernel alone costs per loopback datagram:
// one goroutine on one OS thread (its CPU time is the figure; loopback
// delivers inside the send, so the receive side's work is in it), one
// socket pair, floorBatch datagrams per sendmmsg and
// per recvmmsg, for d. No lab, pacer or reader goroutine can carry a
// datagram for less, so rate × perDatagram is the least CPU a load needs
// on this machine (issue 14: why 300,000 packets/s is out of reach here).
func runFloor(ctx context.Context, d time.Duration) (*floorResult, error) {
	lo := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0))
	rc, err := net.ListenUDP("udp4", lo)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	sc, err := net.ListenUDP("udp4", lo)
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	rc.SetReadBuffer(4 << 20) // a batch must fit: it is read after it is sent
	pkt := make([]byte, baselinePacket)
	pkt[0] = 0x80
	out, in := make([]ipv4.Message, floorBatch), make([]ipv4.Message, floorBatch)
	for i := range out {
		out[i] = ipv4.Message{Buffers: [][]byte{pkt}, Addr: rc.LocalAddr()}
		in[i] = ipv4.Message{Buffers: [][]byte{make([]byte, 2048)}}
	}
	sp, rp := ipv4.NewPacketConn(sc), ipv4.NewPacketConn(rc)
	// A read never blocks past the run: the deadline ends a batch that
	// the kernel dropped in part (it should not, with 4 MiB of buffer).
	rc.SetReadDeadline(time.Now().Add(d + 5*time.Second))
	// The thread's own CPU: the lab that ran before leaves a heap for the
	// GC and goroutines winding down, which are not the floor.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var f floorResult
	cpu0, end := threadCPUTime(), time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		sent := 0
		for sent < floorBatch {
			n, err := sp.WriteBatch(out[sent:], 0)
			if err != nil {
				return nil, fmt.Errorf("loopback floor: send: %w", err)
			}
			sent += n
		}
		for got := 0; got < sent; {
			n, err := rp.ReadBatch(in, 0)
			if err != nil {
				return nil, fmt.Errorf("loopback floor: %d of %d datagrams read: %w", got, sent, err)
			}
			got += n
		}
		f.datagrams += uint64(sent)
	}
	f.cpu = threadCPUTime() - cpu0
	return &f, nil
}

// print says the floor and what the lab's load needs at least on it.
func (f *floorResult) print(w io.Writer, lab *benchResult) {
	per := f.perDatagram()
	if per <= 0 {
		fmt.Fprintf(w, "  loopback floor       not measured: %d datagrams took no CPU time this thread could see\n", f.datagrams)
		return
	}
	fmt.Fprintf(w, "  loopback floor       %.2f µs of CPU per datagram sent and received (one socket pair, %d per sendmmsg and recvmmsg): at most %.0f packets/s per core\n",
		float64(per.Nanoseconds())/1e3, floorBatch, 1/per.Seconds())
	want := float64(lab.streams) * 50
	fmt.Fprintf(w, "  floor for this load  %d streams at 50/s = %.0f packets/s need ≥ %.2f cores of system calls alone", lab.streams, want, want*per.Seconds())
	if pps := float64(lab.sent+lab.forked) / lab.window.Seconds(); pps > 0 && lab.cpuPerSecond > 0 {
		fmt.Fprintf(w, "; the lab spent %.2f µs per packet (%.2f× the floor)", lab.cpuPerSecond/pps*1e6, lab.cpuPerSecond/pps/per.Seconds())
	}
	fmt.Fprintln(w)
}

// createCostFiles is how many files the creation measurement makes.
const createCostFiles = 500

// filesPerSession is what one recording session creates: the WAV when it
// opens, and the JSON and the RFC 7865 XML through a temporary name each,
// when it opens and again when it closes (recorder/recording.go).
const filesPerSession = 5

// runCreateCost measures what creating a small file costs in dir: one
// goroutine on one OS thread makes n files in a fresh directory of dir
// (O_CREAT|O_EXCL, 44 bytes, close) and counts its thread's CPU; the
// directory is removed afterwards. The recorder's set-up pays this per
// file, so it bounds --setup on the filesystem the recordings go to.
func runCreateCost(dir string, n int) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(dir, ".create-cost-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	header := make([]byte, 44) // a WAV header's size
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPUTime()
	for i := range n {
		f, err := os.OpenFile(filepath.Join(tmp, fmt.Sprintf("f%06d.wav", i)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return 0, err
		}
		_, werr := f.Write(header)
		if err := errors.Join(werr, f.Close()); err != nil {
			return 0, err
		}
	}
	return (threadCPUTime() - cpu0) / time.Duration(max(n, 1)), nil
}

// printCreateCost says what file creation in dir costs and what that
// bounds the set-up rate to.
func printCreateCost(w io.Writer, dir string, per time.Duration) {
	session := per * filesPerSession
	if per <= 0 {
		fmt.Fprintf(w, "  file creation        not measured in %s: %d files took no CPU time this thread could see\n", dir, createCostFiles)
		return
	}
	fmt.Fprintf(w, "  file creation        %.0f µs of CPU per file created in %s (%d files, one goroutine); a recording session creates %d: ≥ %.2f ms per session, at most %.0f sessions/s per core\n",
		float64(per.Nanoseconds())/1e3, dir, createCostFiles, filesPerSession, float64(session.Nanoseconds())/1e6, 1/session.Seconds())
}
