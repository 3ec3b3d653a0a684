package tui

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// Bounds of what the UI keeps; the trace and the pcap keep the rest.
const (
	subBuffer   = 8192  // events between the lab and the UI
	maxBatch    = 4096  // events taken per drain
	maxEvents   = 20000 // ladder events kept
	maxProblems = 500   // error events kept for the report
	maxLogs     = 1000  // log lines kept
	drainEvery  = 50 * time.Millisecond
	liveEvery   = 500 * time.Millisecond // RTP counters refresh while a phone talks
)

type focus uint8

const (
	focusFlow focus = iota
	focusNodes
	focusLog // the Log pane: ↑↓ scroll, Enter shows the line in full
)

type promptKind uint8

const (
	promptNone promptKind = iota
	promptDial
	promptFilter
	promptSearch
	promptImpair
	promptLogOff // forced log-off: the phone that takes the selected phone's extension
)

// Messages between the UI's commands and Update.
type (
	batchMsg struct {
		gen    int // the subscription it came from (a scenario replaces the lab)
		events []sim.Event
		lost   uint64
		closed bool
	}
	drainMsg   struct{ gen int }
	liveMsg    struct{}
	startedMsg struct{ err error }
	actionMsg  struct {
		text string
		err  error
	}
)

// logLine is one line of the Log pane: a node's note or error, or what the
// UI itself did.
type logLine struct {
	at   time.Duration
	from string
	text string
	err  bool
}

// Model is the terminal UI. It is a pointer model so View can keep its last
// rendering: an idle UI recomputes nothing.
type Model struct {
	b   Backend
	sub *sim.Subscription
	ctx context.Context

	w, h  int
	store *nodeStore // the nodes' typed states, folded as they come
	snap  Snapshot   // the Nodes pane: store.snapshot() after each batch
	cols  *columns

	events  []sim.Event // ladder events, unfiltered
	retrans []bool      // per event: a SIP message sent again byte for byte
	why     []string    // per event: its cause (why.go)
	causes  causeState
	// userActs are the user's actions no message has answered yet: the
	// cause of the message that does.
	userActs []userAct
	story    []storyAct // every action the user took, for save-as-scenario
	// carryStory is the story a Back replay starts from (kept across
	// attach); backing: the running scenario is that replay, whose steps
	// but the last are let through at once.
	carryStory []storyAct
	backing    bool
	// relab builds the UI's lab anew with another recorder mapping (m);
	// nil: this UI cannot.
	relab  func(mapping string) (Backend, error)
	seen   map[uint64]bool
	logs   []logLine
	rows   []int // indices into events that pass the filter
	cursor int   // index into rows
	top    int
	follow bool
	paused bool
	frozen int // len(events) when the display was paused
	// problems are the session's error events, the first maxProblems of
	// them, for the report (e); problemTotal counts them all.
	problems     []sim.Event
	problemTotal int
	// heldDropped counts events that came while paused and were dropped
	// to keep the store bounded (add); told in the Log on resume.
	heldDropped int
	lost        uint64
	closed      bool

	focus    focus
	phoneSel int
	logSel   int // the selected Log line (focusLog)

	list       listKind // the calls or dialogs list, open instead of the ladder
	listSel    int
	callList   []*call
	dialogList []*dialog
	delta      bool // the time column is Δt from the selected message
	whyLines   bool // each arrow has its cause on a line under it
	// holding: step mode (H); heldQueue the messages that wait for '.',
	// as the lab's HeldMessage states name them.
	holding   bool
	heldQueue []sim.HeldMessage
	zoom      bool // the detail fills the body
	scroll    int  // detail scroll
	help      bool
	helpPage  int

	prompt promptKind
	input  lineInput
	// logOffFrom is phone A of the forced log-off prompt (logoff.go).
	logOffFrom PhoneView

	filter filterSpec
	search string

	status    string
	statusErr bool
	live      bool // a liveMsg tick is pending

	cache string
	dirty bool

	gen     int            // counts subscriptions: batches of a replaced lab are dropped
	scens   Scenarios      // the `s` list; nil: none in this UI
	pick    *picker        // the scenario list, open
	scen    *scenarioState // the scenario running or last run
	pending *launchedMsg   // a scenario Init starts (StartScenario)
	busy    bool           // a scenario's lab is being built
	// recClosed are the recordings the recorder kept, newest last (at
	// most maxRecClosed).
	recClosed []sim.Event
}

const maxRecClosed = 1024

// New makes the UI on a backend. It subscribes to the trace at once, before
// the lab starts, so nothing is missed; the subscription never blocks the
// lab (a slow UI loses events and counts them).
func New(ctx context.Context, b Backend) *Model {
	m := &Model{ctx: ctx}
	m.attach(b)
	return m
}

// SetRelab gives the m key its lab builder (Relabber); without one, m says
// the lab's mapping is fixed.
func (m *Model) SetRelab(f func(mapping string) (Backend, error)) { m.relab = f }

// attach puts the UI on a lab: a new subscription, an empty flow and log.
func (m *Model) attach(b Backend) {
	gen := m.gen
	if m.sub != nil {
		m.sub.Close()
		gen++
	}
	*m = Model{ctx: m.ctx, w: m.w, h: m.h, gen: gen, scens: m.scens, scen: m.scen, relab: m.relab,
		b: b, follow: true, seen: map[uint64]bool{}, dirty: true, causes: newCauseState(),
		story: m.carryStory, backing: m.backing}
	m.sub = b.Trace().Subscribe(subBuffer, false)
	m.store = newNodeStore(b.Nodes(), b.Media)
	m.snap = m.store.snapshot()
	// The PBX and the recorder at either edge: CSTA between them spans the
	// ladder and its event names read in full.
	names := []string{"pbx"}
	for _, p := range m.snap.Phones {
		names = append(names, p.Name)
	}
	names = append(names, "recorder")
	m.cols = newColumns(names...)
}

// Init starts draining the trace and starts the lab.
func (m *Model) Init() tea.Cmd {
	if p := m.pending; p != nil {
		m.pending = nil
		return tea.Batch(m.drain(), m.began(*p))
	}
	b, ctx := m.b, m.ctx
	return tea.Batch(m.drain(), func() tea.Msg { return startedMsg{b.Start(ctx)} })
}

// drain waits for the first event, then takes what is queued behind it in
// one batch. It runs on a command goroutine: the lab publishes into the
// subscription's buffer and never waits for the UI.
func (m *Model) drain() tea.Cmd {
	sub, gen := m.sub, m.gen
	return func() tea.Msg {
		e, ok := <-sub.C
		if !ok {
			return batchMsg{gen: gen, closed: true}
		}
		batch := []sim.Event{e}
		for len(batch) < maxBatch {
			select {
			case e, ok := <-sub.C:
				if !ok {
					return batchMsg{gen: gen, events: batch, closed: true}
				}
				batch = append(batch, e)
			default:
				return batchMsg{gen: gen, events: batch, lost: sub.Lost()}
			}
		}
		return batchMsg{gen: gen, events: batch, lost: sub.Lost()}
	}
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
		m.dirty = true
		m.place()
		return m, nil
	case batchMsg:
		if msg.gen != m.gen {
			return m, nil // the lab a scenario replaced
		}
		for _, e := range msg.events {
			m.add(e)
		}
		m.lost = max(m.lost, msg.lost)
		m.snap = m.store.snapshot()
		m.place()
		m.dirty = true
		if msg.closed {
			m.closed = true
			m.scenarioEnded() // its outcome follows its last events
			return m, nil
		}
		// At most one redraw per drainEvery: a lab under load is drawn in
		// batches, an idle one costs nothing (the drain blocks).
		gen := m.gen
		return m, tea.Batch(tea.Tick(drainEvery, func(time.Time) tea.Msg { return drainMsg{gen} }), m.liveTick())
	case drainMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		return m, m.drain()
	case liveMsg:
		m.live = false
		m.snap = m.store.snapshot()
		m.dirty = true
		return m, m.liveTick()
	case startedMsg:
		if msg.err != nil {
			m.setStatus(true, "the lab did not start: %v", msg.err)
		} else {
			m.setStatus(false, "lab up: %d phones registered; pcap %s", len(m.snap.Phones), filepath.Join(m.b.OutDir(), "lab.pcapng"))
		}
		return m, nil
	case actionMsg:
		if msg.err != nil {
			m.setStatus(true, "%s", plainError(msg.err))
		} else {
			m.setStatus(false, "%s", msg.text)
		}
		return m, m.liveTick()
	case tea.KeyMsg:
		m.dirty = true
		return m.key(msg)
	case relabMsg:
		m.busy = false
		if msg.err != nil {
			m.setStatus(true, "mapping: %s", plainError(msg.err))
			return m, nil
		}
		m.attach(msg.b)
		m.setStatus(false, "recorder mapping now %s (spec §3.1): the lab is built anew, its files in %s", msg.mapping, msg.b.OutDir())
		b, ctx := m.b, m.ctx
		return m, tea.Batch(m.drain(), func() tea.Msg { return startedMsg{b.Start(ctx)} })
	case StatusMsg, HoldMsg, SelectMsg, AttachMsg:
		return m.shared(msg) // shared.go: another screen of the same lab
	case launchedMsg, stepWaitMsg, scenarioDoneMsg:
		m.dirty = true
		return m.updateScenario(msg)
	}
	return m, nil
}

// liveTick refreshes the RTP counters of the Nodes pane while a phone
// talks: they are counters, not states, so no event says they moved.
func (m *Model) liveTick() tea.Cmd {
	if m.live || !m.talking() {
		return nil
	}
	m.live = true
	return tea.Tick(liveEvery, func(time.Time) tea.Msg { return liveMsg{} })
}

func (m *Model) talking() bool {
	for _, p := range m.snap.Phones {
		if p.State.Call != 0 {
			return true
		}
	}
	return false
}

// plainError drops the package prefix: "phones: 1002 is not registered"
// reads "1002 is not registered".
func plainError(err error) string {
	s := err.Error()
	for _, p := range []string{"phones: ", "lab: ", "pbx: ", "recorder: ", "sim: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

func (m *Model) setStatus(isErr bool, format string, args ...any) {
	m.status = fmt.Sprintf(format, args...)
	m.statusErr = isErr
	m.dirty = true
	m.logs = append(m.logs, logLine{at: -1, from: "ui", text: m.status, err: isErr})
	m.trimLogs()
	if isErr {
		// What the user asked and the lab refused is a problem of the
		// session too (issue 12: the export said "None." after a session
		// of failed actions).
		m.addProblem(sim.Event{At: -1, Kind: sim.KindError, Proto: sim.ProtoLab, From: "ui", Summary: m.status})
	}
}

// addProblem keeps an error or warning for the report: the first
// maxProblems of them, and the count of all.
func (m *Model) addProblem(e sim.Event) {
	m.problemTotal++
	if len(m.problems) < maxProblems {
		m.problems = append(m.problems, e)
	}
}

func (m *Model) trimLogs() {
	if len(m.logs) > maxLogs {
		m.logs = append([]logLine(nil), m.logs[len(m.logs)-maxLogs/2:]...)
	}
}

// add takes one trace event: typed states to the store, ladder rows to the
// flow, the rest to the log.
func (m *Model) add(e sim.Event) {
	m.store.fold(e)
	if e.Kind == sim.KindState {
		m.causes.fold(e)
		if h, ok := e.State.(sim.HeldMessage); ok && m.holding {
			m.heldQueue = append(m.heldQueue, h)
		}
		if c, ok := e.State.(recorder.RecordingClosed); ok && c.Kept {
			// W draws its recording checks from these (save.go).
			if len(m.recClosed) == maxRecClosed {
				m.recClosed = append(m.recClosed[:0:0], m.recClosed[maxRecClosed/2:]...)
			}
			m.recClosed = append(m.recClosed, e)
		}
		if st, ok := e.State.(sim.HostStall); ok {
			// A stall, not every stream stopping: the Log says how long.
			m.logs = append(m.logs, logLine{at: e.At, from: e.From, text: st.String(), err: true})
			m.trimLogs()
		}
	}
	if e.Kind == sim.KindMessage && len(m.heldQueue) > 0 {
		// A held message went: it leaves the queue.
		for i, h := range m.heldQueue {
			if h.From == e.From && h.To == e.To && h.Summary == e.Summary {
				m.heldQueue = append(m.heldQueue[:i:i], m.heldQueue[i+1:]...)
				break
			}
		}
	}
	if _, ok := problemKind(e); ok {
		m.addProblem(e)
	}
	stall := isStall(e)
	if !isLadder(e) && !stall {
		switch e.Kind {
		case sim.KindNote, sim.KindError:
			m.logs = append(m.logs, logLine{at: e.At, from: e.From, text: e.Summary, err: e.Kind == sim.KindError})
			m.trimLogs()
		}
		return
	}
	if !stall { // a stall is the lab's, no node's column
		m.cols.of(e.From)
		m.cols.of(e.To)
	}
	re := false
	if e.Proto == sim.ProtoSIP && (e.Kind == sim.KindMessage || e.Kind == sim.KindDropped) {
		h := fnv.New64a()
		h.Write([]byte(e.From + ">" + e.To))
		h.Write(e.Bytes)
		k := h.Sum64()
		re = m.seen[k]
		m.seen[k] = true
	}
	why := m.explain(e, re)
	m.events = append(m.events, e)
	m.retrans = append(m.retrans, re)
	m.why = append(m.why, why)
	if !m.paused && m.filter.pass(e, m.cols) {
		m.rows = append(m.rows, len(m.events)-1)
	}
	if m.paused && len(m.events)-m.frozen > maxEvents {
		// Paused: what is on screen stays; of what came since, the newest
		// half is kept, so a long pause on a busy lab holds bounded memory.
		cut := len(m.events) - maxEvents/2
		m.heldDropped += cut - m.frozen
		m.events = append(m.events[:m.frozen:m.frozen], m.events[cut:]...)
		m.retrans = append(m.retrans[:m.frozen:m.frozen], m.retrans[cut:]...)
		m.why = append(m.why[:m.frozen:m.frozen], m.why[cut:]...)
		if len(m.seen) > maxEvents {
			m.seen = map[uint64]bool{}
		}
	}
	if len(m.events) > maxEvents && !m.paused {
		drop := maxEvents / 4
		m.events = append([]sim.Event(nil), m.events[drop:]...)
		m.retrans = append([]bool(nil), m.retrans[drop:]...)
		m.why = append([]string(nil), m.why[drop:]...)
		if len(m.seen) > maxEvents {
			m.seen = map[uint64]bool{}
		}
		sel := m.selectedIndex() - drop
		m.refilter()
		m.selectEvent(sel)
	}
}

// refilter rebuilds the visible rows from the filter.
func (m *Model) refilter() {
	m.rows = m.rows[:0]
	n := len(m.events)
	if m.paused {
		n = min(m.frozen, n)
	}
	for i := 0; i < n; i++ {
		if m.filter.pass(m.events[i], m.cols) {
			m.rows = append(m.rows, i)
		}
	}
}

// selectedIndex is the events index of the selected row, -1 if none.
func (m *Model) selectedIndex() int {
	if m.cursor < 0 || m.cursor >= len(m.rows) {
		return -1
	}
	return m.rows[m.cursor]
}

// selectEvent puts the cursor on the row of events[i], or the nearest after.
func (m *Model) selectEvent(i int) {
	for r, ev := range m.rows {
		if ev >= i {
			m.cursor = r
			return
		}
	}
	m.cursor = len(m.rows) - 1
}

// layout is where the panes go for the current size.
type layout struct {
	nodesH   int // lines of the Nodes pane, header included
	flowH    int // ladder rows (below its header)
	logH     int // log lines (below its header); 0 hides the pane
	flowW    int // width of the ladder
	sideW    int // width of the side detail; 0 when there is none
	bodyH    int // lines between the Nodes pane and the status line
	wideSide bool
}

func (m *Model) layout() layout {
	var l layout
	l.nodesH = 2 + len(m.snap.Phones)
	l.logH = 3
	if m.h > 30 {
		l.logH = min(10, 3+(m.h-30)/3)
	}
	l.bodyH = m.h - 1 - l.nodesH - 1 // title, nodes, status
	l.flowH = l.bodyH - 1 - (l.logH + 1)
	if l.flowH < 4 {
		l.logH = 0
		l.flowH = l.bodyH - 1
	}
	// The detail goes beside the ladder only when the ladder keeps its
	// summary column; otherwise Enter shows it full screen.
	l.flowW = m.w
	need := timeWidth + len(m.cols.names)*(minColWidth+3) + minSummary + 20
	if side := min(m.w-need-1, m.w/2); side >= 50 {
		l.sideW = side
		l.flowW = m.w - side - 1
	}
	l.flowH = max(l.flowH, 1)
	return l
}

// place keeps the cursor on screen: on the newest row while following,
// where the user left it otherwise.
func (m *Model) place() {
	n := len(m.rows)
	h := m.layout().flowH - 1 // below the column names
	if m.holding {
		h = max(1, h-1) // the held message's line
	}
	if m.whyLines {
		h = max(1, h/2) // each row and its cause
	}
	if n == 0 {
		m.cursor, m.top = 0, 0
		return
	}
	if m.follow {
		m.cursor = n - 1
	}
	m.cursor = min(max(m.cursor, 0), n-1)
	if m.follow {
		m.top = max(0, n-h)
		return
	}
	if m.cursor < m.top {
		m.top = m.cursor
	}
	if m.cursor >= m.top+h {
		m.top = m.cursor - h + 1
	}
	m.top = min(max(m.top, 0), max(0, n-h))
}

// move moves the flow cursor (or the phone selection) by d.
func (m *Model) move(d int) {
	if m.zoom {
		m.scroll = max(0, m.scroll+d)
		return
	}
	if m.focus == focusNodes {
		if n := len(m.snap.Phones); n > 0 {
			m.phoneSel = min(max(m.phoneSel+d, 0), n-1)
		}
		return
	}
	if m.focus == focusLog {
		m.logSel = min(max(m.logSel+d, 0), len(m.logs)-1)
		return
	}
	if len(m.rows) == 0 {
		return
	}
	m.cursor = min(max(m.cursor+d, 0), len(m.rows)-1)
	m.follow = m.cursor == len(m.rows)-1 && d > 0
	m.scroll = 0
	m.place()
}

func (m *Model) selectedPhone() (PhoneView, bool) {
	if m.phoneSel < 0 || m.phoneSel >= len(m.snap.Phones) {
		return PhoneView{}, false
	}
	return m.snap.Phones[m.phoneSel], true
}

// key handles a key press.
func (m *Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	// Keys typed faster than the terminal is read arrive as one message of
	// several runes ("2d1005"): take them one by one.
	if keys := SplitKeys(k); len(keys) > 1 {
		var cmds []tea.Cmd
		for _, one := range keys {
			_, cmd := m.key(one)
			cmds = append(cmds, cmd)
		}
		return m, tea.Sequence(cmds...)
	}
	if m.prompt != promptNone {
		return m.promptKey(k)
	}
	if m.pick != nil {
		return m.pickerKey(k)
	}
	if m.help {
		id, ok := keyIndex[k.String()]
		switch {
		case ok && id == kQuit:
			return m, tea.Quit
		case ok && (id == kDown || id == kPageDown):
			m.helpPage++
			return m, nil
		case ok && (id == kUp || id == kPageUp):
			m.helpPage = max(0, m.helpPage-1)
			return m, nil
		}
		m.help = false
		return m, nil
	}
	id, ok := keyIndex[k.String()]
	if !ok {
		return m, nil
	}
	if kind, ok := phoneKeys[id]; ok {
		return m, m.phoneAction(kind, "")
	}
	if m.list != listNone {
		if ok, cmd := m.listKey(id, k); ok {
			return m, cmd
		}
	}
	page := m.layout().flowH
	switch id {
	case kUp:
		m.move(-1)
	case kDown:
		m.move(1)
	case kPageUp:
		m.move(-page)
	case kPageDown:
		m.move(page)
	case kTop:
		if m.zoom {
			m.scroll = 0
			break
		}
		m.follow = false
		m.cursor = 0
		m.place()
	case kBottom:
		m.follow = true
		m.place()
	case kFocus:
		// Flow → Nodes → Log → Flow; shift+tab the other way.
		d := 1
		if k.String() == "shift+tab" {
			d = 2
		}
		m.focus = (m.focus + focus(d)) % 3
		if m.focus == focusLog {
			m.logSel = len(m.logs) - 1
		}
		m.zoom = false
	case kSelectPhone:
		i := int(k.Runes[0] - '1')
		if i >= len(m.snap.Phones) {
			m.setStatus(true, "there is no phone %d; the lab has %d", i+1, len(m.snap.Phones))
			break
		}
		// The flow keeps the keyboard: the phone is what actions act on.
		m.phoneSel = i
		p := m.snap.Phones[i]
		m.status, m.statusErr = fmt.Sprintf("phone %d: %s (%s), %s, recording at %s:%d", i+1, p.Name, p.Ext, p.Model, p.Addr, p.RecPort), false
	case kDetail:
		if m.focus == focusLog {
			if len(m.logs) == 0 {
				m.setStatus(true, "the log is empty")
				break
			}
			m.zoom = !m.zoom
			m.scroll = 0
			break
		}
		if m.selectedIndex() < 0 {
			m.setStatus(true, "no message selected")
			break
		}
		m.zoom = !m.zoom
		m.scroll = 0
	case kBack:
		switch {
		case m.zoom:
			m.zoom = false
		case !m.filter.empty():
			m.filter = filterSpec{}
			m.refilter()
			m.place()
			m.setStatus(false, "filter cleared")
		default:
			m.focus = focusFlow
		}
	case kForcedLogOff:
		m.openLogOffPrompt()
	case kPBXRestart:
		return m, m.labAction(ActPBXRestart)
	case kRecordMode:
		return m, m.labAction(ActRecordMode)
	case kImpair:
		if !m.available(ActImpair) {
			break
		}
		return m, m.openPrompt(promptImpair, "impair (e.g. 7434 pbx drop 50% sip; pbx recorder blackhole csta): ", "")
	case kLift:
		return m, m.labAction(ActLift)
	case kFaster, kSlower:
		arg := "+"
		if id == kSlower {
			arg = "-"
		}
		return m, m.run(Action{Kind: ActSpeed, Arg: arg})
	case kScenario:
		m.openPicker()
	case kCalls:
		m.openList(listCalls)
	case kDialogs:
		m.openList(listDialogs)
	case kDelta:
		m.delta = !m.delta
		if m.delta {
			m.setStatus(false, "time column: Δt from the selected message (T: absolute)")
		} else {
			m.setStatus(false, "time column: seconds since the lab started")
		}
	case kWhy:
		m.whyLines = !m.whyLines
		m.place()
	case kSavePcap:
		return m, m.savePcap()
	case kSaveScenario:
		return m, m.saveScenario()
	case kStepBack:
		return m, m.goBack()
	case kMapping:
		return m, m.switchMapping()
	case kStep:
		if m.holding {
			return m, m.labAction(ActStepMsg)
		}
		m.stepKey()
	case kHold:
		if !m.available(ActHold) {
			break
		}
		m.holding = !m.holding
		arg := "off"
		if m.holding {
			arg = "on"
			m.follow = true // the next message is what the trainer watches
			m.place()
		} else {
			m.heldQueue = nil
		}
		return m, m.run(Action{Kind: ActHold, Arg: arg})
	case kDial:
		p, ok := m.selectedPhone()
		if !ok {
			m.setStatus(true, "no phone selected")
			break
		}
		return m, m.openPrompt(promptDial, fmt.Sprintf("%s (%s) dials: ", p.Name, p.Ext), "")
	case kFilter:
		return m, m.openPrompt(promptFilter, "filter (phones, extensions, sip csta http rtp, methods, call=N, dialog=ID; empty: all): ", m.filter.text)
	case kSearch:
		return m, m.openPrompt(promptSearch, "/", m.search)
	case kNext:
		m.find(1)
	case kPrev:
		m.find(-1)
	case kPause:
		m.paused = !m.paused
		if m.paused {
			m.frozen = len(m.events)
			m.setStatus(false, "display paused; the lab runs on (Space resumes)")
		} else {
			m.refilter()
			m.place()
			m.setStatus(false, "display resumed")
			if m.heldDropped > 0 {
				m.logs = append(m.logs, logLine{from: "reclab", text: fmt.Sprintf("%d events that came while the display was paused were dropped from the display to bound its memory (the pcap keeps every packet)", m.heldDropped)})
				m.trimLogs()
				m.heldDropped = 0
			}
		}
	case kClear:
		m.events, m.retrans, m.why, m.rows, m.logs = nil, nil, nil, nil, nil
		m.seen = map[uint64]bool{}
		m.cursor, m.top, m.follow, m.zoom, m.frozen = 0, 0, true, false, 0
		m.setStatus(false, "cleared (the pcap keeps everything)")
	case kExport:
		return m, m.export()
	case kHelp:
		m.help, m.helpPage = true, 0
	case kQuit:
		return m, tea.Quit
	}
	return m, nil
}

// phoneAction runs an action on the selected phone in a command: the lab's
// calls may wait for the wire, Update never does.
func (m *Model) phoneAction(kind ActionKind, arg string) tea.Cmd {
	p, ok := m.selectedPhone()
	if !ok {
		m.setStatus(true, "no phone selected")
		return nil
	}
	if !m.available(kind) {
		return nil
	}
	m.setStatus(false, "%s (%s): %s…", p.Name, p.Ext, kind)
	a := Action{Kind: kind, Phone: p.Name, Arg: arg}
	if kind == ActPower {
		a.Powered = p.State.Powered // the key cuts a phone the screen shows on
	}
	return m.run(a)
}

func (m *Model) labAction(kind ActionKind) tea.Cmd {
	if !m.available(kind) {
		return nil
	}
	m.setStatus(false, "%s…", kind)
	a := Action{Kind: kind}
	if kind == ActPBXRestart {
		for _, p := range m.snap.Phones {
			if p.State.Registered {
				a.Registered = append(a.Registered, p.Name)
			}
		}
	}
	return m.run(a)
}

// available says whether the lab can do kind; if not, the status line says so.
func (m *Model) available(kind ActionKind) bool {
	if m.b.Available(kind) {
		return true
	}
	m.setStatus(true, "%s: not available yet", kind)
	return false
}

func (m *Model) run(a Action) tea.Cmd {
	if a.Kind != ActSpeed && a.Kind != ActRecordMode && a.Kind != ActHold && a.Kind != ActStepMsg {
		// The message this asks for will name the key as its cause.
		m.userActs = append(m.userActs, userAct{kind: a.Kind, phone: a.Phone, arg: a.Arg})
		if len(m.userActs) > 64 {
			m.userActs = m.userActs[len(m.userActs)-32:]
		}
	}
	if a.Kind != ActHold && a.Kind != ActStepMsg {
		m.story = append(m.story, storyAct{Action: a, at: m.labNow()})
	}
	b, ctx := m.b, m.ctx
	return func() tea.Msg {
		text, err := b.Do(ctx, a)
		return actionMsg{text: text, err: err}
	}
}

func (m *Model) openPrompt(kind promptKind, label, value string) tea.Cmd {
	m.prompt = kind
	m.input = lineInput{prompt: label, value: []rune(value)}
	return nil
}

func (m *Model) promptKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch k.String() {
	case "ctrl+c":
		return m, tea.Quit
	case "esc":
		m.prompt = promptNone
		return m, nil
	case "enter":
		kind, value := m.prompt, strings.TrimSpace(string(m.input.value))
		m.prompt = promptNone
		switch kind {
		case promptDial:
			if value == "" {
				m.setStatus(true, "dial: no number given")
				return m, nil
			}
			return m, m.phoneAction(ActDial, value)
		case promptFilter:
			rest, c, dlg, err := m.splitListWords(value)
			if err != nil {
				m.setStatus(true, "%v", err)
				return m, nil
			}
			f, err := parseFilter(rest, m.snap)
			if err != nil {
				m.setStatus(true, "%v", err)
				return m, nil
			}
			f.text, f.call, f.dialog = value, c, dlg
			sel := m.selectedIndex()
			m.filter = f
			m.refilter()
			m.selectEvent(sel)
			m.place()
			if f.empty() {
				m.setStatus(false, "no filter: every message shows")
			} else {
				m.setStatus(false, "filter %q: %d of %d messages", f.text, len(m.rows), len(m.events))
			}
		case promptImpair:
			im, err := parseImpairment(value, m.snap)
			if err != nil {
				m.setStatus(true, "%v", err)
				return m, nil
			}
			m.setStatus(false, "impairing: %s…", im)
			return m, m.run(Action{Kind: ActImpair, Impair: im})
		case promptLogOff:
			return m, m.forcedLogOff(value)
		case promptSearch:
			m.search = value
			if value != "" {
				m.find(1)
			}
		}
		return m, nil
	}
	m.input.key(k)
	return m, nil
}

// find moves to the next (dir 1) or previous (-1) row matching the search,
// wrapping around.
func (m *Model) find(dir int) {
	if m.search == "" {
		m.setStatus(true, "no search yet: press / to search")
		return
	}
	n := len(m.rows)
	needle := strings.ToLower(m.search)
	matches := func(r int) bool {
		e := m.events[m.rows[r]]
		return strings.Contains(strings.ToLower(e.Summary+" "+e.From+" "+e.To), needle) ||
			strings.Contains(strings.ToLower(string(e.Bytes)), needle)
	}
	for i := 1; i <= n; i++ {
		r := ((m.cursor+dir*i)%n + n) % n
		if !matches(r) {
			continue
		}
		m.cursor = r
		m.follow = false
		m.place()
		// Which match this is, and the message's own number, as Detail
		// shows it (issue 12: search said "message 48 of 72" where Detail
		// numbered the same message #91).
		k, total := 0, 0
		for j := 0; j < n; j++ {
			if matches(j) {
				total++
				if j <= r {
					k = total
				}
			}
		}
		m.setStatus(false, "/%s: match %d of %d, message #%d", m.search, k, total, m.events[m.rows[r]].Seq)
		return
	}
	m.setStatus(true, "no message matches %q", m.search)
}

// export writes the session's Mermaid flow and Markdown report next to the
// pcap (which is written all along).
func (m *Model) export() tea.Cmd {
	dir := m.b.OutDir()
	flow := mermaid(m.cols.names, m.events)
	rep := report(time.Now(), dir, m.snap, m.events, m.problems, m.problemTotal, m.lost)
	mmd, md := filepath.Join(dir, "session-flow.mmd"), filepath.Join(dir, "session-report.md")
	return func() tea.Msg {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return actionMsg{err: fmt.Errorf("export: %w", err)}
		}
		err := errors.Join(os.WriteFile(mmd, []byte(flow), 0o644), os.WriteFile(md, []byte(rep), 0o644))
		if err != nil {
			return actionMsg{err: fmt.Errorf("export: %w", err)}
		}
		return actionMsg{text: fmt.Sprintf("exported %s and %s (pcap: %s)", mmd, md, filepath.Join(dir, "lab.pcapng"))}
	}
}

// filterSpec keeps the messages of some nodes, protocols and methods, or
// of one call or dialog (sngrep's filters, issue 12).
type filterSpec struct {
	text    string
	nodes   map[string]bool
	exts    map[string]bool // the filtered phones' extensions: CSTA names devices by them
	protos  map[sim.Proto]bool
	methods map[string]bool // upper case: INVITE, BYE, ESTABLISHEDEVENT, GET …
	call    *call           // one call's ladder (call=N, Enter in the call list)
	dialog  string          // one dialog's ladder by Call-ID (dialog=ID)
}

func (f filterSpec) empty() bool {
	return len(f.nodes) == 0 && len(f.protos) == 0 && len(f.methods) == 0 && f.call == nil && f.dialog == ""
}

// methodOf is what a method filter matches: a SIP request's method, or a
// response's (its CSeq), a CSTA message's name, an HTTP request's method.
func methodOf(e sim.Event) string {
	switch e.Proto {
	case sim.ProtoSIP:
		m, _, _ := sipMethod(e)
		return strings.ToUpper(m)
	case sim.ProtoCSTA, sim.ProtoHTTP:
		l := strings.TrimPrefix(label(e), "x ")
		m, _, _ := strings.Cut(l, " ")
		return strings.ToUpper(m)
	}
	return ""
}

// filterMethods are the method words a filter takes besides CSTA names
// (any word ending in "Event", MonitorStart, SystemStatus …).
var filterMethods = map[string]bool{"INVITE": true, "ACK": true, "BYE": true, "CANCEL": true, "REGISTER": true,
	"OPTIONS": true, "UPDATE": true, "NOTIFY": true, "SUBSCRIBE": true, "INFO": true, "PRACK": true, "REFER": true,
	"MESSAGE": true, "GET": true, "POST": true, "MONITORSTART": true, "MONITORSTOP": true, "SYSTEMSTATUS": true, "SNAPSHOTDEVICE": true}

func (f filterSpec) pass(e sim.Event, c *columns) bool {
	if isStall(e) {
		// A stall stopped every node: it shows beside any node, and where RTP does.
		return f.call == nil && f.dialog == "" && len(f.methods) == 0 && (len(f.protos) == 0 || f.protos[sim.ProtoRTP])
	}
	if f.call != nil && !f.call.member(e) {
		return false
	}
	if f.dialog != "" && sipCallID(e) != f.dialog {
		return false
	}
	if len(f.protos) > 0 && !f.protos[e.Proto] {
		return false
	}
	if len(f.methods) > 0 && !f.methods[methodOf(e)] {
		return false
	}
	if len(f.nodes) == 0 || f.nodes[c.names[c.of(e.From)]] || f.nodes[c.names[c.of(e.To)]] {
		return true
	}
	// A CSTA event about a phone (pbx → recorder) names its extension.
	if e.Proto == sim.ProtoCSTA {
		for _, n := range strings.FieldsFunc(e.Summary, func(r rune) bool { return r < '0' || r > '9' }) {
			if f.exts[n] {
				return true
			}
		}
	}
	return false
}

// parseFilter reads "7434 sip", "1002,csta", …: protocols and nodes (by
// name or a phone's extension). An unknown word is an error naming it.
func parseFilter(s string, snap Snapshot) (filterSpec, error) {
	f := filterSpec{text: s, nodes: map[string]bool{}, exts: map[string]bool{}, protos: map[sim.Proto]bool{}, methods: map[string]bool{}}
	known := map[string]string{"pbx": "pbx", "recorder": "recorder"}
	extOf := map[string]string{}
	var names []string
	for _, p := range snap.Phones {
		known[strings.ToLower(p.Name)], known[p.Ext] = p.Name, p.Name
		extOf[p.Name] = p.Ext
		names = append(names, p.Name)
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		if n, ok := known[strings.ToLower(w)]; ok {
			f.nodes[n] = true
			if e, ok := extOf[n]; ok {
				f.exts[e] = true
			}
			continue
		}
		if p, err := sim.ParseProto(w); err == nil && p != sim.ProtoLab {
			f.protos[p] = true
			continue
		}
		if u := strings.ToUpper(w); filterMethods[u] || (len(u) > 5 && strings.HasSuffix(u, "EVENT")) {
			f.methods[u] = true
			continue
		}
		return filterSpec{}, fmt.Errorf("filter: %q is neither a node (pbx, recorder, %s, or an extension), a protocol (sip, csta, http, rtp), a method (invite, bye, register, EstablishedEvent …) nor call=N or dialog=CALL-ID",
			w, strings.Join(names, ", "))
	}
	return f, nil
}

// Styles. Colour helps; nothing depends on it (arrows, marks and words say
// the same), so the UI reads on a monochrome terminal.
var (
	stTitle    = lipgloss.NewStyle().Bold(true).Reverse(true)
	stPane     = lipgloss.NewStyle().Bold(true)
	stPaneDim  = lipgloss.NewStyle().Faint(true)
	stSelected = lipgloss.NewStyle().Reverse(true)
	stErr      = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	stNote     = lipgloss.NewStyle().Faint(true)
	stProto    = map[sim.Proto]lipgloss.Style{
		sim.ProtoSIP:  lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
		sim.ProtoCSTA: lipgloss.NewStyle().Foreground(lipgloss.Color("6")),
		sim.ProtoHTTP: lipgloss.NewStyle().Foreground(lipgloss.Color("5")),
		sim.ProtoRTP:  lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
		sim.ProtoRAS:  lipgloss.NewStyle().Foreground(lipgloss.Color("4")),
	}
	stDropped = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
)
