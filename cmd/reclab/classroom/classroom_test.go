package classroom

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"

	"github.com/reclab/reclab/cmd/reclab/tui"
	"github.com/reclab/reclab/lab"
)

const waitLong = 30 * time.Second

// room is a classroom on the UI's default lab, on loopback addresses of
// its own (127.41.x.x), served on 127.0.0.1 (the test's network
// namespace).
type room struct {
	srv   *Server
	addr  string
	teach gossh.Signer
	pupil []gossh.Signer
	l     *lab.Lab
}

func newKey(t testing.TB) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newRoom(t testing.TB, trainees int) *room {
	t.Helper()
	topo := lab.UIDefault()
	topo.PBXAddr = netip.MustParseAddr("127.41.0.1")
	topo.RecorderAddr = netip.MustParseAddr("127.41.0.2")
	topo.PhoneBase = netip.MustParseAddr("127.41.1.1")
	dir := t.TempDir()
	l, err := lab.Build(topo, lab.Options{OutDir: dir, Pcap: true})
	if err != nil {
		t.Fatal(err)
	}
	closeLab := sync.OnceValue(l.Close)
	t.Cleanup(func() { closeLab() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r := &room{teach: newKey(t), l: l}
	var pubs []gossh.PublicKey
	for range trainees {
		k := newKey(t)
		r.pupil = append(r.pupil, k)
		pubs = append(pubs, k.PublicKey())
	}
	place := func(t *lab.Topology) {
		t.PBXAddr, t.RecorderAddr, t.PhoneBase = topo.PBXAddr, topo.RecorderAddr, topo.PhoneBase
	}
	r.srv, err = New(ctx, Config{Lab: Closing(tui.NewLabBackend(l, dir), closeLab), HostKey: filepath.Join(dir, "host_ed25519"),
		Trainees: pubs, Instructors: []gossh.PublicKey{r.teach.PublicKey()}, Scenarios: tui.Library(dir, place),
		Relab: tui.Relabber(topo, dir, lab.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	go r.srv.Serve(ln)
	t.Cleanup(func() { r.srv.Close() })
	return r
}

// seat is the session of user name.
func (r *room) seat(t testing.TB, name string) *seat {
	t.Helper()
	r.srv.mu.Lock()
	defer r.srv.mu.Unlock()
	for _, st := range r.srv.seats {
		if strings.HasPrefix(st.name, name+" ") {
			return st
		}
	}
	t.Fatalf("no session of %s", name)
	return nil
}

// term is one SSH client with a PTY: what the server wrote, ANSI stripped.
type term struct {
	name   string
	client *gossh.Client
	sess   *gossh.Session
	in     io.WriteCloser
	mu     sync.Mutex
	text   strings.Builder
	from   int           // waitFor looks from here on
	change chan struct{} // capacity 1: output came
}

// dial connects with key; read false: the client never reads its output.
func (r *room) dial(t testing.TB, name string, key gossh.Signer, read bool) *term {
	t.Helper()
	cfg := &gossh.ClientConfig{User: name, Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: waitLong}
	c, err := gossh.Dial("tcp", r.addr, cfg)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestPty("xterm", 50, 200, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	tm := &term{name: name, client: c, sess: s, change: make(chan struct{}, 1)}
	if tm.in, err = s.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	if read {
		go tm.read(out)
	}
	return tm
}

func (tm *term) read(out io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := out.Read(buf)
		if n > 0 {
			tm.mu.Lock()
			tm.text.WriteString(ansi.Strip(string(buf[:n])))
			tm.mu.Unlock()
			select {
			case tm.change <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

// waitFor waits until every string has appeared in what the server wrote
// since the last waitFor.
func (tm *term) waitFor(t testing.TB, want ...string) {
	t.Helper()
	tm.wait(t, false, want)
}

// waitSeen waits until every string has appeared in all the server wrote.
func (tm *term) waitSeen(t testing.TB, want ...string) {
	t.Helper()
	tm.wait(t, true, want)
}

func (tm *term) wait(t testing.TB, whole bool, want []string) {
	t.Helper()
	deadline := time.NewTimer(waitLong)
	defer deadline.Stop()
	for {
		tm.mu.Lock()
		from := tm.from
		if whole {
			from = 0
		}
		all := tm.text.String()[from:]
		tm.mu.Unlock()
		missing := ""
		for _, w := range want {
			if !strings.Contains(all, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			tm.mu.Lock()
			tm.from = tm.text.Len()
			tm.mu.Unlock()
			return
		}
		select {
		case <-tm.change:
		case <-deadline.C:
			if dir := os.Getenv("CLASSROOM_DUMP"); dir != "" {
				os.WriteFile(filepath.Join(dir, tm.name+".txt"), []byte(all), 0o644)
			}
			tail := all[max(0, len(all)-3000):]
			t.Fatalf("%s: %q never showed; the screen's last output:\n%s", tm.name, missing, tail)
		}
	}
}

func (tm *term) press(t testing.TB, keys string) {
	t.Helper()
	if _, err := io.WriteString(tm.in, keys); err != nil {
		t.Fatalf("%s: %v", tm.name, err)
	}
}

// TestClassroomCall: an instructor and three trainees; the instructor
// dials and answers with key presses over SSH, every trainee's screen
// shows the call; a trainee's key press is refused with a note and does
// nothing to the lab.
func TestClassroomCall(t *testing.T) {
	r := newRoom(t, 3)
	teach := r.dial(t, "alice", r.teach, true)
	teach.waitFor(t, "lab up", "classroom: you drive")
	var pupils []*term
	for i, k := range r.pupil {
		p := r.dial(t, "trainee"+string(rune('1'+i)), k, true)
		p.waitFor(t, "lab up", "classroom: alice", "you watch")
		pupils = append(pupils, p)
	}
	teach.waitFor(t, "3 trainee(s) watch")

	// A trainee's dial is refused, and the lab does not ring.
	pupils[0].press(t, "2d1005\r")
	pupils[0].waitFor(t, "watching: the instructor drives the lab")
	pupils[1].press(t, "5a")
	pupils[1].waitFor(t, "watching: the instructor drives the lab")

	// 7434 (phone 2, extension 1002) calls the 6867i (phone 5, 1005).
	teach.press(t, "2d1005\r")
	teach.waitFor(t, "ringing 1002")
	teach.press(t, "5a")
	teach.waitFor(t, "talking 1002", "EstablishedEvent 1002→1005")
	for _, p := range pupils {
		p.waitFor(t, "INVITE sip:1005@", "EstablishedEvent 1002→1005", "talking 1002")
	}
	// The trainee's refused dial made no call of its own: the PBX has
	// one call, the instructor's.
	if calls := r.l.PBX.Calls(); len(calls) != 1 {
		t.Fatalf("the PBX has %d calls, want the instructor's one: %v", len(calls), calls)
	}

	// The instructor hands trainee1 the controls: their hang-up acts.
	teach.press(t, "\x0f") // ctrl+o
	teach.waitFor(t, "controls: trainee1")
	pupils[0].waitFor(t, "the instructor handed you the controls")
	pupils[0].press(t, "5x")
	for _, tm := range append([]*term{teach}, pupils...) {
		tm.waitFor(t, "ConnectionClearedEvent")
	}
	// Speed stays the instructor's.
	pupils[0].press(t, "+")
	pupils[0].waitFor(t, "step mode and the lab clock's speed are the instructor's")
	teach.press(t, "\x12") // ctrl+r
	pupils[0].waitFor(t, "the instructor took the controls back")
	pupils[0].press(t, "2r")
	pupils[0].waitFor(t, "watching: the instructor drives the lab")
}

// newPair is a room with the instructor alice and the trainee bob
// connected.
func newPair(t *testing.T) (teach, pupil *term) {
	t.Helper()
	r := newRoom(t, 1)
	teach = r.dial(t, "alice", r.teach, true)
	teach.waitFor(t, "lab up", "classroom: you drive")
	pupil = r.dial(t, "bob", r.pupil[0], true)
	pupil.waitFor(t, "lab up", "you watch")
	return teach, pupil
}

// call: the instructor's 7434 (1002) calls the 6867i (1005), which
// answers; the trainee sees it talk.
func call(t *testing.T, teach, pupil *term) {
	t.Helper()
	teach.press(t, "2d1005\r")
	teach.waitFor(t, "ringing 1002")
	teach.press(t, "5a")
	pupil.waitFor(t, "talking 1002", "EstablishedEvent 1002→1005")
}

// TestClassroomMapping: the instructor's m builds the lab anew with the
// other recorder mapping and every screen goes to it, where the next call
// shows; a trainee's m is refused.
func TestClassroomMapping(t *testing.T) {
	teach, pupil := newPair(t)

	pupil.press(t, "m")
	pupil.waitFor(t, "watching: switching the recorder's mapping builds the lab anew: the instructor's")
	teach.press(t, "m")
	teach.waitFor(t, "recorder mapping now static")
	pupil.waitFor(t, "switched the recorder's mapping (spec §3.1): the lab is built anew", "recorder: static mapping")
	// The new lab (on the first one's addresses: that one is closed) is
	// every screen's: a call there shows on both.
	call(t, teach, pupil)
	teach.waitFor(t, "EstablishedEvent 1002→1005")
	teach.press(t, "5x")
	pupil.waitFor(t, "ConnectionClearedEvent")
}

// TestClassroomBack: the instructor's b replays the story to the previous
// action on a fresh lab, and every screen goes to that lab and its steps.
func TestClassroomBack(t *testing.T) {
	teach, pupil := newPair(t)
	call(t, teach, pupil)

	pupil.press(t, "b")
	pupil.waitFor(t, "watching:")
	teach.press(t, "b")
	// The replay runs the actions before the last on a fresh lab (the
	// dial: 1005 rings again, which the answered call no longer showed)
	// and holds at its last step until the instructor's press ends it.
	pupil.waitFor(t, "runs a scenario on a lab of its own", "scenario back-to-action-1", "ringing 1002")
	teach.waitSeen(t, "step 3 of 3 next: back at action 1 of 2 on a fresh lab")
	teach.press(t, ".")
	pupil.waitFor(t, "scenario back-to-action-1 ended")
}

// TestClassroomSlowClient: a client that never reads its output does not
// hold up the lab nor the other screens; clients that drop mid-frame
// leave the lab running.
func TestClassroomSlowClient(t *testing.T) {
	r := newRoom(t, 3)
	teach := r.dial(t, "alice", r.teach, true)
	teach.waitFor(t, "lab up")
	sleeper := r.dial(t, "sleeper", r.pupil[0], false) // never reads a byte
	watcher := r.dial(t, "watcher", r.pupil[1], true)
	watcher.waitFor(t, "lab up")
	teach.waitFor(t, "2 trainee(s) watch")
	st := r.seat(t, "sleeper")

	// The sleeper's terminal changes size, again and again: each change
	// repaints its whole screen, until more than the SSH window its client
	// grants (and never opens again) is offered to it: its renderer's
	// write waits from then on.
	const window = 64 << 15 // golang.org/x/crypto/ssh's channelWindowSize
	deadline := time.NewTimer(waitLong)
	defer deadline.Stop()
	for i := 0; st.offered.Load() <= window; i++ {
		if err := sleeper.sess.WindowChange(120+i%2, 300); err != nil {
			t.Fatal(err)
		}
		select {
		case <-st.wrote:
		case <-deadline.C:
			t.Fatalf("the sleeper's screen was offered %d bytes, want more than %d", st.offered.Load(), window)
		}
	}

	// The lab and the others go on: calls, and a client that drops
	// mid-frame.
	for i := range 3 {
		teach.press(t, "2d1005\r")
		teach.waitFor(t, "ringing 1002")
		teach.press(t, "5a")
		watcher.waitFor(t, "talking 1002")
		teach.press(t, "5x")
		watcher.waitFor(t, "ConnectionClearedEvent")
		teach.waitFor(t, "ConnectionClearedEvent")
		if i == 1 {
			gone := r.dial(t, "dropper", r.pupil[2], true)
			gone.waitFor(t, "classroom:")
			gone.client.Close()
		}
	}
	watcher.mu.Lock()
	t.Logf("watcher read %d bytes of text", watcher.text.Len())
	watcher.mu.Unlock()
	// The lab still answers: a new client sees it whole.
	late := r.dial(t, "late", r.pupil[2], true)
	late.waitFor(t, "lab up", "classroom: alice")
	teach.press(t, "2d1005\r")
	late.waitFor(t, "ringing 1002")
}

// TestClassroomUnauthorised: a key in neither file is refused.
func TestClassroomUnauthorised(t *testing.T) {
	r := newRoom(t, 1)
	cfg := &gossh.ClientConfig{User: "mallory", Auth: []gossh.AuthMethod{gossh.PublicKeys(newKey(t))},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: waitLong}
	c, err := gossh.Dial("tcp", r.addr, cfg)
	if err == nil {
		c.Close()
		t.Fatal("an unauthorised key got in")
	}
	if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("refused with %v, want an authentication failure", err)
	}
}

// BenchmarkClassroomIdle measures the CPU the process (lab and server)
// uses while idle with 0 and 30 screens connected, each reading: the
// %cpu metric is the share of one core over the benchmark's time.
//
//	unshare -n sh -c 'ip link set lo up; go test -run - -bench ClassroomIdle -benchtime 50x ./cmd/reclab/classroom'
func BenchmarkClassroomIdle(b *testing.B) {
	for _, n := range []int{0, 30} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			r := newRoom(b, n)
			for i, k := range r.pupil {
				r.dial(b, fmt.Sprintf("trainee%d", i+1), k, true).waitFor(b, "lab up", "classroom:")
			}
			cpu0 := cpuTime(b)
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				time.Sleep(100 * time.Millisecond) // idle: the window measured
			}
			wall := time.Since(start)
			b.ReportMetric(100*float64(cpuTime(b)-cpu0)/float64(wall), "%cpu")
		})
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// detailSeq matches the head of the Detail pane: "#SEQ  T.TTTs  PROTO KIND".
var detailSeq = regexp.MustCompile(`#(\d+)  \d+\.\d{3}s  `)

// TestClassroomFollowAndStep: a trainee who follows sees the instructor's
// selection in Detail; step mode turned on by the instructor shows on every
// screen, and a trainee's step is refused.
func TestClassroomFollowAndStep(t *testing.T) {
	r := newRoom(t, 2)
	teach := r.dial(t, "alice", r.teach, true)
	teach.waitFor(t, "lab up")
	follower := r.dial(t, "follower", r.pupil[0], true)
	follower.waitFor(t, "lab up", "following the instructor's selection")
	free := r.dial(t, "free", r.pupil[1], true)
	free.waitFor(t, "lab up")
	free.press(t, "\x06") // ctrl+f
	free.waitFor(t, "browsing freely")
	teach.waitFor(t, "2 trainee(s) watch")

	// The instructor goes to the oldest message and two down.
	teach.press(t, "gjj")
	teach.waitFor(t, "reading")
	teach.mu.Lock()
	m := detailSeq.FindAllStringSubmatch(teach.text.String(), -1)
	teach.mu.Unlock()
	if len(m) == 0 {
		t.Fatal("the instructor's screen shows no Detail")
	}
	seq := m[len(m)-1][1]
	follower.waitFor(t, "reading", "#"+seq+"  ")

	// Step mode: everyone steps; a trainee's '.' is refused.
	teach.press(t, "H")
	teach.waitFor(t, "STEPPING")
	follower.waitFor(t, "STEPPING")
	free.waitFor(t, "STEPPING")
	teach.press(t, "2d1005\r")
	// The 7434's INVITE waits in its sender: every screen shows it held.
	for _, tm := range []*term{teach, follower, free} {
		tm.waitFor(t, "held: . sends the next")
	}
	free.press(t, ".")
	free.waitFor(t, "watching: the steps are the instructor's")
	teach.press(t, "H") // play: the call goes on
	teach.waitFor(t, "ringing 1002")
	follower.waitFor(t, "following", "INVITE sip:1005@")
}

// TestClassroomScenario: the instructor runs a library scenario in step
// mode; every screen goes to its lab and reads the same narration as the
// instructor's steps it; a trainee's step is refused.
func TestClassroomScenario(t *testing.T) {
	r := newRoom(t, 2)
	teach := r.dial(t, "alice", r.teach, true)
	teach.waitFor(t, "lab up")
	var pupils []*term
	for i, k := range r.pupil {
		p := r.dial(t, fmt.Sprintf("trainee%d", i+1), k, true)
		p.waitFor(t, "lab up")
		pupils = append(pupils, p)
	}
	teach.waitFor(t, "2 trainee(s) watch")
	pupils[0].press(t, "s")
	pupils[0].waitFor(t, "watching: a scenario runs on a lab of its own: the instructor's")

	// basic-call heads the library; t: step mode.
	teach.press(t, "s")
	teach.waitFor(t, "basic-call")
	teach.press(t, "t\r")
	teach.waitFor(t, "basic-call step 1/")
	for _, p := range pupils {
		p.waitFor(t, "alice (", "runs a scenario on a lab of its own")
	}
	pupils[1].press(t, ".")
	pupils[1].waitFor(t, "watching: the steps are the instructor's")
	teach.press(t, ".")
	// Step 2 waits for the 180; step 3 answers.
	teach.waitFor(t, "7434 (1001) dials 1002", "INVITE sip:1002@", "step 2 of 14 next")
	for _, p := range pupils {
		p.waitSeen(t, "scenario  7434 (1001) dials 1002", "INVITE sip:1002@", "scenario basic-call step 2/14 waits")
	}
	teach.press(t, ".")
	teach.waitFor(t, "step 3 of 14 next")
	teach.press(t, ".")
	for _, p := range pupils {
		p.waitSeen(t, "scenario basic-call step 4/14 waits", "talking 1001")
	}
}
