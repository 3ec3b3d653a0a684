package tui

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"
	"github.com/reclab/reclab/internal/labtest"
)

func TestMain(m *testing.M) {
	// Goldens and screen searches are colour-free.
	lipgloss.SetColorProfile(termenv.Ascii)
	labtest.Main(m) // a network namespace of its own: the lab tests bind 127.20.x
}

// waitLong bounds a wait on the screen; generous for a loaded machine, the
// test returns as soon as the screen shows what it waits for.
const waitLong = 30 * time.Second

// screen accumulates a teatest program's output across waits, so a later
// wait still sees what an earlier one read.
type screen struct {
	seen string
	tm   *teatest.TestModel
}

// waitFor waits until every string has appeared in the output.
func (s *screen) waitFor(t *testing.T, want ...string) {
	t.Helper()
	var read []byte
	teatest.WaitFor(t, s.tm.Output(), func(b []byte) bool {
		read = b // everything this wait has read so far
		all := s.seen + string(b)
		for _, w := range want {
			if !strings.Contains(all, w) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(waitLong), teatest.WithCheckInterval(20*time.Millisecond))
	s.seen += string(read)
}

func key(k string) tea.KeyMsg {
	special := map[string]tea.KeyType{
		"up": tea.KeyUp, "down": tea.KeyDown, "pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown,
		"ctrl+u": tea.KeyCtrlU, "ctrl+d": tea.KeyCtrlD, "home": tea.KeyHome, "end": tea.KeyEnd,
		"tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab, "enter": tea.KeyEnter, "esc": tea.KeyEsc,
		"ctrl+c": tea.KeyCtrlC,
	}
	if t, ok := special[k]; ok {
		return tea.KeyMsg{Type: t}
	}
	if k == " " {
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune(" ")}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

func TestScreenGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		w, h int
		keys []string
	}{
		{"80x24", 80, 24, nil},
		{"200x40", 200, 40, nil}, {"120x40", 120, 40, nil},
		{"80x24-detail", 80, 24, []string{"k", "k", "k", "k", "k", "enter"}},
		{"80x24-help", 80, 24, []string{"?"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newFakeBackend()
			b.gate = make(chan struct{})
			m := New(context.Background(), b)
			m.SetScenarios(fakeScenarios{})
			// All queued before the program starts: one batch. The states
			// come last so the messages keep their numbers (#6).
			for _, e := range append(sessionEvents(), b.upEvents()...) {
				b.trace.Publish(e)
			}
			goldenScreen(t, m, b, tc.w, tc.h, "GET /record", tc.keys)
		})
	}
}

// goldenScreen runs m at w×h until its screen shows first (the flow, all
// queued before the start), lets the lab start, presses keys, quits and
// compares the last screen with the golden file.
func goldenScreen(t *testing.T, m *Model, b *fakeBackend, w, h int, first string, keys []string) {
	t.Helper()
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	s := &screen{tm: tm}
	s.waitFor(t, first)
	close(b.gate) // "lab up" comes after the flow, every run
	s.waitFor(t, "lab up")
	for _, k := range keys {
		tm.Send(key(k))
	}
	tm.Send(key("q"))
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(waitLong)).(*Model)
	golden.RequireEqual(t, []byte(fm.View()))
}

// ready is a model with the session on screen, the cursor in the middle of
// the flow (not following) and a fake lab.
func ready(t *testing.T) (*Model, *fakeBackend) {
	t.Helper()
	b := newFakeBackend()
	m := New(context.Background(), b)
	t.Cleanup(m.sub.Close)
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(batchMsg{events: append(b.upEvents(), sessionEvents()...)})
	m.Update(startedMsg{})
	for range 3 {
		m.Update(key("k"))
	}
	return m, b
}

// exec runs a command and feeds its message back, as the program would.
func exec(m *Model, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			exec(m, c)
		}
	case nil:
	default:
		_, next := m.Update(msg)
		if _, isAction := msg.(actionMsg); isAction {
			_ = next // a live tick; not needed here
		}
	}
}

func TestEveryHelpKeyDoesSomething(t *testing.T) {
	seen := map[string]keyID{}
	for _, b := range bindings {
		for _, k := range b.keys {
			if other, dup := seen[k]; dup {
				t.Errorf("key %q is bound twice (%d and %d)", k, other, b.id)
			}
			seen[k] = b.id
			if got := key(k).String(); got != k {
				t.Fatalf("test key for %q reads %q", k, got)
			}
			t.Run(fmt.Sprintf("%s=%s", b.shown, k), func(t *testing.T) {
				m, _ := ready(t)
				switch b.id {
				case kBack:
					m.zoom = true
					m.dirty = true
				case kNext, kPrev:
					m.search = "INVITE"
				}
				before := m.View()
				_, cmd := m.Update(key(k))
				after := m.View()
				if before == after && cmd == nil {
					t.Errorf("key %q (%s) changed nothing on screen and started nothing", k, b.help)
				}
			})
		}
	}
}

func TestActionsReachTheLabAndFailuresSayWhy(t *testing.T) {
	m, b := ready(t)
	for _, k := range []string{"2", "d", "1", "0", "0", "5"} {
		m.Update(key(k))
	}
	if !strings.Contains(m.View(), "7434 (1002) dials: 1005") {
		t.Fatalf("no dial prompt:\n%s", m.View())
	}
	_, cmd := m.Update(key("enter"))
	exec(m, cmd)
	if got := b.actions(); len(got) != 1 || !reflect.DeepEqual(got[0], Action{Kind: ActDial, Phone: "7434", Arg: "1005"}) {
		t.Fatalf("actions = %+v, want one dial 1005 from 7434", got)
	}
	m.Update(key("5"))
	_, cmd = m.Update(key("a"))
	exec(m, cmd)
	if v := m.View(); !strings.Contains(v, "6867i is not ringing") || strings.Contains(v, "phones: ") {
		t.Errorf("the failed answer is not explained plainly:\n%s", v)
	}
	// An action the lab does not have says so and does nothing.
	n := len(b.actions())
	b.avail[ActForcedLogOff] = false
	m.Update(key("L"))
	if !strings.Contains(m.View(), "forced log-off: not available yet") || len(b.actions()) != n {
		t.Errorf("forced log-off without the lab's support:\n%s", m.View())
	}
	// Forced log-off (spec §3.2.3): L on 6867i (1005) asks which phone takes
	// 1005; the phone itself and an unknown one are refused in the prompt.
	b.avail[ActForcedLogOff] = true
	for _, tc := range []struct{ typed, want string }{
		{"6867i", "6867i already has 1005; name another phone"},
		{"9999", `forced log-off: no phone "9999"; phones: 4422, 7434`},
		{"1002", "forced log-off: 7434 (7434) registers over H.323 RAS"},
		{"1004", "6737i registers 1005: 6867i will be logged off"},
	} {
		m.Update(key("L"))
		if !strings.Contains(m.View(), "which phone takes 6867i's extension 1005") {
			t.Fatalf("no forced log-off prompt:\n%s", m.View())
		}
		for _, k := range strings.Split(tc.typed, "") {
			m.Update(key(k))
		}
		_, cmd = m.Update(key("enter"))
		if !strings.Contains(m.View(), tc.want) {
			t.Errorf("typed %q: the status does not say %q:\n%s", tc.typed, tc.want, m.View())
		}
		exec(m, cmd)
	}
	if got := b.actions(); len(got) != n+1 || !reflect.DeepEqual(got[n], Action{Kind: ActForcedLogOff, Phone: "6737i", Arg: "1005"}) {
		t.Errorf("forced log-off: actions %+v, want 6737i taking 1005 (a DBC phone is refused in the prompt)", got[n:])
	}
	n = len(b.actions())
	// The impairment prompt is parsed before anything reaches the lab.
	for _, k := range append([]string{"I"}, strings.Split("7434 pbx drop 50% sip", "")...) {
		m.Update(key(k))
	}
	_, cmd = m.Update(key("enter"))
	exec(m, cmd)
	if got := b.actions(); len(got) != n+1 || got[n].Kind != ActImpair || got[n].Impair.String() != "drop 50% SIP 7434→pbx" {
		t.Errorf("impairment: actions %+v", got[n:])
	}
}

func TestFollowAndRead(t *testing.T) {
	m, _ := ready(t)
	sel := m.selectedIndex()
	// New messages while reading do not move the selection.
	more := sessionEvents()[1:3]
	m.Update(batchMsg{events: more})
	if m.selectedIndex() != sel || m.follow {
		t.Fatalf("reading: selection moved from %d to %d (follow %v)", sel, m.selectedIndex(), m.follow)
	}
	m.Update(key("G"))
	if !m.follow || m.cursor != len(m.rows)-1 {
		t.Fatalf("G: follow %v cursor %d of %d", m.follow, m.cursor, len(m.rows))
	}
	m.Update(batchMsg{events: more})
	if m.cursor != len(m.rows)-1 {
		t.Errorf("following: cursor %d, newest %d", m.cursor, len(m.rows)-1)
	}
	// Paused, the flow holds still; resumed, it catches up.
	m.Update(key(" "))
	n := len(m.rows)
	m.Update(batchMsg{events: more})
	if len(m.rows) != n {
		t.Errorf("paused: rows grew from %d to %d", n, len(m.rows))
	}
	m.Update(key(" "))
	if len(m.rows) != n+2 {
		t.Errorf("resumed: %d rows, want %d", len(m.rows), n+2)
	}
}

func TestIdleRendersNothingNew(t *testing.T) {
	m, _ := ready(t)
	first := m.View()
	m.dirty = false
	m.cache = "cached"
	if m.View() != "cached" {
		t.Fatal("View recomputed the screen with nothing changed")
	}
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	if v := m.View(); v == "cached" || v == first {
		t.Fatal("View did not redraw after a resize")
	}
}
