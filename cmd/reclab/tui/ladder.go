package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/reclab/reclab/sim"
)

// The ladder is pure: columns, geometry and one text line per event, no
// styles, so it is table-tested and the View colours the arrow span.

// columns are the ladder's node columns, by node name (not IP:port).
type columns struct {
	names []string
	index map[string]int
}

func newColumns(names ...string) *columns {
	c := &columns{index: map[string]int{}}
	for _, n := range names {
		c.of(n)
	}
	return c
}

// of returns the column of a node, adding it when new. A port label such as
// "recorder tx" belongs to the node named by its first word.
func (c *columns) of(name string) int {
	if name == "" {
		name = "?"
	}
	if i, ok := c.index[name]; ok {
		return i
	}
	if node, _, ok := strings.Cut(name, " "); ok {
		return c.of(node)
	}
	c.index[name] = len(c.names)
	c.names = append(c.names, name)
	return len(c.names) - 1
}

// isLadder reports whether an event is a row of the ladder (the rest goes
// to the log pane).
func isLadder(e sim.Event) bool {
	switch e.Kind {
	case sim.KindMessage, sim.KindStreamStart, sim.KindStreamStop, sim.KindDropped:
		return true
	}
	return false
}

// isStall reports whether e is a host stall (sim.HostStall): a row of its
// own across the ladder, where the RTP streams are, so a stall reads as a
// stall with its length and not as every stream stopping (issue 12).
func isStall(e sim.Event) bool {
	_, ok := e.State.(sim.HostStall)
	return e.Kind == sim.KindState && ok
}

// stallRow is a host stall's row: its time, then the stall with its
// length across the lifelines.
func (g geometry) stallRow(e sim.Event) rowText {
	buf := blank(g.width)
	put(buf, 1, fmt.Sprintf("%7.3f", e.At.Seconds()))
	lo, hi := g.timeW, g.width
	fill(buf, lo, hi, '≈')
	st, _ := e.State.(sim.HostStall)
	putCentered(buf, lo, hi, fmt.Sprintf(" host stall %s: the lab ran nothing, RTP streams not stopped ", st.Length.Round(time.Millisecond)))
	return rowText{text: strings.TrimRight(string(buf), " "), lo: lo, hi: hi}
}

// geometry places the columns in a width. Columns that do not fit fold
// into the last one shown, named "other": a lab with more nodes than the
// screen has room for, or a flood of foreign endpoints (each new ip:port of
// a host outside the lab is a column), stays on screen and never writes
// past the line.
type geometry struct {
	width    int
	timeW    int // marker, time and a space
	colW     int
	n        int  // columns drawn
	folded   bool // column n-1 stands for itself and every one after it
	summaryX int  // where the summary starts; 0 when there is no room
}

// otherColumn names the column the ones that do not fit fold into.
const otherColumn = "other"

const (
	timeWidth   = 9 // ">" + "%7.3f" + " "
	minColWidth = 7
	maxColWidth = 12
	minSummary  = 28
	wantSummary = 50
)

func newGeometry(width, n int) geometry {
	g := geometry{width: width, timeW: timeWidth, n: max(n, 1)}
	avail := width - g.timeW
	switch {
	case avail >= g.n*(minColWidth+3)+minSummary:
		// Columns give way to the summary up to wantSummary cells.
		g.colW = min(maxColWidth, max(minColWidth+2, (avail-wantSummary)/g.n))
		g.summaryX = g.timeW + g.n*g.colW + 1
	default:
		g.colW = max(minColWidth, avail/g.n)
	}
	// Keep every lifeline inside the width; fold the rest.
	for g.n > 1 && g.center(g.n-1) >= width {
		g.n--
		g.folded = true
	}
	return g
}

// col is where column i is drawn: itself, or the folded "other" column.
func (g geometry) col(i int) int { return min(max(i, 0), g.n-1) }

func (g geometry) center(col int) int { return g.timeW + col*g.colW + g.colW/2 }

// header is the line of column names, each centred over its column.
func (g geometry) header(names []string) string {
	buf := blank(g.width)
	put(buf, 1, "   time")
	for i, n := range names {
		if i >= g.n {
			break
		}
		if g.folded && i == g.n-1 {
			n = otherColumn
		}
		n = clip(n, g.colW)
		put(buf, g.center(i)-len([]rune(n))/2, n)
	}
	if g.summaryX > 0 {
		put(buf, g.summaryX, "message")
	}
	return strings.TrimRight(string(buf), " ")
}

// label is an arrow's short text: the SIP method or status, the CSTA
// event or request, the HTTP request line's method and path, RTP on/off.
func label(e sim.Event) string {
	// A stream to a labelled port ("recorder tx") says which.
	rtp := "RTP"
	if strings.HasPrefix(e.Summary, "SRTP stream") {
		rtp = "SRTP" // spec §1.3: an encrypted flow (sim.SRTPBook)
	}
	if _, port, ok := strings.Cut(e.To, " "); ok {
		rtp += " " + port
	}
	switch e.Kind {
	case sim.KindStreamStart:
		return rtp + " on"
	case sim.KindStreamStop:
		return fmt.Sprintf("%s off %d", rtp, e.Packets)
	}
	s := e.Summary
	var l string
	switch e.Proto {
	case sim.ProtoSIP:
		// "200 OK (INVITE)" → "200 OK"; "INVITE sip:…" → "INVITE".
		if i := strings.Index(s, " ("); i > 0 && s[0] >= '0' && s[0] <= '9' {
			l = s[:i]
		} else {
			l, _, _ = strings.Cut(s, " ")
			// A request to a port other than SIP's default shows it: the
			// recording port rule (spec §3.2) reads off the ladder.
			if p := e.Dst.Port(); p != 0 && p != 5060 {
				l += fmt.Sprintf(" :%d", p)
			}
		}
	case sim.ProtoCSTA:
		// "0001 MonitorStart 1001" → "MonitorStart".
		for _, f := range strings.Fields(s) {
			if strings.Trim(f, "0123456789") != "" {
				l = f
				break
			}
		}
	case sim.ProtoHTTP:
		m, rest, _ := strings.Cut(s, " ")
		path, _, _ := strings.Cut(rest, "?")
		l = strings.TrimSpace(m + " " + path)
	default:
		l = s
	}
	if e.Proto == sim.ProtoRTP {
		l = "RTP" // a dropped stream: the summary says more
	}
	if e.Kind == sim.KindDropped {
		l = "x " + l
	}
	if e.Duplicate {
		l = "dup " + l
	}
	if e.Delayed > 0 {
		l += " +" + e.Delayed.Round(time.Millisecond).String()
	}
	return l
}

// rowText is one ladder line and the span of its arrow (for colour).
type rowText struct {
	text   string
	lo, hi int // arrow span in runes, hi exclusive
}

// row draws one event: time, the columns' lifelines, the arrow with its
// label, and the summary when there is room. retrans marks a SIP message
// sent again byte for byte.
func (g geometry) row(e sim.Event, from, to int, retrans bool) rowText {
	from, to = g.col(from), g.col(to)
	buf := blank(g.width)
	put(buf, 1, fmt.Sprintf("%7.3f", e.At.Seconds()))
	for i := 0; i < g.n; i++ {
		set(buf, g.center(i), '│')
	}
	lbl := label(e)
	if retrans {
		lbl = "re " + lbl
	}
	line := '─'
	if e.Proto == sim.ProtoRTP {
		line = '┄'
	}
	var lo, hi int
	switch {
	case from == to:
		// A message to itself, or between two columns folded into one: a stub.
		lo = g.center(from) + 1
		hi = min(lo+g.colW-1, g.width)
		fill(buf, lo, hi, line)
		put(buf, lo, clip(lbl, hi-lo))
	case from < to:
		lo, hi = g.center(from)+1, g.center(to)
		fill(buf, lo, hi, line)
		head := '>'
		if e.Kind == sim.KindDropped {
			head = 'x'
		}
		set(buf, hi-1, head)
		putCentered(buf, lo, hi-1, lbl)
	default:
		lo, hi = g.center(to)+1, g.center(from)
		fill(buf, lo, hi, line)
		head := '<'
		if e.Kind == sim.KindDropped {
			head = 'x'
		}
		set(buf, lo, head)
		putCentered(buf, lo+1, hi, lbl)
	}
	if g.summaryX > 0 {
		put(buf, g.summaryX, clip(summaryText(e, retrans), g.width-g.summaryX))
	}
	return rowText{text: strings.TrimRight(string(buf), " "), lo: lo, hi: hi}
}

// summaryText is the full one-line summary, marked when dropped or resent.
func summaryText(e sim.Event, retrans bool) string {
	s := e.Summary
	if e.Kind == sim.KindDropped {
		s = "DROPPED " + s
	}
	if e.Delayed > 0 {
		s = "DELAYED " + e.Delayed.Round(time.Millisecond).String() + " " + s
	}
	if e.Duplicate {
		s = "DUPLICATE " + s
	}
	if retrans {
		s = "(retransmission) " + s
	}
	return s
}

func blank(n int) []rune {
	b := make([]rune, max(n, 0))
	for i := range b {
		b[i] = ' '
	}
	return b
}

// set writes r at i, if i is on the line.
func set(buf []rune, i int, r rune) {
	if i >= 0 && i < len(buf) {
		buf[i] = r
	}
}

func put(buf []rune, at int, s string) {
	for _, r := range s {
		if at >= 0 && at < len(buf) {
			buf[at] = r
		}
		at++
	}
}

func fill(buf []rune, lo, hi int, r rune) {
	for i := max(lo, 0); i < hi && i < len(buf); i++ {
		buf[i] = r
	}
}

// putCentered writes s centred in [lo, hi), clipped to leave one line
// character on each side when it can.
func putCentered(buf []rune, lo, hi int, s string) {
	room := hi - lo - 2
	if room < 1 {
		room = hi - lo
	}
	s = clip(s, room)
	n := len([]rune(s))
	put(buf, lo+(hi-lo-n)/2, s)
}

// clip shortens s to n runes; a cut text ends in "…", so a cut number is
// never read as another (issue 12: "127.20.1.1:730" was port 7300).
func clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n == 1 {
		return "…"
	}
	return string(r[:n-1]) + "…"
}
