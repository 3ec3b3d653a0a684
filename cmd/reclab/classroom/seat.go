package classroom

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/reclab/reclab/cmd/reclab/tui"
	"github.com/reclab/reclab/scenarios"
)

// maxNotes bounds the notes a screen's mailbox keeps: a screen that does
// not read loses the oldest.
const maxNotes = 8

// seat is one SSH session: its screen, its role and its mailbox.
type seat struct {
	s          *Server
	id         int
	name       string // user (key fingerprint)
	instructor bool
	follow     atomic.Bool // a trainee follows the instructor's selection
	model      *tui.Model
	scr        *screen
	prog       *tea.Program
	offered    atomic.Int64  // bytes handed to the client (offerCounter)
	wrote      chan struct{} // capacity 1: offered grew

	// The mailbox: the latest of each kind, a few notes. post never
	// blocks; deliver sends them to the program, and blocks only itself
	// when the program is slow (its client does not read).
	mu     sync.Mutex
	attach *tui.AttachMsg
	hold   *tui.HoldMsg
	sel    *tui.SelectMsg
	roster bool
	notes  []tui.StatusMsg
	wake   chan struct{} // capacity 1
}

// rosterMsg redraws the classroom line.
type rosterMsg struct{}

func (st *seat) post(msg tea.Msg) {
	st.mu.Lock()
	switch m := msg.(type) {
	case tui.AttachMsg:
		// Another lab: what was pending for the last one is moot.
		st.attach, st.hold, st.sel = &m, nil, nil
	case tui.HoldMsg:
		st.hold = &m
	case tui.SelectMsg:
		st.sel = &m
	case rosterMsg:
		st.roster = true
	case tui.StatusMsg:
		if len(st.notes) == maxNotes {
			st.notes = append(st.notes[:0:0], st.notes[1:]...)
		}
		st.notes = append(st.notes, m)
	}
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// deliver takes what the mailbox holds and sends it to the program, until
// the session ends.
func (st *seat) deliver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.wake:
		}
		st.mu.Lock()
		var msgs []tea.Msg
		if st.attach != nil {
			msgs = append(msgs, *st.attach)
		}
		if st.hold != nil {
			msgs = append(msgs, *st.hold)
		}
		if st.sel != nil {
			msgs = append(msgs, *st.sel)
		}
		if st.roster {
			msgs = append(msgs, rosterMsg{})
		}
		for _, n := range st.notes {
			msgs = append(msgs, n)
		}
		st.attach, st.hold, st.sel, st.roster, st.notes = nil, nil, nil, false, nil
		st.mu.Unlock()
		for _, m := range msgs {
			st.prog.Send(m) // returns when the program ends
		}
	}
}

// seatBackend is the shared lab as one session sees it: its actions pass
// the classroom's rule first (Server.may).
type seatBackend struct {
	tui.Backend
	st *seat
}

func (b *seatBackend) Unwrap() tui.Backend { return b.Backend }

// Start: the lab was started once, before the first session; a
// scenario's lab starts when the instructor's screen runs it.
func (b *seatBackend) Start(context.Context) error { return nil }

// Close closes the lab for the instructor's screen, which closes it to
// launch a scenario (they share the address plan); a trainee's closes
// nothing.
func (b *seatBackend) Close() error {
	if c, ok := b.Backend.(io.Closer); ok && b.st.instructor {
		return c.Close()
	}
	return nil
}

func (b *seatBackend) Do(ctx context.Context, a tui.Action) (string, error) {
	if err := b.st.s.may(b.st, a.Kind); err != nil {
		return "", err
	}
	text, err := b.Backend.Do(ctx, a)
	if err == nil && a.Kind == tui.ActHold {
		b.st.s.setStepping(b.st, a.Arg == "on")
	}
	return text, err
}

// seatScenarios launches the instructor's scenarios: the scenario's lab
// behind the instructor's seat, so step mode on it reaches every screen.
type seatScenarios struct {
	tui.Scenarios
	st *seat
}

func (sc seatScenarios) Launch(ctx context.Context, req tui.ScenarioRequest, gate scenarios.Gate) (*tui.ScenarioRun, error) {
	run, err := sc.Scenarios.Launch(ctx, req, gate)
	if err != nil {
		return nil, err
	}
	run.Backend = &seatBackend{Backend: run.Backend, st: sc.st}
	return run, nil
}

// fileKeys write files on the server (a call's pcap, the session as a
// scenario, the export): a watching trainee's are refused.
var fileKeys = map[string]string{"p": "saving a call's pcap", "W": "saving the session as a scenario", "e": "the export"}

// labKeys put every screen on another lab: the instructor's alone, even
// for a trainee with the controls.
var labKeys = map[string]string{
	"m": "switching the recorder's mapping builds the lab anew",
	"b": "going back replays the story on a fresh lab",
	"s": "a scenario runs on a lab of its own",
}

// screen is one session's program model: the TUI above, the classroom
// line below.
type screen struct {
	st      *seat
	inner   *tui.Model
	w, h    int
	lastSel tui.SelectMsg
	lastLab tui.Backend // the instructor's: a *seatBackend
	lastRun string      // the instructor's: the scenario's title
}

func (c *screen) Init() tea.Cmd { return c.inner.Init() }

func (c *screen) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		c.w, c.h = msg.Width, msg.Height
		return c.pass(tea.WindowSizeMsg{Width: msg.Width, Height: max(1, msg.Height-1)})
	case rosterMsg:
		return c, nil // View redraws the line
	case tea.KeyMsg:
		if keys := tui.SplitKeys(msg); len(keys) > 1 {
			// Each key typed goes through the classroom's rule on its own.
			cmds := make([]tea.Cmd, len(keys))
			for i, one := range keys {
				_, cmds[i] = c.Update(one)
			}
			return c, tea.Sequence(cmds...)
		}
		if c.inner.Typing() {
			break
		}
		s := c.st.s
		switch k := msg.String(); {
		case c.st.instructor && (k == "ctrl+o" || k == "ctrl+r"):
			return c.pass(tui.StatusMsg{Text: s.handOver(c.st, k == "ctrl+o")})
		case !c.st.instructor && k == "ctrl+f":
			on := !c.st.follow.Load()
			c.st.follow.Store(on)
			if on {
				s.mu.Lock()
				sel := s.instrSel
				s.mu.Unlock()
				return c.pass(sel)
			}
			return c, nil
		case !c.st.instructor && labKeys[k] != "":
			return c.pass(tui.StatusMsg{Text: "watching: " + labKeys[k] + ": the instructor's", Err: true})
		case !c.st.instructor && k == ".":
			return c.pass(tui.StatusMsg{Text: "watching: the steps are the instructor's", Err: true})
		case !c.st.instructor && fileKeys[k] != "":
			if err := s.may(c.st, tui.ActDial); err != nil {
				return c.pass(tui.StatusMsg{Text: "watching: " + fileKeys[k] + " is the instructor's", Err: true})
			}
		}
	}
	return c.pass(msg)
}

// pass hands msg to the TUI; the instructor's selection goes to the
// trainees who follow it.
func (c *screen) pass(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := c.inner.Update(msg)
	if c.st.instructor {
		if run := c.inner.ScenarioTitle(); run != c.lastRun {
			c.lastRun = run
			c.st.s.setScenario(run)
		}
		if b := c.inner.Backend(); b != c.lastLab {
			c.lastLab = b
			if _, moved := msg.(tui.AttachMsg); !moved {
				// The instructor launched a scenario or switched the
				// mapping: every screen goes to the new lab (not when
				// another instructor's did).
				why := "runs a scenario on a lab of its own"
				if c.inner.ScenarioTitle() == "" {
					why = "switched the recorder's mapping (spec §3.1): the lab is built anew"
				}
				c.st.s.switchLab(c.st, b, why)
			}
		}
		if sel := c.inner.Selection(); sel != c.lastSel {
			c.lastSel = sel
			c.st.s.instructorSelected(sel)
		}
	}
	return c, cmd
}

func (c *screen) View() string {
	line := c.st.s.line(c.st)
	if c.w > 0 {
		line = ansi.Truncate(line, c.w, "…")
	}
	var b strings.Builder
	b.WriteString(c.inner.View())
	b.WriteString("\n")
	b.WriteString(line)
	return b.String()
}

// Closing is a lab backend that close closes: what Config.Lab must be for
// the instructor to launch scenarios.
func Closing(b tui.Backend, close func() error) tui.Backend { return &closing{b, close} }

type closing struct {
	tui.Backend
	close func() error
}

func (c *closing) Close() error        { return c.close() }
func (c *closing) Unwrap() tui.Backend { return c.Backend }
