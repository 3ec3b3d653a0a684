package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/sim"
)

// View draws the screen. It is recomputed only after something changed.
func (m *Model) View() (out string) {
	if !m.dirty {
		return m.cache
	}
	m.dirty = false
	// A fault in drawing must never take the lab down (bubbletea ends the
	// program on a panic in View, and with it every live call): show it and
	// go on; the next redraw tries again.
	defer func() {
		if r := recover(); r != nil {
			m.dirty = true
			m.cache = fmt.Sprintf("reclab: the screen could not be drawn (%v); the lab runs on. q quits, ? helps.", r)
			out = m.cache
		}
	}()
	m.cache = m.render()
	return m.cache
}

func (m *Model) render() string {
	if m.w <= 0 || m.h <= 0 {
		return "reclab: starting the lab…"
	}
	l := m.layout()
	var out []string
	out = append(out, m.titleLine())
	switch {
	case m.help:
		out = append(out, m.helpLines(m.h-2)...)
	case m.pick != nil:
		out = append(out, m.pickerLines(m.h-2)...)
	default:
		out = append(out, m.nodesLines()...)
		out = append(out, m.bodyLines(l)...)
	}
	for len(out) < m.h-1 {
		out = append(out, "")
	}
	out = out[:m.h-1]
	out = append(out, m.statusLine())
	return strings.Join(out, "\n")
}

func (m *Model) titleLine() string {
	mode := "following"
	switch {
	case m.holding:
		mode = "STEPPING"
	case m.paused:
		mode = "PAUSED"
	case !m.follow:
		mode = "reading"
	}
	s := fmt.Sprintf(" reclab  %d messages  %s", len(m.events), mode)
	if !m.filter.empty() {
		s += fmt.Sprintf("  filter: %s", m.filter.text)
	}
	if m.lost > 0 {
		s += fmt.Sprintf("  display missed %d events", m.lost)
	}
	s += m.scenarioTitle()
	if m.closed {
		s += "  lab stopped"
	}
	s += "  ? help  q quit"
	return stTitle.Render(pad(s, m.w))
}

// pad clips (with "…", as clip does) or pads s to exactly w cells.
func pad(s string, w int) string {
	r := []rune(s)
	if len(r) > w {
		return clip(s, w)
	}
	return s + strings.Repeat(" ", w-len(r))
}

func paneHeader(title, info string, w int, focused bool) string {
	t := " " + title + " "
	if focused {
		t = "▸" + title + " "
	}
	s := "─" + t + info + " "
	if n := w - len([]rune(s)); n > 0 {
		s += strings.Repeat("─", n)
	}
	return stPane.Render(clip(s, w))
}

func (m *Model) nodesLines() []string {
	out := []string{paneHeader("Nodes", "phone: name ext model recording-address  registration  call  recording", m.w, m.focus == focusNodes)}
	for i, p := range m.snap.Phones {
		s := p.State
		reg := "unregistered"
		switch {
		case !s.Powered:
			reg = "powered off"
		case s.Registered:
			reg = "registered"
		}
		call := s.Call.String()
		if s.Remote != "" {
			call += " " + s.Remote
		}
		if code := sipStatus(s.CallError); s.Call == 0 && code != "" {
			call += ", last " + code // "idle, last 404"; the log has the words
		}
		rec := "rec " + s.Recording.String()
		if s.Recording == phones.RecForking && s.Call == phones.CallIdle {
			// The session is up but there is no call: nothing is forked
			// (static mapping keeps it; in dynamic mapping a recorder that
			// never learnt the call ended, e.g. behind a CSTA blackhole).
			rec = "rec session"
		}
		rtp := "rtp"
		if s.SRTP.Valid() {
			// Spec §1.3: an encrypted call, and what is forked of it.
			rtp = "srtp"
			if s.Recording == phones.RecForking {
				rec = "rec fork srtp"
			}
		}
		mark := "  "
		if i == m.phoneSel {
			mark = "> "
		}
		line := fmt.Sprintf("%s%d %-6s %-5s %-6s %-16s %-12s %-13s %-12s", mark, i+1, p.Name, p.Ext, p.Model,
			fmt.Sprintf("%s:%d", p.Addr, p.RecPort), reg, clip(call, 13), rec)
		if m.w > len([]rune(line))+20 {
			line += fmt.Sprintf(" calls %d %s ↑%d ↓%d fork %d/%d", s.Calls, rtp, s.Media.Sent, s.Media.Received, s.Media.ForkedTX, s.Media.ForkedRX)
		}
		line = pad(line, m.w)
		if i == m.phoneSel && m.focus == focusNodes {
			line = stSelected.Render(line)
		}
		out = append(out, line)
	}
	sn := m.snap
	calls := fmt.Sprintf("%d calls", len(sn.PBXCalls))
	if len(sn.PBXCalls) > 0 {
		calls += " (" + strings.Join(sn.PBXCalls, "; ") + ")"
	}
	out = append(out, clip(fmt.Sprintf("  pbx: %d registered, %s │ recorder: %s mapping, %d devices, %d sessions up, %d recordings",
		sn.PBXRegs, calls, sn.RecMapping, sn.RecDevices, sn.RecSessions, sn.RecFiles), m.w))
	return out
}

// bodyLines are the Flow pane (with the side detail when wide), or the
// zoomed detail, then the Log pane.
func (m *Model) bodyLines(l layout) []string {
	var out []string
	flowH := l.flowH
	if m.zoom {
		h := l.bodyH - 1
		title := "Detail"
		if m.focus == focusLog {
			title = "Log line"
		}
		out = append(out, paneHeader(title, "Enter/Esc back, ↑↓ scroll", m.w, true))
		out = append(out, m.detailLines(m.w, h)...)
		return out
	}
	if m.list != listNone {
		title, info := m.listTitle()
		out = append(out, paneHeader(title, info, m.w, m.focus == focusFlow))
		out = append(out, m.listLines(m.w, flowH)...)
		if l.logH > 0 {
			out = append(out, m.logHeader())
			out = append(out, m.logLines(l.logH)...)
		}
		return out
	}
	info := fmt.Sprintf("%d shown", len(m.rows))
	flow := m.flowLines(l.flowW, flowH)
	if m.holding && flowH > 2 {
		// The message the next '.' sends, as the last line of the ladder.
		flow = append(flow[:flowH-1], m.heldLine(l.flowW))
		info += fmt.Sprintf(", %d held: . sends the next, H plays", len(m.heldQueue))
	}
	out = append(out, m.flowHeader(l, info))
	if l.sideW > 0 {
		side := m.detailLines(l.sideW, flowH)
		for i := range flow {
			flow[i] = flow[i] + strings.Repeat(" ", max(0, l.flowW-lipgloss.Width(flow[i]))) + stPaneDim.Render("│") + side[i]
		}
	}
	out = append(out, flow...)
	if l.logH > 0 {
		out = append(out, m.logHeader())
		out = append(out, m.logLines(l.logH)...)
	}
	return out
}

func (m *Model) logHeader() string {
	info := "notes, errors, narration (Tab: focus, then ↑↓, Enter in full)"
	if m.focus == focusLog {
		info = fmt.Sprintf("line %d of %d: ↑↓ scroll, Enter in full, Tab leaves", m.logSel+1, len(m.logs))
	}
	return paneHeader("Log", info, m.w, m.focus == focusLog)
}

func (m *Model) flowHeader(l layout, info string) string {
	h := paneHeader("Flow", info, l.flowW, m.focus == focusFlow)
	if l.sideW > 0 {
		h += stPaneDim.Render("┬") + paneHeader("Detail", "Enter to zoom", l.sideW, false)
	}
	return h
}

// flowLines is the column header and the visible ladder rows; with w on,
// each row has its cause on a line under it.
func (m *Model) flowLines(w, h int) []string {
	g := newGeometry(w, len(m.cols.names))
	head := []rune(g.header(m.cols.names))
	if m.delta && len(head) >= 8 {
		put(head, 1, "     Δt")
	}
	out := []string{stPaneDim.Render(string(head))}
	base := time.Duration(-1)
	if sel := m.selectedIndex(); sel >= 0 {
		base = m.events[sel].At
	}
	for r := m.top; r < len(m.rows) && len(out) < h; r++ {
		i := m.rows[r]
		e := m.events[i]
		var rt rowText
		if isStall(e) {
			rt = g.stallRow(e)
		} else {
			rt = g.row(e, m.cols.of(e.From), m.cols.of(e.To), m.retrans[i])
		}
		line := []rune(rt.text)
		if m.delta && base >= 0 && len(line) >= 8 {
			// Δt from the selected message, as sngrep shows it.
			put(line, 1, clip(fmt.Sprintf("%+7.3f", (e.At-base).Seconds()), 7))
		}
		out = append(out, m.styleRow(e, line, rt, g, r == m.cursor, w))
		if m.whyLines && len(out) < h {
			out = append(out, stNote.Render(whyLine(g, m.why[i], w)))
		}
	}
	switch {
	case len(m.rows) > 0:
	case !m.filter.empty():
		out = append(out, clip(fmt.Sprintf("  (no message matches the filter %q; Esc clears it)", m.filter.text), w))
	default:
		out = append(out, "  (no messages yet)")
	}
	for len(out) < h {
		out = append(out, "")
	}
	return out[:max(h, 0)] // the pane's height, even when it has room for the column names only
}

// heldLine is the first message that waits for a step, or says none does.
func (m *Model) heldLine(w int) string {
	if len(m.heldQueue) == 0 {
		return stPaneDim.Render(clip("  ⏸ step mode: no message waits; act (d, a, x …) or wait for a timer", w))
	}
	h := m.heldQueue[0]
	more := ""
	if n := len(m.heldQueue); n > 1 {
		more = fmt.Sprintf(" (+%d more)", n-1)
	}
	return stSelected.Render(pad(fmt.Sprintf("  ⏸ next: %s %s → %s  %s%s", h.Proto, h.From, h.To, h.Summary, more), w))
}

// whyLine is a row's cause under its arrow: the lifelines go on, the text
// starts after the time column.
func whyLine(g geometry, why string, w int) string {
	if why == "" {
		why = "(no cause known)"
	}
	buf := blank(w)
	text := []rune(clip("↳ "+why, max(0, w-g.timeW)))
	put(buf, g.timeW, string(text))
	// The lifelines the text does not reach go on below it.
	for i := 0; i < g.n; i++ {
		if c := g.center(i); c > g.timeW+len(text) {
			set(buf, c, '│')
		}
	}
	return strings.TrimRight(string(buf), " ")
}

// styleRow colours a ladder row: the selected one reversed, otherwise its
// arrow and summary in its protocol's colour.
func (m *Model) styleRow(e sim.Event, line []rune, rt rowText, g geometry, selected bool, w int) string {
	if selected {
		line[0] = '>'
		return stSelected.Render(pad(string(line), w))
	}
	st, ok := stProto[e.Proto]
	if e.Kind == sim.KindDropped {
		st, ok = stDropped, true
	}
	if !ok || rt.hi > len(line) || rt.lo >= rt.hi {
		return string(line)
	}
	rest := string(line[rt.hi:])
	if g.summaryX > 0 && g.summaryX <= len(line) && g.summaryX >= rt.hi {
		rest = string(line[rt.hi:g.summaryX]) + st.Render(string(line[g.summaryX:]))
	}
	return string(line[:rt.lo]) + st.Render(string(line[rt.lo:rt.hi])) + rest
}

// detailText is what Detail shows: the selected message in full with its
// cause and its Δt, or with the Log focused, the selected log line.
func (m *Model) detailText() string {
	if m.focus == focusLog {
		if m.logSel < 0 || m.logSel >= len(m.logs) {
			return "(the log is empty)"
		}
		l := m.logs[m.logSel]
		at := "(the UI)"
		if l.at >= 0 {
			at = fmt.Sprintf("%.3fs", l.at.Seconds())
		}
		kind := "note"
		if l.err {
			kind = "ERROR"
		}
		return fmt.Sprintf("Log line %d of %d  %s  %s %s\n\n%s", m.logSel+1, len(m.logs), at, l.from, kind, l.text)
	}
	i := m.selectedIndex()
	if i < 0 {
		return "(select a message)"
	}
	text := detail(m.events[i])
	head, rest, _ := strings.Cut(text, "\n")
	extra := "Why: " + m.why[i]
	if m.why[i] == "" {
		extra = "Why: (no cause known)"
	}
	if m.cursor > 0 {
		prev := m.events[m.rows[m.cursor-1]]
		extra += fmt.Sprintf("\nΔt %+.3fs after #%d, the message above", (m.events[i].At - prev.At).Seconds(), prev.Seq)
	}
	return head + "\n" + extra + "\n" + rest
}

// detailLines is the Detail text, scrolled, wrapped to w.
func (m *Model) detailLines(w, h int) []string {
	text := m.detailText()
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		// Long lines wrap rather than lose their end.
		r := []rune(strings.ReplaceAll(l, "\t", "  "))
		for len(r) > w && w > 0 {
			lines = append(lines, string(r[:w]))
			r = r[w:]
		}
		lines = append(lines, string(r))
	}
	m.scroll = min(m.scroll, max(0, len(lines)-h))
	lines = lines[m.scroll:]
	out := make([]string, 0, h)
	for _, s := range lines {
		if len(out) == h {
			break
		}
		out = append(out, s)
	}
	for len(out) < h {
		out = append(out, "")
	}
	return out
}

func (m *Model) logLines(h int) []string {
	end := len(m.logs)
	if m.focus == focusLog {
		m.logSel = min(max(m.logSel, 0), len(m.logs)-1)
		end = min(len(m.logs), max(m.logSel+1, h))
	}
	start := max(0, end-h)
	var out []string
	for j, l := range m.logs[start:end] {
		at := "       "
		if l.at >= 0 {
			at = fmt.Sprintf("%7.3f", l.at.Seconds())
		}
		text := l.text
		if l.err {
			text = "ERROR " + text
		}
		s := clip(fmt.Sprintf("%s %-9s %s", at, l.from, text), m.w)
		switch {
		case m.focus == focusLog && start+j == m.logSel:
			s = stSelected.Render(pad(s, m.w))
		case l.err:
			s = stErr.Render(s)
		case l.from == "scenario" || l.from == "ui":
		default:
			s = stNote.Render(s)
		}
		out = append(out, s)
	}
	for len(out) < h {
		out = append(out, "")
	}
	return out
}

func (m *Model) statusLine() string {
	if m.prompt != promptNone {
		// What is typed stays in sight: a prompt wider than the screen
		// loses its start (marked), never the cursor's end.
		if r := []rune(m.input.View()); len(r) > m.w && m.w > 1 {
			return "…" + string(r[len(r)-m.w+1:])
		}
		return m.input.View()
	}
	s := m.status
	if s == "" {
		s = "1-9/Tab phone  d dial  a answer  x hang up  r/u register  P power  / search  f filter  e export  ? help"
	}
	s = clip(s, m.w)
	if m.statusErr {
		return stErr.Render(s)
	}
	return s
}

func (m *Model) helpLines(h int) []string {
	lines := []string{}
	group, missing := "", false
	for _, b := range bindings {
		if b.group != group {
			group = b.group
			lines = append(lines, group)
		}
		mark := ""
		if !m.availableKey(b.id) {
			mark, missing = " *", true
		}
		lines = append(lines, fmt.Sprintf("  %-8s %s%s", b.shown, b.help, mark))
	}
	foot := "Esc or any key closes this help."
	if missing {
		foot = "* not available yet in this lab.  " + foot
	}
	out := []string{paneHeader("Help", "every key", m.w, true)}
	rows := max(1, h-3) // below the header, above the blank and the foot
	if len(lines) > rows {
		// Two columns when the terminal is short; pages when even those
		// do not fit (↓ turns the page).
		colW := m.w / 2
		per := 2 * rows
		pages := (len(lines) + per - 1) / per
		m.helpPage = min(m.helpPage, pages-1)
		page := lines[m.helpPage*per : min(len(lines), (m.helpPage+1)*per)]
		half := min(rows, len(page))
		var two []string
		for i := 0; i < half; i++ {
			right := ""
			if i+half < len(page) {
				right = page[i+half]
			}
			two = append(two, pad(clip(page[i], colW-1), colW)+clip(right, m.w-colW))
		}
		lines = two
		if pages > 1 {
			foot = fmt.Sprintf("page %d of %d: ↓ next page.  ", m.helpPage+1, pages) + foot
		}
	}
	for _, l := range lines {
		out = append(out, clip(l, m.w))
	}
	return append(out, "", clip(foot, m.w))
}

// availableKey says whether a key's action exists in this lab yet.
func (m *Model) availableKey(id keyID) bool {
	if kind, ok := gatedKeys[id]; ok {
		return m.b.Available(kind)
	}
	if id == kScenario || id == kStep {
		return m.scens != nil
	}
	return true
}
