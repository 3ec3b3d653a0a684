package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/reclab/reclab/sim"
)

// Calls and dialogs, as sngrep lists them (issue 12). Both are derived
// from the ladder's events, never from a node: a dialog is the SIP
// messages of one Call-ID; a call is what one PBX call caused — the
// caller's leg (phone → PBX INVITE), the PBX's leg to the callee, the CSTA
// events naming either extension, the recorder's sessions with either
// phone, the RTP streams and record-key requests of either phone — from
// the caller's INVITE until the last leg ended (and a grace after it for
// the recorder's BYE and the streams' stop).

// callGrace is how long after its legs ended a call still takes the
// recorder's BYE, the streams' stop and the CSTA ConnectionCleared.
const callGrace = 3 * time.Second

// sipHeader is a SIP header's value by long or compact name, "" if absent.
func sipHeader(b []byte, name, short string) string { return sim.SIPHeader(b, name, short) }

// sipUser is the user part of a From/To value: `"A" <sip:1002@h>;tag=x`
// → "1002".
func sipUser(v string) string {
	if i := strings.Index(v, "sip:"); i >= 0 {
		v = v[i+4:]
	} else if i := strings.Index(v, "sips:"); i >= 0 {
		v = v[i+5:]
	}
	if u, _, ok := strings.Cut(v, "@"); ok {
		return u
	}
	v, _, _ = strings.Cut(strings.TrimSpace(v), " ")
	return strings.TrimRight(v, ">;")
}

// sipCallID is a SIP message's Call-ID, "" for anything else.
func sipCallID(e sim.Event) string {
	if e.Proto != sim.ProtoSIP {
		return ""
	}
	return sipHeader(e.Bytes, "Call-ID", "i")
}

// sipMethod is a request's method, or for a response the method its CSeq
// names; isResp tells which, code is the response's status.
func sipMethod(e sim.Event) (method string, isResp bool, code int) {
	s := e.Summary
	if len(s) >= 3 && s[0] >= '1' && s[0] <= '6' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' {
		code = int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
		cseq := strings.Fields(sipHeader(e.Bytes, "CSeq", ""))
		if len(cseq) == 2 {
			method = cseq[1]
		} else if i := strings.LastIndex(s, "("); i >= 0 {
			method = strings.Trim(s[i:], "()")
		}
		return method, true, code
	}
	m, _, _ := strings.Cut(s, " ")
	return m, false, 0
}

// dialog is one SIP dialog (or transaction family) by Call-ID.
type dialog struct {
	callID      string
	from, to    string // the From and To users of its first message
	method      string // the first request's method
	fromNode    string // the node that sent the first request
	toNode      string
	state       string
	count       int
	first, last time.Duration
	ended       bool // BYE answered, or the INVITE refused, or a non-INVITE answered
}

// dialogs lists the SIP dialogs of events in order of their first message.
func dialogs(events []sim.Event) []*dialog {
	var out []*dialog
	byID := map[string]*dialog{}
	for _, e := range events {
		if e.Proto != sim.ProtoSIP || (e.Kind != sim.KindMessage && e.Kind != sim.KindDropped) {
			continue
		}
		id := sipCallID(e)
		if id == "" {
			continue
		}
		d := byID[id]
		method, isResp, code := sipMethod(e)
		if d == nil {
			d = &dialog{callID: id, from: sipUser(sipHeader(e.Bytes, "From", "f")), to: sipUser(sipHeader(e.Bytes, "To", "t")),
				method: method, fromNode: e.From, toNode: e.To, first: e.At, state: "sent"}
			if isResp {
				d.fromNode, d.toNode = e.To, e.From
			}
			byID[id] = d
			out = append(out, d)
		}
		d.count++
		d.last = max(d.last, e.At)
		if e.Kind == sim.KindDropped {
			continue
		}
		d.state, d.ended = dialogState(d, method, isResp, code)
	}
	return out
}

// dialogState is what a dialog is after one more message of it.
func dialogState(d *dialog, method string, isResp bool, code int) (string, bool) {
	invite := d.method == "INVITE"
	switch {
	case !isResp && method == "BYE":
		return "ending (BYE)", false
	case isResp && method == "BYE" && code < 300:
		return "completed", true
	case !isResp && method == "CANCEL":
		return "cancelled", false
	case !isResp:
		if invite && method == "INVITE" && d.state != "sent" {
			return d.state, d.ended // a re-INVITE or a retransmission keeps the state
		}
		return d.state, d.ended
	case code < 200:
		if invite && d.state == "in call" {
			return d.state, false
		}
		if code == 180 || code == 183 {
			return "ringing", false
		}
		return "trying", false
	case code < 300:
		if invite && method == "INVITE" {
			return "in call", false
		}
		if invite {
			return d.state, d.ended // 200 to an UPDATE, INFO … inside the call
		}
		return fmt.Sprintf("%d", code), true
	default:
		if invite && method != "INVITE" {
			return d.state, d.ended
		}
		if invite && d.state == "in call" {
			return d.state, false // a refused re-INVITE leaves the call up
		}
		return fmt.Sprintf("rejected %d", code), true
	}
}

// call is one PBX call and what it caused.
type call struct {
	n          int // 1, 2, … in order of the callers' INVITEs
	caller     string
	callee     string
	callerNode string
	calleeNode string // "" until the PBX's leg reached a phone
	aLeg       *dialog
	legs       map[string]bool // Call-IDs: both legs and the recorder's sessions
	start, end time.Duration   // end: the last leg's last message; -1 while up
	recorded   int             // the recorder's sessions with either phone
	streams    int             // RTP streams of either phone
	messages   int
	cstaCall   string // the CSTA callID its events name
}

// state is the caller's leg's state.
func (c *call) state() string { return c.aLeg.state }

// within says whether at falls in the call's time (grace after its end).
func (c *call) within(at time.Duration) bool {
	return at >= c.start && (c.end < 0 || at <= c.end+callGrace)
}

// phoneNode reports whether name (a node, or a labelled port of one) is one
// of the call's phones.
func (c *call) phoneNode(name string) bool {
	node, _, _ := strings.Cut(name, " ")
	return node != "" && (node == c.callerNode || node == c.calleeNode)
}

// member says whether an event belongs to the call.
func (c *call) member(e sim.Event) bool {
	if !isLadder(e) || !c.within(e.At) {
		if id := sipCallID(e); id != "" && c.legs[id] {
			return true // a leg's late retransmission
		}
		return false
	}
	switch e.Proto {
	case sim.ProtoSIP:
		if id := sipCallID(e); c.legs[id] {
			return true
		}
		// The recorder's sessions with either phone (spec §3.2).
		return (e.From == "recorder" && c.phoneNode(e.To)) || (e.To == "recorder" && c.phoneNode(e.From))
	case sim.ProtoCSTA:
		if c.cstaCall != "" && strings.Contains(e.Summary, " call "+c.cstaCall) {
			return true
		}
		return namesExt(e.Summary, c.caller) || namesExt(e.Summary, c.callee)
	case sim.ProtoRTP, sim.ProtoHTTP:
		return c.phoneNode(e.From) || c.phoneNode(e.To)
	}
	return false
}

// namesExt reports whether s names ext as a number of its own.
func namesExt(s, ext string) bool {
	if ext == "" {
		return false
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		if w == ext {
			return true
		}
	}
	return false
}

// calls lists the PBX calls of events: each caller's INVITE to the PBX
// starts one; extOf maps an extension to its phone's node name.
func calls(events []sim.Event, extOf map[string]string) []*call {
	ds := dialogs(events)
	var out []*call
	for _, d := range ds {
		if d.method != "INVITE" || d.toNode != "pbx" || d.fromNode == "pbx" || d.fromNode == "recorder" {
			continue
		}
		c := &call{n: len(out) + 1, caller: d.from, callee: d.to, callerNode: d.fromNode, aLeg: d,
			legs: map[string]bool{d.callID: true}, start: d.first, end: -1}
		if d.ended {
			c.end = d.last
		}
		c.calleeNode = extOf[d.to]
		// The PBX's leg to the callee: an INVITE from the PBX for the same
		// pair, begun while the caller's leg was up.
		for _, b := range ds {
			if b.method == "INVITE" && b.fromNode == "pbx" && b.to == d.to && b.from == d.from && c.within(b.first) && !b.claimed(out) {
				c.legs[b.callID] = true
				if c.calleeNode == "" {
					c.calleeNode = b.toNode
				}
				if b.ended && c.end >= 0 {
					c.end = max(c.end, b.last)
				} else if !b.ended {
					c.end = -1
				}
				break
			}
		}
		out = append(out, c)
	}
	for _, c := range out {
		for _, d := range ds {
			if d.fromNode == "recorder" && c.phoneNode(d.toNode) && c.within(d.first) {
				c.legs[d.callID] = true
				c.recorded++
			}
		}
		for _, e := range events {
			if !c.member(e) {
				continue
			}
			c.messages++
			if e.Kind == sim.KindStreamStart {
				c.streams++
			}
			if e.Proto == sim.ProtoCSTA && c.cstaCall == "" {
				if _, id, ok := strings.Cut(e.Summary, " call "); ok {
					c.cstaCall, _, _ = strings.Cut(strings.TrimSpace(id), " ")
				}
			}
		}
	}
	return out
}

// claimed reports whether an earlier call took this dialog as its leg.
func (d *dialog) claimed(cs []*call) bool {
	for _, c := range cs {
		if c.legs[d.callID] {
			return true
		}
	}
	return false
}
