package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// The why of every arrow (issue 12): each ladder event gets its cause once,
// when it arrives, from what the trace already carries — the message it
// answers, the user's key that asked for it, the timer whose interval the
// trace shows, the CSTA event or the typed state (the recorder's
// InviteSent cause, a phone's registration cause) that made a node send
// it, the retransmission rule — with the spec section where one applies.
// Detail shows it; w puts it on a line under each arrow.

// whyScan bounds how far back a cause is looked for.
const whyScan = 4000

// userAct is an action the user asked for and no message has answered yet.
type userAct struct {
	kind  ActionKind
	phone string
	arg   string
}

// causeState is what the typed states say that a message's cause needs.
type causeState struct {
	inviteCause map[string]string // the recorder's INVITE cause by SIP Call-ID
	regCause    map[string]string // a phone's last registration change's cause
}

func newCauseState() causeState {
	return causeState{inviteCause: map[string]string{}, regCause: map[string]string{}}
}

// foldCause keeps what a typed state tells of causes.
func (c causeState) fold(e sim.Event) {
	switch st := e.State.(type) {
	case recorder.InviteSent:
		c.inviteCause[st.SIPCallID] = st.Cause
		if len(c.inviteCause) > maxEvents {
			clear(c.inviteCause)
		}
	case phones.RegistrationState:
		c.regCause[st.Phone] = st.Cause
	}
}

// takeAct takes the user's oldest pending act of kind on phone ("" any).
func (m *Model) takeAct(kind ActionKind, phone string) (userAct, bool) {
	for i, a := range m.userActs {
		if a.kind == kind && (phone == "" || a.phone == phone) {
			m.userActs = append(m.userActs[:i:i], m.userActs[i+1:]...)
			return a, true
		}
	}
	return userAct{}, false
}

// back finds the newest event before the one being added that matches.
func (m *Model) back(match func(e sim.Event) bool) (sim.Event, bool) {
	for i := len(m.events) - 1; i >= 0 && i >= len(m.events)-whyScan; i-- {
		if match(m.events[i]) {
			return m.events[i], true
		}
	}
	return sim.Event{}, false
}

// ref names an earlier message: "#12 200 OK".
func ref(e sim.Event) string { return fmt.Sprintf("#%d %s", e.Seq, label(e)) }

// every says how long since the previous match, as a timer's interval.
func (m *Model) every(e sim.Event, same func(o sim.Event) bool) string {
	if p, ok := m.back(same); ok && e.At > p.At {
		return fmt.Sprintf(", every %s", (e.At - p.At).Round(100*time.Millisecond))
	}
	return ""
}

// explain is the cause of e, which is about to be added; retrans says it
// is a SIP message sent again byte for byte.
func (m *Model) explain(e sim.Event, retrans bool) (why string) {
	// Bytes from outside the lab may be anything: a rule that trips on them
	// leaves the arrow without a cause, never the UI down.
	defer func() {
		if r := recover(); r != nil {
			why = ""
		}
	}()
	if e.Kind == sim.KindDropped {
		return "an impairment (I) dropped it on the way: " + label(e) + " never arrived"
	}
	if isStall(e) {
		return "sim's stream sweep came late by more than the stream-idle time: the machine ran nothing (load, a stopped process), the senders neither"
	}
	switch e.Proto {
	case sim.ProtoSIP:
		why = m.explainSIP(e, retrans)
	case sim.ProtoCSTA:
		why = m.explainCSTA(e)
	case sim.ProtoHTTP:
		why = m.explainHTTP(e)
	case sim.ProtoRTP:
		why = m.explainRTP(e)
	}
	if e.Delayed > 0 {
		why += fmt.Sprintf(" (an impairment held it %s)", e.Delayed.Round(time.Millisecond))
	}
	if e.Duplicate {
		why = "an impairment (I) duplicated it; " + why
	}
	return strings.TrimSpace(why)
}

func (m *Model) explainSIP(e sim.Event, retrans bool) string {
	method, isResp, code := sipMethod(e)
	id := sipCallID(e)
	if retrans {
		if isResp {
			return "sent again: its request came again and the server transaction answers each copy (RFC 3261 §17.2.1)"
		}
		if method == "INVITE" {
			return "retransmission: no response yet, INVITE sent again after T1, 2·T1, … (RFC 3261 §17.1.1.2 Timer A)"
		}
		return "retransmission: no response yet, sent again after T1, 2·T1, … up to T2 (RFC 3261 §17.1.2.2 Timer E)"
	}
	if isResp {
		cseq := sipHeader(e.Bytes, "CSeq", "")
		req, ok := m.back(func(o sim.Event) bool {
			if o.Proto != sim.ProtoSIP || o.From != e.To || sipCallID(o) != id {
				return false
			}
			_, r, _ := sipMethod(o)
			return !r && sipHeader(o.Bytes, "CSeq", "") == cseq
		})
		what := "answers " + method
		if ok {
			what = "answers " + ref(req)
		}
		return what + ": " + statusMeaning(e, method, code)
	}
	switch method {
	case "ACK":
		s := "confirms the final response to the INVITE (RFC 3261 §13.2.2.4, §17.1.1.3)"
		if e.From == "recorder" {
			s += "; with it the phone starts forking its RTP to the recorder (spec §3.2)"
		}
		return s
	case "INVITE":
		if e.From == "recorder" {
			return m.recorderInvite(e, id)
		}
		if prev, ok := m.back(func(o sim.Event) bool { return sipCallID(o) == id }); ok && prev.Proto == sim.ProtoSIP {
			return "re-INVITE in the dialog: the session is refreshed or changed (RFC 3261 §14)"
		}
		if e.To == "pbx" {
			if a, ok := m.takeAct(ActDial, e.From); ok {
				return fmt.Sprintf("key d: the user dialled %s", a.arg)
			}
			return "the phone dials (a scenario's dial step, or the phone's own dial)"
		}
		if e.From == "pbx" {
			to := sipUser(sipHeader(e.Bytes, "To", "t"))
			if a, ok := m.back(func(o sim.Event) bool {
				_, r, _ := sipMethod(o)
				return o.Proto == sim.ProtoSIP && o.To == "pbx" && !r && strings.HasPrefix(o.Summary, "INVITE") &&
					sipUser(sipHeader(o.Bytes, "To", "t")) == to
			}); ok {
				return fmt.Sprintf("the PBX (a B2BUA) offers the caller's %s from %s to the callee's phone", ref(a), a.From)
			}
			return "the PBX offers a call to the callee's phone"
		}
		return "an INVITE from outside the lab's plan (a rogue host?)"
	case "UPDATE":
		if e.From == "recorder" {
			return "recorder keep-alive UPDATE" + m.every(e, func(o sim.Event) bool {
				return o.Proto == sim.ProtoSIP && o.From == "recorder" && o.To == e.To && strings.HasPrefix(o.Summary, "UPDATE")
			}) + ": is the phone still there? (spec §3.2.2)"
		}
		return "UPDATE in the dialog (RFC 3311)"
	case "OPTIONS":
		if e.To == "pbx" {
			return "the phone's gatekeeper keep-alive OPTIONS" + m.every(e, func(o sim.Event) bool {
				return o.Proto == sim.ProtoSIP && o.From == e.From && o.To == "pbx" && strings.HasPrefix(o.Summary, "OPTIONS")
			}) + "; none answered → the phone logs off and retries REGISTER (spec §3.2.6)"
		}
		return "OPTIONS: is the peer there?"
	case "REGISTER":
		return m.explainRegister(e, id)
	case "BYE":
		return m.explainBye(e)
	case "NOTIFY":
		ev := strings.ToLower(sipHeader(e.Bytes, "Event", "o"))
		if strings.Contains(ev, "check-sync") {
			if _, ok := m.takeAct(ActFirmwareUpdate, e.To); ok {
				return "key F: the PBX orders the phone to update its firmware and configuration (check-sync, spec §3.2.5)"
			}
			return "the PBX orders the phone to update its firmware and configuration (check-sync, spec §3.2.5)"
		}
		return "the PBX tells the phone its registration ended: another phone registered its extension (forced log-off, spec §3.2.3)"
	case "CANCEL":
		return "the caller gives up before the answer (RFC 3261 §9)"
	}
	return ""
}

// statusMeaning says what a response means where the lab gives it one.
func statusMeaning(e sim.Event, method string, code int) string {
	toRec := e.To == "recorder" || e.To == "rogue" || strings.HasPrefix(e.To, "127.")
	switch {
	case code == 100:
		return "the request arrived, stop retransmitting (RFC 3261 §17.2.1)"
	case code == 180:
		return "the callee's phone rings"
	case code == 200 && method == "INVITE" && toRec:
		return "the phone accepts the recording session; its SDP says where it forks (spec §3.2)"
	case code == 200 && method == "INVITE":
		return "answered: the call is up"
	case code == 200 && method == "REGISTER":
		return "registered: the PBX now routes the extension here"
	case code == 200 && method == "UPDATE":
		return "the phone is there: the session stays (spec §3.2.2)"
	case code == 200 && method == "OPTIONS":
		return "the gatekeeper is there (spec §3.2.6)"
	case code < 300:
		return "done"
	case code == 401 || code == 407:
		return "digest challenge: the request must prove the extension's password (RFC 3261 §22)"
	case code == 403 && method == "INVITE" && toRec:
		return "refused: the source is not in the phone's recording allowed ip (spec §3.2)"
	case code == 403:
		return "forbidden"
	case code == 404:
		return "no such extension"
	case code == 481:
		return "no such session or transaction: the phone forgot it (RFC 3261 §12.2.2)"
	case code == 486:
		return "busy"
	}
	return "refused"
}

func (m *Model) recorderInvite(e sim.Event, id string) string {
	switch m.causes.inviteCause[id] {
	case recorder.InviteRetransmission:
		return "the first INVITE was not answered in time: a second one, same SDP session id, new Call-ID (spec §3.2.1)"
	case recorder.InviteRefresher:
		return "re-INVITE as session refresher: the UPDATE keep-alive went unanswered (spec §3.2.2)"
	}
	ext := sipUser(sipHeader(e.Bytes, "To", "t"))
	if c, ok := m.back(func(o sim.Event) bool {
		return (o.Proto == sim.ProtoCSTA && o.From == "pbx" && namesExt(o.Summary, ext) &&
			(strings.Contains(o.Summary, "Established") || strings.Contains(o.Summary, "BackInService"))) ||
			(o.Proto == sim.ProtoHTTP && o.From == e.To)
	}); ok {
		switch {
		case c.Proto == sim.ProtoHTTP:
			return fmt.Sprintf("the record key %s asked for it: start on demand (spec §3.3)", ref(c))
		case strings.Contains(c.Summary, "BackInService"):
			return fmt.Sprintf("CSTA %s: the phone is back in service and the mapping records it (spec §3.1, §3.2.6)", ref(c))
		default:
			return fmt.Sprintf("CSTA %s: a monitored call is up, so the recorder opens a recording session to the phone's recording port (spec §3.1, §3.2)", ref(c))
		}
	}
	if m.causes.inviteCause[id] == recorder.InviteNewSession {
		return "the recorder opens a new recording session (spec §3.2; also the recovery INVITE of §3.2.2)"
	}
	return "the recorder opens a recording session (spec §3.2)"
}

func (m *Model) explainRegister(e sim.Event, id string) string {
	if strings.TrimSpace(sipHeader(e.Bytes, "Expires", "")) == "0" {
		if _, ok := m.takeAct(ActUnregister, e.From); ok {
			return "key u: the user logs the phone off (un-REGISTER, Expires: 0)"
		}
		return "un-REGISTER (Expires: 0): the phone logs off; after a lost registrar it tries to, spec §3.2.6"
	}
	if prev, ok := m.back(func(o sim.Event) bool { return o.Proto == sim.ProtoSIP && sipCallID(o) == id }); ok &&
		strings.HasPrefix(prev.Summary, "401") {
		return fmt.Sprintf("REGISTER again, with the answer to the digest challenge of %s (RFC 3261 §22.2)", ref(prev))
	}
	for _, k := range []struct {
		kind ActionKind
		what string
	}{{ActRegister, "key r: the user registers the phone"}, {ActPower, "key P: the phone powered on and registers"},
		{ActForcedLogOff, "key L: a user logs in with another phone's extension (spec §3.2.3)"}} {
		if _, ok := m.takeAct(k.kind, e.From); ok {
			return k.what
		}
	}
	// A REGISTER from this phone earlier that no 200 OK answered: a retry.
	if prev, ok := m.back(func(o sim.Event) bool {
		return o.Proto == sim.ProtoSIP && (o.From == e.From && strings.HasPrefix(o.Summary, "REGISTER") ||
			o.To == e.From && strings.HasPrefix(o.Summary, "200") && strings.Contains(o.Summary, "REGISTER"))
	}); ok && strings.HasPrefix(prev.Summary, "REGISTER") {
		return "REGISTER retry: the last one went unanswered, the registrar is quiet (register-retry timer, spec §3.2.6)"
	}
	if c := m.causes.regCause[e.From]; c != "" {
		return "registration: the phone boots or refreshes before it expires (last change: " + c + ")"
	}
	return "registration: the phone boots, or refreshes before its registration expires"
}

func (m *Model) explainBye(e sim.Event) string {
	switch {
	case e.To == "pbx":
		if _, ok := m.takeAct(ActHangUp, e.From); ok {
			return "key x: the user hung up"
		}
		return "the phone hangs up"
	case e.From == "pbx":
		if b, ok := m.back(func(o sim.Event) bool {
			return o.Proto == sim.ProtoSIP && o.To == "pbx" && strings.HasPrefix(o.Summary, "BYE")
		}); ok {
			return fmt.Sprintf("the PBX ends the other leg: %s from %s", ref(b), b.From)
		}
		return "the PBX ends the call"
	case e.From == "recorder":
		ext := sipUser(sipHeader(e.Bytes, "To", "t"))
		cleared := func(o sim.Event) bool {
			return o.Proto == sim.ProtoCSTA && o.From == "pbx" && strings.Contains(o.Summary, "Cleared")
		}
		c, ok := m.back(func(o sim.Event) bool { return cleared(o) && namesExt(o.Summary, ext) })
		if !ok {
			// The event names the party that cleared; the other's session
			// ends for the same call.
			c, ok = m.back(cleared)
		}
		if ok {
			return fmt.Sprintf("CSTA %s: the call ended, so the recorder ends the recording session (spec §3.2)", ref(c))
		}
		return "the recorder ends the recording session (spec §3.2)"
	case e.To == "recorder":
		s := "the phone ends its recording session itself: it logged off or lost its registrar (spec §3.2, §3.2.6)"
		if c := m.causes.regCause[e.From]; c != "" {
			s += "; registration: " + c
		}
		return s
	}
	return "the dialog ends"
}

func (m *Model) explainCSTA(e sim.Event) string {
	l := label(e)
	ext := ""
	for _, w := range strings.FieldsFunc(e.Summary, func(r rune) bool { return r < '0' || r > '9' }) {
		if len(w) == 4 {
			ext = w
			break
		}
	}
	answered := func(prefix string) (sim.Event, bool) {
		return m.back(func(o sim.Event) bool {
			return o.Proto == sim.ProtoSIP && strings.HasPrefix(o.Summary, prefix) && (o.To == "pbx" || o.From == "pbx")
		})
	}
	switch {
	case strings.HasSuffix(l, "Response"):
		if r, ok := m.back(func(o sim.Event) bool { return o.Proto == sim.ProtoCSTA && o.From == e.To }); ok {
			return "answers " + ref(r)
		}
		return "answers a CSTA request"
	case l == "MonitorStart":
		return "the recorder monitors each configured extension once its CSTA link is up (spec §3.1)"
	case l == "SystemStatus":
		return "CSTA link keep-alive" + m.every(e, func(o sim.Event) bool { return o.Proto == sim.ProtoCSTA && o.From == e.From && label(o) == l })
	case strings.HasPrefix(l, "Established"):
		if a, ok := answered("200 OK (INVITE)"); ok {
			return fmt.Sprintf("the callee answered (%s): the PBX tells the recorder, which monitors %s (spec §3.1)", ref(a), ext)
		}
		return "a monitored call was answered (spec §3.1)"
	case strings.HasPrefix(l, "ConnectionCleared"):
		if a, ok := answered("BYE"); ok {
			return fmt.Sprintf("%s ended the call: the PBX tells the recorder (spec §3.2)", ref(a))
		}
		return "the call ended"
	case strings.HasPrefix(l, "BackInService"):
		if a, ok := m.back(func(o sim.Event) bool {
			return o.Proto == sim.ProtoSIP && o.From == "pbx" && strings.HasPrefix(o.Summary, "200") && strings.Contains(o.Summary, "REGISTER")
		}); ok {
			return fmt.Sprintf("%s registered (%s): the PBX sends its address over CSTA (spec §3.2.6)", ext, ref(a))
		}
		return ext + " registered: the PBX sends its address over CSTA"
	case strings.HasPrefix(l, "OutOfService"):
		return ext + " is no longer registered (log-off, power, restart)"
	case strings.HasPrefix(l, "ServiceInitiated"):
		return ext + " went off-hook to call: the PBX tells the recorder, which monitors it (spec §3.1)"
	case strings.HasPrefix(l, "Delivered"), strings.HasPrefix(l, "Originated"):
		if a, ok := answered("INVITE"); ok {
			return fmt.Sprintf("the call of %s rings/starts: the PBX tells the recorder", ref(a))
		}
	}
	return "a CSTA message of the monitor (ECMA-323)"
}

func (m *Model) explainHTTP(e sim.Event) string {
	if e.From == "recorder" {
		if r, ok := m.back(func(o sim.Event) bool { return o.Proto == sim.ProtoHTTP && o.From == e.To }); ok {
			return "answers " + ref(r) + " (spec §3.3)"
		}
		return "the recorder answers the record key (spec §3.3)"
	}
	if _, ok := m.takeAct(ActRecordKey, e.From); ok {
		return "key R: the user pressed the record key (spec §3.3)"
	}
	return "the record key was pressed (spec §3.3)"
}

func (m *Model) explainRTP(e sim.Event) string {
	if e.Kind == sim.KindStreamStop {
		return "no packet for the stream-idle time, or its socket closed: the call or the session ended"
	}
	if strings.HasPrefix(e.To, "recorder") {
		if a, ok := m.back(func(o sim.Event) bool {
			return o.Proto == sim.ProtoSIP && o.From == "recorder" && o.To == e.From && strings.HasPrefix(o.Summary, "ACK")
		}); ok {
			return fmt.Sprintf("forking: the recorder's %s started it (spec §3.2)", ref(a))
		}
		return "forking to the recorder (spec §3.2)"
	}
	if a, ok := m.back(func(o sim.Event) bool {
		return o.Proto == sim.ProtoSIP && strings.HasPrefix(o.Summary, "200 OK (INVITE)") &&
			(o.To == e.From && o.From == "pbx" || o.From == e.From && o.To == "pbx")
	}); ok {
		return fmt.Sprintf("the call's media, to where the SDP of %s said", ref(a))
	}
	return "the call's media"
}
