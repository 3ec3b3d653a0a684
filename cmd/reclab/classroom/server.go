package classroom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	bm "github.com/charmbracelet/wish/bubbletea"
	"github.com/muesli/termenv"
	gossh "golang.org/x/crypto/ssh"

	"github.com/reclab/reclab/cmd/reclab/tui"
)

// drawFPS is each screen's frame rate: half the local UI's (tui.drawFPS), as
// bubbletea's renderer copies the frame at each tick, 30 screens at 20 Hz
// cost twice as much while idle; 10 frames a second read well over SSH.
const drawFPS = 10

// Config is one classroom.
type Config struct {
	// Lab is the one lab every screen shows, started (Serve does not
	// start it).
	Lab tui.Backend
	// HostKey is the server's private key file; made (ed25519) when it
	// does not exist.
	HostKey string
	// Trainees and Instructors are the keys that may connect; an
	// instructor's key drives the lab.
	Trainees, Instructors []gossh.PublicKey
	// Scenarios, when set, are what the instructor's s offers: a scenario
	// runs on a lab of its own (Lab is closed first: they share the
	// address plan, so Lab must be an io.Closer), and every screen goes
	// to it.
	Scenarios tui.Scenarios
	// Relab, when set, is what the instructor's m calls (tui.Relabber):
	// the lab built anew with the other recorder mapping (spec §3.1),
	// not started; Lab is closed first, and every screen goes to it.
	Relab func(mapping string) (tui.Backend, error)
}

// Server is a classroom being served.
type Server struct {
	cfg         Config
	srv         *ssh.Server
	Fingerprint string // the host key's SHA256 fingerprint

	mu         sync.Mutex
	ctx        context.Context
	cur        tui.Backend // the lab every screen shows: Lab, or a scenario's
	seats      []*seat     // in the order they came
	controller *seat       // the trainee the instructor handed the controls, nil: none
	stepping   bool
	scenario   string // the instructor's scenario and its step, as its title says
	instrSel   tui.SelectMsg
	next       int
}

// New makes the server; Serve runs it.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Lab == nil {
		return nil, errors.New("classroom: no lab")
	}
	if len(cfg.Instructors) == 0 {
		return nil, errors.New("classroom: no instructor key: nobody could drive the lab")
	}
	s := &Server{cfg: cfg, ctx: ctx, cur: cfg.Lab, instrSel: tui.SelectMsg{Newest: true}}
	srv, err := wish.NewServer(
		wish.WithHostKeyPath(cfg.HostKey),
		wish.WithPublicKeyAuth(s.authorised),
		wish.WithMiddleware(s.leaveMiddleware, bm.MiddlewareWithProgramHandler(s.program, termenv.Ascii)),
	)
	if err != nil {
		return nil, fmt.Errorf("classroom: host key %s: %w", cfg.HostKey, err)
	}
	s.srv = srv
	if len(srv.HostSigners) > 0 {
		s.Fingerprint = gossh.FingerprintSHA256(srv.HostSigners[0].PublicKey())
	}
	return s, nil
}

// Serve accepts sessions on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return err
}

// Close ends every session and stops accepting; a scenario's lab that
// runs is closed too (the first lab is its owner's to close).
func (s *Server) Close() error {
	err := s.srv.Close()
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	if cur != s.cfg.Lab {
		err = errors.Join(err, closeIf(cur))
	}
	return err
}

func closeIf(b tui.Backend) error {
	if c, ok := b.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// LoadKeys reads an authorized_keys file: one public key a line, # comments
// and blank lines skipped. A line that is no key is an error naming the
// file and the line.
func LoadKeys(path string) ([]gossh.PublicKey, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []gossh.PublicKey
	for i, line := range bytes.Split(src, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, _, _, _, err := gossh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not a public key (%v)", path, i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no public key in it", path)
	}
	return keys, nil
}

func has(keys []gossh.PublicKey, k ssh.PublicKey) bool {
	for _, a := range keys {
		if ssh.KeysEqual(a, k) {
			return true
		}
	}
	return false
}

// authorised lets in the keys of the authorized_keys file and the
// instructor's.
func (s *Server) authorised(_ ssh.Context, k ssh.PublicKey) bool {
	return has(s.cfg.Instructors, k) || has(s.cfg.Trainees, k)
}

type seatKey struct{}

// offerCounter counts the bytes a screen hands its client before the
// write returns: past the SSH window a client that does not read makes the
// write wait, and only that session's renderer waits with it.
type offerCounter struct {
	w  io.Writer
	st *seat
}

func (o offerCounter) Write(b []byte) (int, error) {
	o.st.offered.Add(int64(len(b)))
	select {
	case o.st.wrote <- struct{}{}:
	default:
	}
	return o.w.Write(b)
}

// program makes the screen of one session: a Model of its own on the
// shared lab, behind this session's seat.
func (s *Server) program(sess ssh.Session) *tea.Program {
	if _, _, ok := sess.Pty(); !ok {
		wish.Fatalln(sess, "reclab classroom: the UI needs a terminal: ssh -t")
		return nil
	}
	instructor := has(s.cfg.Instructors, sess.PublicKey())
	s.mu.Lock()
	s.next++
	st := &seat{s: s, id: s.next, instructor: instructor, wake: make(chan struct{}, 1), wrote: make(chan struct{}, 1),
		name: fmt.Sprintf("%s (%s)", sess.User(), shortFP(sess.PublicKey()))}
	st.follow.Store(!instructor)
	s.seats = append(s.seats, st)
	stepping := s.stepping
	sel := s.instrSel
	cur := s.cur
	s.mu.Unlock()
	sess.Context().SetValue(seatKey{}, st)

	sb := &seatBackend{Backend: cur, st: st}
	st.model = tui.Join(s.ctx, sb)
	if instructor && s.cfg.Scenarios != nil {
		st.model.SetScenarios(seatScenarios{Scenarios: s.cfg.Scenarios, st: st})
	}
	if instructor && s.cfg.Relab != nil {
		st.model.SetRelab(func(mapping string) (tui.Backend, error) {
			b, err := s.cfg.Relab(mapping)
			if err != nil {
				return nil, err
			}
			// A seat's Start starts nothing: the lab starts here, once.
			if err := b.Start(s.ctx); err != nil {
				return nil, errors.Join(err, closeIf(b))
			}
			return &seatBackend{Backend: b, st: st}, nil
		})
	}
	st.scr = &screen{st: st, inner: st.model, lastLab: sb}
	opts := append(bm.MakeOptions(sess), tea.WithOutput(offerCounter{sess, st}),
		tea.WithAltScreen(), tea.WithFPS(drawFPS), tea.WithContext(sess.Context()))
	st.prog = tea.NewProgram(st.scr, opts...)
	// A screen that comes while the lab steps steps too.
	if stepping {
		st.post(tui.HoldMsg{On: true})
	}
	if st.follow.Load() && !sel.Newest {
		st.post(sel)
	}
	s.roster() // everyone's line counts the newcomer
	go st.deliver(sess.Context())
	return st.prog
}

// leaveMiddleware runs when a session's program has ended: its seat goes,
// its subscription ends.
func (s *Server) leaveMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		if st, ok := sess.Context().Value(seatKey{}).(*seat); ok {
			s.leave(st)
		}
		next(sess)
	}
}

func (s *Server) leave(st *seat) {
	st.model.Detach()
	s.mu.Lock()
	for i, o := range s.seats {
		if o == st {
			s.seats = append(s.seats[:i:i], s.seats[i+1:]...)
			break
		}
	}
	if s.controller == st {
		s.controller = nil
	}
	s.mu.Unlock()
	s.roster()
}

// roster tells every screen to redraw its classroom line.
func (s *Server) roster() {
	s.mu.Lock()
	seats := append([]*seat(nil), s.seats...)
	s.mu.Unlock()
	for _, o := range seats {
		o.post(rosterMsg{})
	}
}

// others posts msg to every screen but from's.
func (s *Server) others(from *seat, msg tea.Msg) {
	s.mu.Lock()
	seats := append([]*seat(nil), s.seats...)
	s.mu.Unlock()
	for _, o := range seats {
		if o != from {
			o.post(msg)
		}
	}
}

// may says whether st may have the lab do kind.
func (s *Server) may(st *seat, kind tui.ActionKind) error {
	if st.instructor {
		return nil
	}
	switch kind {
	case tui.ActHold, tui.ActStepMsg, tui.ActSpeed:
		return errors.New("watching: step mode and the lab clock's speed are the instructor's")
	}
	s.mu.Lock()
	ctl := s.controller == st
	s.mu.Unlock()
	if ctl {
		return nil
	}
	return fmt.Errorf("watching: the instructor drives the lab; your keys browse (%s not done; the instructor can hand you the controls)", kind)
}

// setStepping follows step mode as the instructor's H set it: the other
// screens show it.
func (s *Server) setStepping(from *seat, on bool) {
	s.mu.Lock()
	s.stepping = on
	s.mu.Unlock()
	s.others(from, tui.HoldMsg{On: on})
}

// switchLab puts every screen but the instructor's on the lab the
// instructor's screen went to (a scenario's, or one with the other
// mapping); why says which to the others.
func (s *Server) switchLab(from *seat, b tui.Backend, why string) {
	sb, ok := b.(*seatBackend)
	if !ok {
		return
	}
	s.mu.Lock()
	s.cur, s.stepping, s.instrSel = sb.Backend, false, tui.SelectMsg{Newest: true}
	var to []*seat
	for _, o := range s.seats {
		if o != from {
			to = append(to, o)
		}
	}
	s.mu.Unlock()
	for _, o := range to {
		o.post(tui.AttachMsg{B: &seatBackend{Backend: sb.Backend, st: o},
			Note: fmt.Sprintf("%s %s: this screen shows it", from.name, why)})
	}
}

// setScenario shows the instructor's scenario and its step on every
// classroom line.
func (s *Server) setScenario(title string) {
	s.mu.Lock()
	s.scenario = title
	s.mu.Unlock()
	s.roster()
}

// instructorSelected passes the instructor's selection to the trainees who
// follow it.
func (s *Server) instructorSelected(sel tui.SelectMsg) {
	s.mu.Lock()
	s.instrSel = sel
	var to []*seat
	for _, o := range s.seats {
		if !o.instructor && o.follow.Load() {
			to = append(to, o)
		}
	}
	s.mu.Unlock()
	for _, o := range to {
		o.post(sel)
	}
}

// handOver gives the controls to the trainee after the one who has them
// (the first if none has), or takes them back (next false).
func (s *Server) handOver(by *seat, next bool) string {
	s.mu.Lock()
	prev := s.controller
	var trainees []*seat
	for _, o := range s.seats {
		if !o.instructor {
			trainees = append(trainees, o)
		}
	}
	s.controller = nil
	if next && len(trainees) > 0 {
		i := 0
		for j, o := range trainees {
			if o == prev {
				i = j + 1
			}
		}
		if i < len(trainees) {
			s.controller = trainees[i]
		}
	}
	ctl := s.controller
	s.mu.Unlock()
	if prev != nil && prev != ctl {
		prev.post(tui.StatusMsg{Text: "the instructor took the controls back: your keys browse"})
	}
	if ctl != nil && ctl != prev {
		ctl.post(tui.StatusMsg{Text: "the instructor handed you the controls: your keys act on the lab (step mode and speed stay the instructor's)"})
	}
	s.roster()
	switch {
	case ctl != nil:
		return fmt.Sprintf("controls: %s acts on the lab (ctrl+o: the next trainee, ctrl+r: take them back)", ctl.name)
	case next && len(trainees) == 0:
		return "controls: no trainee is connected"
	default:
		return "controls: yours alone"
	}
}

// line is st's classroom line: who drives, who has the controls, the keys.
func (s *Server) line(st *seat) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	var instr []string
	for _, o := range s.seats {
		if o.instructor {
			instr = append(instr, o.name)
		} else {
			n++
		}
	}
	ctl := "none"
	if s.controller != nil {
		ctl = s.controller.name
	}
	if st.instructor {
		return fmt.Sprintf(" classroom: you drive · %d trainee(s) watch · controls: %s · ctrl+o hand to next trainee, ctrl+r take back", n, ctl)
	}
	who := "the instructor"
	if len(instr) > 0 {
		who = strings.Join(instr, ", ")
	}
	role := "you watch: actions are refused"
	if s.controller == st {
		role = "YOU HAVE THE CONTROLS"
	}
	sel := "following the instructor's selection (ctrl+f: browse freely)"
	if !st.follow.Load() {
		sel = "browsing freely (ctrl+f: follow the instructor)"
	}
	run := ""
	if s.scenario != "" {
		run = " · scenario " + s.scenario
	}
	return fmt.Sprintf(" classroom: %s drives%s · %s · %s", who, run, role, sel)
}

func shortFP(k ssh.PublicKey) string {
	fp := gossh.FingerprintSHA256(k)
	return fp[:min(len(fp), 7+8)]
}
