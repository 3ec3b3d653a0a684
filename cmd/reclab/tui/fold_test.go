package tui

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/reclab/reclab/sim"
)

// More columns than fit: the last one shown is otherColumn, every row stays
// within the width, and an arrow to a folded column ends at otherColumn.
func TestLadderFoldsColumnsThatDoNotFit(t *testing.T) {
	names := []string{"pbx", "recorder", "4422", "7434", "7444", "6737i", "6867i", "6920"}
	for i := range 12 {
		names = append(names, fmt.Sprintf("127.20.9.9:%d", 6001+i))
	}
	g := newGeometry(80, len(names))
	if !g.folded || g.n >= len(names) {
		t.Fatalf("%d columns in 80 cells: drawn %d, folded %v", len(names), g.n, g.folded)
	}
	if h := g.header(names); !strings.Contains(h, otherColumn) || len([]rune(h)) > 80 {
		t.Fatalf("header %q", h)
	}
	e := sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: "OPTIONS sip:1002@127.20.1.2:7300"}
	for from := range names {
		for to := range names {
			rt := g.row(e, from, to, false)
			if n := len([]rune(rt.text)); n > 80 || rt.lo < 0 || rt.hi > 80 {
				t.Fatalf("row %d→%d: %d runes, arrow %d–%d: %q", from, to, n, rt.lo, rt.hi, rt.text)
			}
		}
	}
	if rt := g.row(e, 0, len(names)-1, false); !strings.Contains(rt.text, ">") || rt.hi != g.center(g.n-1) {
		t.Errorf("arrow to a folded column does not end at %q: %q", otherColumn, rt.text)
	}
}

// FuzzLadderRow: any width, any number of columns, any pair: no panic, no
// line longer than the width.
func FuzzLadderRow(f *testing.F) {
	f.Add(80, 20, 0, 19, "OPTIONS sip:x")
	f.Add(40, 3, 2, 0, "200 OK (INVITE)")
	f.Add(1, 1, 0, 0, "")
	f.Fuzz(func(t *testing.T, width, n, from, to int, summary string) {
		if width < 0 || width > 1000 || n < 0 || n > 500 {
			return
		}
		g := newGeometry(width, n)
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprint("n", i)
		}
		if h := g.header(names); len([]rune(h)) > width {
			t.Fatalf("header of %d runes in %d", len([]rune(h)), width)
		}
		for _, e := range []sim.Event{
			{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: summary},
			{Kind: sim.KindDropped, Proto: sim.ProtoRTP, Summary: summary},
			{Kind: sim.KindStreamStop, Proto: sim.ProtoRTP, Packets: 9, Delayed: time.Second},
		} {
			if rt := g.row(e, from, to, true); len([]rune(rt.text)) > width {
				t.Fatalf("row of %d runes in %d", len([]rune(rt.text)), width)
			}
		}
	})
}

// The flood of issue 11: every new foreign ip:port is a column; at 80×24
// four OPTIONS from the rogue host's ports 6001–6004 took the process down.
// Two hundred now, at every size down to 40×12: the model draws on.
func TestColumnsFloodDoesNotCrash(t *testing.T) {
	m, _ := ready(t)
	var flood []sim.Event
	for i := range 200 {
		src := netip.AddrPortFrom(netip.MustParseAddr("127.20.9.9"), uint16(6001+i))
		flood = append(flood, sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Src: src,
			Dst: netip.MustParseAddrPort("127.20.1.1:7300"), From: src.String(), To: "4422",
			Summary: "OPTIONS sip:1001@127.20.1.1:7300", At: time.Duration(i) * time.Millisecond})
	}
	m.Update(batchMsg{events: flood})
	for _, size := range [][2]int{{80, 24}, {40, 12}, {120, 40}, {200, 60}} {
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		m.dirty = true
		v := m.View()
		if strings.Contains(v, "could not be drawn") {
			t.Fatalf("%dx%d: %s", size[0], size[1], v)
		}
		for i, line := range strings.Split(v, "\n") {
			if w := lipgloss.Width(line); w > size[0] {
				t.Fatalf("%dx%d: line %d is %d cells wide: %q", size[0], size[1], i, w, line)
			}
		}
		if size[0] == 80 && !strings.Contains(v, otherColumn) {
			t.Errorf("80x24: no %q column in\n%s", otherColumn, v)
		}
	}
}

// Paused for long on a busy lab (issue 11 item 8: 119,050 events, 350 MB):
// the store stays bounded, what is on screen stays, and resuming says how
// many were dropped.
func TestPausedStoreIsBounded(t *testing.T) {
	m, _ := ready(t)
	m.Update(key(" "))
	if !m.paused {
		t.Fatal("Space did not pause")
	}
	onScreen := append([]sim.Event(nil), m.events[:m.frozen]...)
	var flood []sim.Event
	for i := range 3 * maxEvents {
		flood = append(flood, sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, From: "pbx", To: "7434",
			Summary: fmt.Sprintf("OPTIONS sip:1002@127.20.1.2 #%d", i), At: time.Duration(i) * time.Microsecond})
	}
	m.Update(batchMsg{events: flood})
	if n := len(m.events); n > len(onScreen)+maxEvents {
		t.Fatalf("%d events kept while paused, want at most %d", n, len(onScreen)+maxEvents)
	}
	for i, e := range onScreen {
		if m.events[i].Summary != e.Summary {
			t.Fatalf("event %d on screen changed while paused", i)
		}
	}
	if last := m.events[len(m.events)-1].Summary; last != flood[len(flood)-1].Summary {
		t.Fatalf("the newest event %q was not kept", last)
	}
	m.Update(key(" "))
	if l := m.logs[len(m.logs)-1].text; !strings.Contains(l, "came while the display was paused were dropped") {
		t.Fatalf("resume told nothing of the drop; last log line %q", l)
	}
}

// Errors that reach the model reach the export's Problems (issue 12: "e"
// wrote "Problems: None." after a session full of errors), also when there
// are more than it lists.
func TestExportListsTheSessionsProblems(t *testing.T) {
	m, _ := ready(t)
	var errs []sim.Event
	for i := range maxProblems + 3 {
		errs = append(errs, sim.Event{Kind: sim.KindError, Proto: sim.ProtoLab, From: "pbx", Summary: fmt.Sprintf("problem %d", i)})
	}
	m.Update(actionMsg{err: errors.New("phones: 6867i is not ringing")}) // a refused action
	m.Update(batchMsg{events: errs})
	rep := report(time.Now(), "out", m.snap, m.events, m.problems, m.problemTotal, 0)
	more := fmt.Sprintf("… and %d more", m.problemTotal-maxProblems) // the session had one error already
	if strings.Contains(rep, "None.") || !strings.Contains(rep, "ERROR pbx: problem 0") ||
		!strings.Contains(rep, "ERROR (action) ui: 6867i is not ringing") || !strings.Contains(rep, more) {
		t.Fatalf("report's problems:\n%s", rep[strings.Index(rep, "## Problems"):strings.Index(rep, "## Flow")])
	}
}

// Search names its match and the message's own number, the one Detail
// shows (issue 12: "message 48 of 72" where Detail said #91).
func TestSearchNumbersAsDetailDoes(t *testing.T) {
	m, _ := ready(t)
	for i := range m.events { // trace numbers, unlike row numbers, as a real trace has
		m.events[i].Seq = uint64(1000 + 7*i)
	}
	m.search = "INVITE"
	m.find(1)
	e := m.events[m.rows[m.cursor]]
	want := fmt.Sprintf("message #%d", e.Seq)
	if !strings.Contains(m.status, want) || !strings.Contains(m.status, "match ") {
		t.Fatalf("status %q, want it to name %s", m.status, want)
	}
	if d := detail(e); !strings.HasPrefix(d, fmt.Sprintf("#%d ", e.Seq)) {
		t.Fatalf("Detail begins %q, not with #%d", d[:min(len(d), 20)], e.Seq)
	}
}
