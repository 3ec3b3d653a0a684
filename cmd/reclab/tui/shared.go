package tui

import (
	"context"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
)

// One lab, many screens (reclab classroom, issue 18): each SSH session
// runs a Model of its own on the same Backend, with its own size, focus,
// scroll, filters and Detail selection. What one session's lab does the
// others see on the trace they each subscribe to; what is not on the trace
// (the instructor's selection, step mode turned on, a note for this
// screen) comes as these messages, sent to the session's program.

// StatusMsg puts a line on the status line (and the Log), as the UI's own
// notes go there.
type StatusMsg struct {
	Text string
	Err  bool
}

// HoldMsg says that step mode was turned on or off on the lab by another
// screen: this one shows STEPPING and the held message as the one that
// pressed H does.
type HoldMsg struct{ On bool }

// SelectMsg moves the selection to the message of trace sequence Seq (the
// nearest one this screen's filter shows), or with Newest to the newest
// message, following: a trainee following the instructor's selection.
type SelectMsg struct {
	Seq    uint64
	Newest bool
}

// Selection is the message this screen has selected: its trace sequence,
// or Newest when the screen follows the newest message.
func (m *Model) Selection() SelectMsg {
	if m.follow || m.selectedIndex() < 0 {
		return SelectMsg{Newest: true}
	}
	return SelectMsg{Seq: m.events[m.selectedIndex()].Seq}
}

// Typing reports whether a prompt (dial, filter, search …) takes the keys.
func (m *Model) Typing() bool { return m.prompt != promptNone }

// Detach ends the Model's subscription to the trace: a screen that left
// no longer takes (nor counts as lost) the lab's events.
func (m *Model) Detach() {
	if m.sub != nil {
		m.sub.Close()
	}
}

// shared handles the messages above.
func (m *Model) shared(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.dirty = true
	switch msg := msg.(type) {
	case StatusMsg:
		m.setStatus(msg.Err, "%s", msg.Text)
	case HoldMsg:
		m.holding = msg.On
		if msg.On {
			m.follow = true
		} else {
			m.heldQueue = nil
		}
		m.place()
	case AttachMsg:
		return m, m.attachRunning(msg)
	case SelectMsg:
		if msg.Newest {
			m.follow = true
			m.place()
			break
		}
		for i := len(m.events) - 1; i >= 0; i-- {
			if m.events[i].Seq <= msg.Seq {
				m.follow = false
				m.selectEvent(i)
				m.place()
				break
			}
		}
	}
	return m, nil
}

// Join makes a UI on a lab that already runs (a classroom screen that
// comes late): like New, but the events the trace's ring still holds come
// first, taken with the subscription at one moment (nothing between them
// or twice), so the Nodes pane and the ladder show what happened before.
// What the ring has lost since is not shown.
func Join(ctx context.Context, b Backend) *Model {
	m := &Model{ctx: ctx}
	m.attachRunning(AttachMsg{B: b})
	return m
}

// SplitKeys is a key message as the keys it holds: keys typed faster than
// the terminal is read arrive as one message of several runes ("2d1005"),
// each a key of its own; a paste stays one.
func SplitKeys(k tea.KeyMsg) []tea.KeyMsg {
	if k.Type != tea.KeyRunes || len(k.Runes) < 2 || k.Paste {
		return []tea.KeyMsg{k}
	}
	out := make([]tea.KeyMsg, len(k.Runes))
	for i, r := range k.Runes {
		out[i] = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: k.Alt}
	}
	return out
}

// AttachMsg puts this screen on another lab, running already (the lab of
// the scenario the instructor launched): a new subscription, taking what
// the trace's ring holds first, as Join; Note goes on the status line.
// This screen does not start the lab nor run the scenario's steps.
type AttachMsg struct {
	B    Backend
	Note string
}

// Backend is the lab this screen shows.
func (m *Model) Backend() Backend { return m.b }

func (m *Model) attachRunning(msg AttachMsg) tea.Cmd {
	m.attach(msg.B)
	m.sub.Close()
	recent, sub := msg.B.Trace().SubscribeWithRecent(subBuffer, false)
	m.sub = sub
	for _, e := range recent {
		m.add(e)
	}
	m.snap = m.store.snapshot()
	if msg.Note != "" {
		m.setStatus(false, "%s", msg.Note)
	}
	return m.drain()
}

// ScenarioTitle is what the title line says of the scenario this screen
// runs ("basic-call step 3/14 waits"), "" when none.
func (m *Model) ScenarioTitle() string { return strings.TrimSpace(m.scenarioTitle()) }
