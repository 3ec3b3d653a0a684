package recorder

import (
	"fmt"
	"slices"
	"time"

	"github.com/reclab/reclab/pbx/csta"
)

// CSTAMonitors is the recorder's side of the CSTA link as a pure core: which
// extensions to monitor (spec §3.1: "the extensions that shall have the
// voice recording possibilities must be monitored via the CSTA interface"),
// the MonitorStart requests and their invokeIDs, the crossRefIDs of the
// monitors the PBX took, the SystemStatus keep-alive both ways, and what a
// lost link does (spec §3.2.6): forget the monitors, reconnect with backoff,
// and MonitorStart every extension again on the new link, after which the
// PBX re-sends BackInService for each registered phone. It opens no socket
// and keeps no clock: the driver (cstalink.go) dials, sends, reads, times
// and feeds the outcomes back.
type CSTAMonitors struct {
	pbx       string // the PBX's CSTA address, for CSTALinkState
	monitored []string
	keepAlive time.Duration

	connected bool              // a connection is up
	pending   map[int]string    // invokeID → extension: MonitorStart unanswered
	monitors  map[string]string // crossRefID → extension
	lastID    int               // the link's last invokeID (each link counts from 1)
	statusID  int               // invokeID of our unanswered SystemStatus, 0 for none
	statusAt  time.Duration     // when it went out
	backoff   time.Duration     // the delay of the next reconnect
	reconnect bool              // waiting to dial again
}

// The reconnect backoff: 100 ms after a link that worked, doubling up to 5 s
// while dialing fails.
const (
	reconnectFirst = 100 * time.Millisecond
	reconnectMax   = 5 * time.Second
)

// NewCSTAMonitors makes the core for a link to pbx that monitors the
// extensions monitored and keeps the link alive every keepAlive.
func NewCSTAMonitors(pbx string, monitored []string, keepAlive time.Duration) *CSTAMonitors {
	return &CSTAMonitors{pbx: pbx, monitored: slices.Clone(monitored), keepAlive: keepAlive, backoff: reconnectFirst}
}

// CSTAEventKind says what happened to the link.
type CSTAEventKind uint8

const (
	CSTAStart        CSTAEventKind = iota // the recorder started: dial
	CSTAConnected                         // the connection is made
	CSTADialFailed                        // dialing failed (Err)
	CSTAReceived                          // a message came (InvokeID, Msg)
	CSTAFrameRefused                      // one frame was unreadable (InvokeID, Err); the link goes on
	CSTAKeepAliveDue                      // the keep-alive interval passed
	CSTALost                              // reading the connection failed (Err)
	CSTASendFailed                        // a send failed (Err)
	CSTAReconnectDue                      // the backoff passed
)

var cstaEventNames = [...]string{"start", "connected", "dial-failed", "received", "frame-refused", "keep-alive-due", "lost", "send-failed", "reconnect-due"}

func (k CSTAEventKind) String() string {
	if int(k) < len(cstaEventNames) {
		return cstaEventNames[k]
	}
	return fmt.Sprintf("CSTAEventKind(%d)", uint8(k))
}

// CSTAEvent is one input of the core.
type CSTAEvent struct {
	Kind     CSTAEventKind
	InvokeID int
	Msg      csta.Message
	Err      string
}

// CSTAActionKind says what the driver does.
type CSTAActionKind uint8

const (
	CSTADial           CSTAActionKind = iota // connect to the PBX
	CSTASend                                 // send Msg with InvokeID
	CSTAStartKeepAlive                       // tick every After from now until CSTAClose
	CSTADeliver                              // hand Msg about Ext to the recording policy
	CSTAPublish                              // publish Link
	CSTANote                                 // a line for the trace (Text)
	CSTAError                                // a problem for the trace (Text)
	CSTAClose                                // close the connection and stop its keep-alive
	CSTAReconnect                            // feed CSTAReconnectDue after After
)

var cstaActionNames = [...]string{"dial", "send", "start-keep-alive", "deliver", "publish", "note", "error", "close", "reconnect"}

func (k CSTAActionKind) String() string {
	if int(k) < len(cstaActionNames) {
		return cstaActionNames[k]
	}
	return fmt.Sprintf("CSTAActionKind(%d)", uint8(k))
}

// CSTAAction is one thing to do.
type CSTAAction struct {
	Kind     CSTAActionKind
	InvokeID int
	Msg      csta.Message
	Ext      string
	Link     CSTALinkState
	Text     string
	After    time.Duration
}

func (a CSTAAction) String() string {
	switch a.Kind {
	case CSTASend:
		return fmt.Sprintf("send %04d %s", a.InvokeID, csta.Summary(a.Msg))
	case CSTADeliver:
		return fmt.Sprintf("deliver %s: %s", a.Ext, csta.Summary(a.Msg))
	case CSTAPublish:
		return "publish " + a.Link.String()
	case CSTANote, CSTAError:
		return a.Kind.String() + ": " + a.Text
	case CSTAStartKeepAlive, CSTAReconnect:
		return fmt.Sprintf("%s %s", a.Kind, a.After)
	}
	return a.Kind.String()
}

// String is the core's state for the transcripts.
func (m *CSTAMonitors) String() string {
	switch {
	case m.connected:
		s := fmt.Sprintf("connected, monitoring %v, pending %d", m.Monitoring(), len(m.pending))
		if m.statusID != 0 {
			s += fmt.Sprintf(", SystemStatus %04d out since %s", m.statusID, m.statusAt)
		}
		return s
	case m.reconnect:
		return fmt.Sprintf("down, next reconnect after %s", m.backoff)
	}
	return "down"
}

// Connected reports whether a connection is up.
func (m *CSTAMonitors) Connected() bool { return m.connected }

// Monitoring is the extensions the PBX took a MonitorStart for, sorted.
func (m *CSTAMonitors) Monitoring() []string {
	var out []string // nil for none, as the link state has always said
	for _, ext := range m.monitors {
		out = append(out, ext)
	}
	slices.Sort(out)
	return out
}

// Step takes one event at lab time now and returns what to do.
func (m *CSTAMonitors) Step(now time.Duration, ev CSTAEvent) []CSTAAction {
	switch ev.Kind {
	case CSTAStart:
		return []CSTAAction{{Kind: CSTADial}}
	case CSTAReconnectDue:
		if !m.reconnect {
			return nil
		}
		m.reconnect = false
		return []CSTAAction{{Kind: CSTADial}}
	case CSTAConnected:
		return m.connect()
	case CSTADialFailed:
		return m.down(false, ev.Err)
	}
	if !m.connected {
		return nil // the link is gone: what its reader or ticker still says is moot
	}
	switch ev.Kind {
	case CSTALost:
		return m.down(true, "lost: "+ev.Err)
	case CSTASendFailed:
		return m.down(true, ev.Err)
	case CSTAFrameRefused:
		// One bad frame; the link goes on (design.md "CSTA").
		return []CSTAAction{m.error("CSTA frame %04d refused: %s", ev.InvokeID, ev.Err)}
	case CSTAKeepAliveDue:
		if m.statusID != 0 {
			return m.down(true, fmt.Sprintf("SystemStatus %04d unanswered for %s; dropping the link", m.statusID, m.keepAlive))
		}
		m.statusID, m.statusAt = m.nextID(), now
		return []CSTAAction{{Kind: CSTASend, InvokeID: m.statusID, Msg: csta.SystemStatus{Status: csta.StatusNormal}}}
	case CSTAReceived:
		return m.received(ev.InvokeID, ev.Msg)
	}
	return nil
}

// connect starts a link: a MonitorStart for every extension at once (the
// answers come by invokeID) and the keep-alive. After a lost link (spec
// §3.2.6) this is how the recorder learns the phones again: the PBX sends
// BackInService for each registered one after its MonitorStart.
func (m *CSTAMonitors) connect() []CSTAAction {
	m.connected, m.reconnect = true, false
	m.pending, m.monitors = map[int]string{}, map[string]string{}
	m.lastID, m.statusID = 0, 0
	acts := []CSTAAction{{Kind: CSTANote, Text: fmt.Sprintf("CSTA link to %s up", m.pbx)}}
	for _, ext := range m.monitored {
		id := m.nextID()
		m.pending[id] = ext
		acts = append(acts, CSTAAction{Kind: CSTASend, InvokeID: id, Msg: csta.MonitorStart{Device: ext}})
	}
	if len(m.pending) == 0 {
		acts = append(acts, m.linkUp("no extension to monitor"))
	}
	return append(acts, CSTAAction{Kind: CSTAStartKeepAlive, After: m.keepAlive})
}

// down ends the connection (wasUp: it had been made) and schedules the
// next dial. The device table is the policy's and survives (spec §3.2.6):
// only the monitors, tied to this link, are forgotten.
func (m *CSTAMonitors) down(wasUp bool, why string) []CSTAAction {
	var acts []CSTAAction
	if wasUp {
		m.backoff = reconnectFirst // the link worked; start the backoff afresh
		acts = append(acts, CSTAAction{Kind: CSTAClose})
	}
	m.connected, m.reconnect = false, true
	m.pending, m.monitors, m.statusID = nil, nil, 0
	wait := m.backoff
	m.backoff = min(2*m.backoff, reconnectMax)
	acts = append(acts, m.error("CSTA link: %s; reconnecting in %s", why, wait))
	if wasUp {
		acts = append(acts, CSTAAction{Kind: CSTAPublish, Link: CSTALinkState{PBX: m.pbx, Cause: why}})
	}
	return append(acts, CSTAAction{Kind: CSTAReconnect, After: wait})
}

// received decides on one message of the link.
func (m *CSTAMonitors) received(id int, msg csta.Message) []CSTAAction {
	switch msg := msg.(type) {
	case csta.MonitorStartResponse:
		ext, ok := m.pending[id]
		if !ok {
			return []CSTAAction{m.error("CSTA MonitorStartResponse %04d answers no MonitorStart of ours", id)}
		}
		delete(m.pending, id)
		m.monitors[msg.CrossRefID] = ext
		acts := []CSTAAction{{Kind: CSTANote, Text: fmt.Sprintf("monitoring %s (crossRefID %s)", ext, msg.CrossRefID)}}
		return m.maybeUp(acts, "MonitorStartResponse "+ext)
	case csta.ErrorResponse:
		switch ext, ok := m.pending[id]; {
		case ok:
			delete(m.pending, id)
			acts := []CSTAAction{m.error("CSTA MonitorStart %s refused: %s/%s", ext, msg.Category, msg.Value)}
			return m.maybeUp(acts, fmt.Sprintf("MonitorStart %s refused: %s/%s", ext, msg.Category, msg.Value))
		case id == m.statusID:
			m.statusID = 0 // answered, if negatively: the PBX is alive
			return []CSTAAction{m.error("CSTA SystemStatus refused: %s/%s", msg.Category, msg.Value)}
		default:
			return []CSTAAction{m.error("CSTA error %04d: %s/%s", id, msg.Category, msg.Value)}
		}
	case csta.SystemStatus:
		return []CSTAAction{{Kind: CSTASend, InvokeID: id, Msg: csta.SystemStatusResponse{}}}
	case csta.SystemStatusResponse:
		if id == m.statusID {
			m.statusID = 0
		}
		return nil
	case csta.MonitorStopResponse:
		return nil
	case csta.BackInServiceEvent:
		// The event names its device and carries its address (spec
		// §3.2.3, §3.2.4); the policy maps the extension to it.
		return []CSTAAction{{Kind: CSTADeliver, Ext: msg.Device, Msg: msg}}
	case csta.OutOfServiceEvent:
		return []CSTAAction{{Kind: CSTADeliver, Ext: msg.Device, Msg: msg}}
	case csta.CallEvent:
		f := msg.CallFields()
		ext, ok := m.monitors[f.CrossRefID]
		if !ok {
			return []CSTAAction{m.error("CSTA %s for crossRefID %q, which is none of our monitors", msg.Kind(), f.CrossRefID)}
		}
		return []CSTAAction{{Kind: CSTADeliver, Ext: ext, Msg: msg}}
	}
	if csta.IsEvent(msg) {
		return nil // events the recorder has no use for
	}
	return []CSTAAction{m.error("CSTA %s %04d unexpected", msg.Kind(), id)}
}

// maybeUp adds the link's state once every MonitorStart is answered: from
// then on every call of a monitored extension that is established reaches
// the recorder.
func (m *CSTAMonitors) maybeUp(acts []CSTAAction, cause string) []CSTAAction {
	if len(m.pending) > 0 {
		return acts
	}
	return append(acts, m.linkUp(cause))
}

func (m *CSTAMonitors) linkUp(cause string) CSTAAction {
	return CSTAAction{Kind: CSTAPublish, Link: CSTALinkState{Up: true, PBX: m.pbx, Monitoring: m.Monitoring(), Cause: cause}}
}

func (m *CSTAMonitors) error(format string, args ...any) CSTAAction {
	return CSTAAction{Kind: CSTAError, Text: fmt.Sprintf(format, args...)}
}

// nextID is the link's next request invokeID, cycling 1, 2, … 9998, 1, …
// (design.md "CSTA": requests use 0001–9998), as csta.Conn counts.
func (m *CSTAMonitors) nextID() int {
	m.lastID = m.lastID%csta.MaxInvokeID + 1
	return m.lastID
}
