package tui

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/reclab/reclab/sim"
)

// listKind is the list the body shows instead of the ladder (C, D).
type listKind uint8

const (
	listNone listKind = iota
	listCalls
	listDialogs
)

// extOf maps each phone's extension to its node name, as the Nodes pane
// shows them now.
func (m *Model) extOf() map[string]string {
	out := map[string]string{}
	for _, p := range m.snap.Phones {
		out[p.Ext] = p.Name
	}
	return out
}

// visibleEvents is the ladder's events as the display holds them (frozen
// while paused).
func (m *Model) visibleEvents() []sim.Event {
	if m.paused {
		return m.events[:min(m.frozen, len(m.events))]
	}
	return m.events
}

// openList shows the calls or dialogs list; the same key closes it.
func (m *Model) openList(k listKind) {
	if m.list == k {
		m.list = listNone
		return
	}
	m.list, m.listSel, m.zoom = k, 0, false
	m.refreshList()
	m.listSel = max(0, m.listLen()-1) // the newest, as the ladder follows
}

// refreshList recomputes the list from the events.
func (m *Model) refreshList() {
	switch m.list {
	case listCalls:
		m.callList = calls(m.visibleEvents(), m.extOf())
	case listDialogs:
		m.dialogList = dialogs(m.visibleEvents())
	}
	m.listSel = min(max(m.listSel, 0), max(0, m.listLen()-1))
}

func (m *Model) listLen() int {
	if m.list == listCalls {
		return len(m.callList)
	}
	return len(m.dialogList)
}

// listKey handles a key while a list is open: moving, Enter opens the
// selected call's or dialog's own ladder, Esc closes, p saves the call's
// packets. Other keys act as they do on the ladder.
func (m *Model) listKey(id keyID, k tea.KeyMsg) (handled bool, cmd tea.Cmd) {
	page := max(1, m.layout().flowH-1)
	switch id {
	case kUp:
		m.listSel--
	case kDown:
		m.listSel++
	case kPageUp:
		m.listSel -= page
	case kPageDown:
		m.listSel += page
	case kTop:
		m.listSel = 0
	case kBottom:
		m.listSel = m.listLen() - 1
	case kDetail:
		m.openSelected()
		return true, nil
	case kBack:
		m.list = listNone
		return true, nil
	case kSavePcap:
		return true, m.savePcap()
	default:
		return false, nil
	}
	m.listSel = min(max(m.listSel, 0), max(0, m.listLen()-1))
	return true, nil
}

// openSelected filters the ladder to the selected call or dialog.
func (m *Model) openSelected() {
	f := filterSpec{}
	switch {
	case m.list == listCalls && m.listSel < len(m.callList):
		c := m.callList[m.listSel]
		f.call, f.text = c, fmt.Sprintf("call=%d", c.n)
	case m.list == listDialogs && m.listSel < len(m.dialogList):
		d := m.dialogList[m.listSel]
		f.dialog, f.text = d.callID, "dialog="+d.callID
	default:
		m.setStatus(true, "nothing to open: the list is empty")
		return
	}
	m.list = listNone
	m.filter = f
	m.refilter()
	m.follow = false
	m.cursor = 0
	m.place()
	m.setStatus(false, "ladder of %s: %d messages (Esc: every message; C/D: the lists)", f.text, len(m.rows))
}

// listLines is the open list, h lines with its column header.
func (m *Model) listLines(w, h int) []string {
	m.refreshList()
	var head string
	var rows []string
	switch m.list {
	case listCalls:
		head = fmt.Sprintf("  %-3s %8s  %-13s %-14s %4s %4s %4s %5s  %s", "#", "start", "caller→callee", "state", "legs", "rec", "rtp", "msgs", "phones, CSTA call")
		for _, c := range m.callList {
			legs := len(c.legs) - c.recorded
			who := c.callerNode + "→" + c.calleeNode
			if c.cstaCall != "" {
				who += ", CSTA " + c.cstaCall
			}
			rows = append(rows, fmt.Sprintf("  %-3d %8.3f  %-13s %-14s %4d %4d %4d %5d  %s", c.n, c.start.Seconds(),
				clip(c.caller+"→"+c.callee, 13), clip(c.state(), 14), legs, c.recorded, c.streams, c.messages, who))
		}
	case listDialogs:
		head = fmt.Sprintf("  %-3s %8s  %-22s %-6s %-6s %-8s %-13s %4s  %s", "#", "start", "Call-ID", "from", "to", "method", "state", "msgs", "nodes")
		for i, d := range m.dialogList {
			rows = append(rows, fmt.Sprintf("  %-3d %8.3f  %-22s %-6s %-6s %-8s %-13s %4d  %s", i+1, d.first.Seconds(),
				clip(d.callID, 22), clip(d.from, 6), clip(d.to, 6), clip(d.method, 8), clip(d.state, 13), d.count, d.fromNode+"→"+d.toNode))
		}
	}
	out := []string{stPaneDim.Render(clip(head, w))}
	n := h - 1
	top := 0
	if m.listSel >= n {
		top = m.listSel - n + 1
	}
	for i := top; i < len(rows) && len(out) < h; i++ {
		line := pad(rows[i], w)
		if i == m.listSel {
			line = stSelected.Render(">" + line[1:])
		}
		out = append(out, line)
	}
	if len(rows) == 0 {
		what := "calls (a phone's INVITE to the PBX starts one)"
		if m.list == listDialogs {
			what = "SIP dialogs"
		}
		out = append(out, "  (no "+what+" yet)")
	}
	for len(out) < h {
		out = append(out, "")
	}
	return out
}

// listTitle is the list pane's header text.
func (m *Model) listTitle() (string, string) {
	if m.list == listCalls {
		return "Calls", fmt.Sprintf("%d: Enter its ladder, p save its pcap, D dialogs, Esc back", len(m.callList))
	}
	return "Dialogs", fmt.Sprintf("%d SIP dialogs: Enter its ladder, C calls, Esc back", len(m.dialogList))
}

// splitListWords takes "call=N" and "dialog=ID" out of a filter's words.
func (m *Model) splitListWords(s string) (rest string, c *call, dialog string, err error) {
	var keep []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		switch {
		case strings.HasPrefix(strings.ToLower(w), "call="):
			var n int
			cs := calls(m.events, m.extOf())
			if _, e := fmt.Sscanf(w[5:], "%d", &n); e != nil || n < 1 || n > len(cs) {
				return "", nil, "", fmt.Errorf("filter: %q: the session has calls 1 to %d (C lists them)", w, len(cs))
			}
			c = cs[n-1]
		case strings.HasPrefix(strings.ToLower(w), "dialog="):
			dialog = w[7:]
			if dialog == "" {
				return "", nil, "", fmt.Errorf("filter: %q names no Call-ID (D lists them)", w)
			}
		default:
			keep = append(keep, w)
		}
	}
	return strings.Join(keep, " "), c, dialog, nil
}

// relabMsg is the UI's lab built anew with another mapping.
type relabMsg struct {
	b       Backend
	mapping string
	err     error
}

// switchMapping rebuilds the UI's lab with the other recorder mapping
// (dynamic ⇄ static, spec §3.1): a recorder's mapping is its configuration,
// fixed when it starts, so the lab is closed and built again.
func (m *Model) switchMapping() tea.Cmd {
	if m.relab == nil || m.scen != nil {
		m.setStatus(true, "mapping: only the UI's own lab switches its mapping (a scenario's lab has the one its file names)")
		return nil
	}
	if m.busy {
		m.setStatus(true, "mapping: a lab is being built already")
		return nil
	}
	next := "static"
	if m.snap.RecMapping == "static" {
		next = "dynamic"
	}
	m.busy = true
	m.setStatus(false, "mapping: closing this lab and building one with %s mapping…", next)
	old, relab := m.b, m.relab
	return func() tea.Msg {
		if err := closeBackend(old); err != nil {
			return relabMsg{err: fmt.Errorf("closing the lab: %w", err)}
		}
		b, err := relab(next)
		return relabMsg{b: b, mapping: next, err: err}
	}
}
