package pbx

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/reclab/reclab/pbx/csta"
)

// B2BUA is the PBX's call control as a pure core in etcd-raft's shape: the
// A-leg (the caller's INVITE to the PBX) and the B-leg (the PBX's INVITE to
// the called phone) of every call, with the caller's and the callee's SDP
// passed through unchanged so that media flows phone to phone. The driver
// (calls.go) feeds it what happened on the wire (CallEvent) and performs what
// it returns (CallAction), in order: answer a request, send or cancel the
// B-leg's INVITE, relay a response to the caller, send BYE, report a CSTA
// event to the monitors (spec §3.1). It has no sockets, goroutines or clock;
// the sipgo dialogs of a call ride along in callLegs, which it never reads.
//
// Its transcripts are testdata/calls/*.txt.
type B2BUA struct {
	dir      directory
	calls    map[string]*call // by the A-leg's Call-ID, until the call is done
	byDialog map[string]*call // by the Call-ID of either leg, until the call is cleared
	nextCall uint64           // kept across Clear, so callIDs (and recording file names) never repeat
}

// directory is what call admission reads of the registrar.
type directory interface {
	Known(ext string) bool
	Lookup(ext string) (Registration, bool)
}

// NewB2BUA admits calls between the extensions of dir.
func NewB2BUA(dir directory) *B2BUA {
	return &B2BUA{dir: dir, calls: map[string]*call{}, byDialog: map[string]*call{}}
}

// CallState is where a call stands.
type CallState uint8

const (
	// CallInviting: the A-leg is up; the B-leg's INVITE is being written.
	CallInviting CallState = iota
	// CallRinging: the B-leg's INVITE is out; no final answer yet.
	CallRinging
	// CallAnswered: the callee answered and has its ACK; its 200 OK goes
	// to the caller, whose ACK is awaited.
	CallAnswered
	// CallTalking: the caller acknowledged the 200 OK.
	CallTalking
	// CallEnded: cleared; no BYE is relayed any more.
	CallEnded
)

var callStateNames = [...]string{"inviting", "ringing", "answered", "talking", "ended"}

func (s CallState) String() string {
	if int(s) < len(callStateNames) {
		return callStateNames[s]
	}
	return fmt.Sprintf("CallState(%d)", uint8(s))
}

// Leg names a side of a call.
type Leg uint8

const (
	LegA Leg = iota // the caller's dialog with the PBX
	LegB            // the PBX's dialog with the callee
)

func (l Leg) String() string {
	if l == LegA {
		return "a"
	}
	return "b"
}

// call is one B2BUA call.
type call struct {
	id       string         // 24-digit CSTA callID
	from, to string         // calling and called extension
	aID, bID string         // SIP Call-IDs of the legs
	caller   netip.AddrPort // where the A-leg's INVITE came from: its BYEs must too
	callee   Registration
	legs     *callLegs // the driver's; carried, never read here
	state    CallState

	cancelled bool // the caller's CANCEL took effect: it has its 487 (RFC 3261 §9.2)
	aGone     bool // the A-leg's dialog ended before it was answered
	delivered bool // DeliveredEvent went out
	bCancel   bool // the B-leg's INVITE was cancelled
	// settled: the A-leg's INVITE transaction has its final answer (and a
	// 2xx its ACK, or was given up on). A BYE to the caller waits for it
	// (RFC 3261 §15: no BYE before the 2xx's ACK), so a callee that hangs up
	// at once cannot overtake the 200 OK on its way to the caller.
	settled bool
	// byeFromB: the callee's BYE came before the A-leg was settled; it is
	// relayed to the caller once the A-leg is.
	byeFromB bool
	// media are the call's SRTP keys from the SDP the B2BUA relays, for
	// the EstablishedEvent (spec §1.3); the driver sets them, on the loop,
	// just before that event goes out.
	media []csta.MediaKey
}

// CallEventKind says what happened.
type CallEventKind uint8

const (
	// CallInvite: an INVITE outside any dialog, Call-ID Call, from Caller at
	// Src to Callee. Admission: the answer is refuse or accept.
	CallInvite CallEventKind = iota
	// CallOpened: the A-leg's dialog exists (after accept): Caller, Callee,
	// Src (the INVITE's), Reg (the callee's binding accept named), Legs.
	CallOpened
	// CallBWritten: the B-leg's INVITE went out with Call-ID Dialog.
	CallBWritten
	// CallBWriteFailed: the B-leg's INVITE could not be sent.
	CallBWriteFailed
	// CallBProvisional: the callee answered Code (1xx).
	CallBProvisional
	// CallBAnswered: the callee answered 2xx.
	CallBAnswered
	// CallBRefused: the B-leg's INVITE ended without 2xx: Code and Reason
	// (the callee's final answer, or 480 when none came), Err; AGone when
	// the A-leg's dialog had ended by then (the caller cancelled).
	CallBRefused
	// CallBAcked: the callee's 2xx was acknowledged.
	CallBAcked
	// CallCancel: the caller's CANCEL took effect: sipgo answered it and
	// the INVITE 487 (RFC 3261 §9.2).
	CallCancel
	// CallAGone: the A-leg's dialog ended (a CANCEL, its transaction died).
	CallAGone
	// CallAAcked: the caller acknowledged the relayed 200 OK.
	CallAAcked
	// CallARelayFailed: the relayed 200 OK was not acknowledged (Err);
	// AGone when the dialog had ended (the caller's BYE came first).
	CallARelayFailed
	// CallBye: a BYE with Call-ID Dialog from Src.
	CallBye
	// CallByeRead: the BYE on Leg was read and answered 200 OK.
	CallByeRead
)

var callInputNames = [...]string{"invite", "opened", "b-written", "b-write-failed", "b-provisional",
	"b-answered", "b-refused", "b-acked", "cancel", "a-gone", "a-acked", "a-relay-failed", "bye", "bye-read"}

func (k CallEventKind) String() string {
	if int(k) < len(callInputNames) {
		return callInputNames[k]
	}
	return fmt.Sprintf("CallEventKind(%d)", uint8(k))
}

// CallEvent is one input to B2BUA.Step.
type CallEvent struct {
	Kind           CallEventKind
	Call           string // the A-leg's Call-ID: which call
	Dialog         string // CallBWritten: the B-leg's Call-ID; CallBye: the BYE's
	Caller, Callee string // CallInvite, CallOpened
	Src            netip.AddrPort
	Reg            Registration // CallOpened: the callee's binding
	Legs           *callLegs    // CallOpened
	Code           int          // CallBProvisional, CallBRefused
	Reason         string       // CallBRefused
	Err            string       // CallBRefused, CallARelayFailed
	AGone          bool         // CallBRefused, CallARelayFailed
	Leg            Leg          // CallByeRead
}

// CallActionKind says what the driver must do.
type CallActionKind uint8

const (
	// ActNote: a line for the trace (Text).
	ActNote CallActionKind = iota
	// ActError: an error event naming Leg's peer (Text).
	ActError
	// ActRefuse: answer the event's request Code Reason; Text, if set, is
	// an error event naming the request's source.
	ActRefuse
	// ActAccept: answer the INVITE 100 Trying, open the A-leg's dialog and
	// report CallOpened with Reg.
	ActAccept
	// ActCSTA: report Event (Cause, Releasing) to the monitors it concerns.
	ActCSTA
	// ActInviteB: send the B-leg's INVITE to Reg with the caller's SDP;
	// report CallBWritten or CallBWriteFailed, then the callee's answers.
	ActInviteB
	// ActCancelB: CANCEL the B-leg's INVITE.
	ActCancelB
	// ActRespondA: answer the caller's INVITE Code Reason (1xx or a final
	// non-2xx).
	ActRespondA
	// ActAckB: acknowledge the callee's 2xx; report CallBAcked.
	ActAckB
	// ActRelayAnswer: answer the caller 200 OK with the callee's SDP;
	// report CallAAcked or CallARelayFailed.
	ActRelayAnswer
	// ActReleaseA: the A-leg's INVITE is settled: its handler may return.
	ActReleaseA
	// ActReadBye: read the event's BYE on Leg (answer 200 OK); report
	// CallByeRead.
	ActReadBye
	// ActByeA, ActByeB: send BYE on that leg and wait for its answer.
	ActByeA
	ActByeB
	// ActDone: the call is over; the driver forgets its legs.
	ActDone
)

var callActionNames = [...]string{"note", "error", "refuse", "accept", "csta", "invite-b", "cancel-b",
	"respond-a", "ack-b", "relay-answer", "release-a", "read-bye", "bye-a", "bye-b", "done"}

func (k CallActionKind) String() string {
	if int(k) < len(callActionNames) {
		return callActionNames[k]
	}
	return fmt.Sprintf("CallActionKind(%d)", uint8(k))
}

// CallAction is one thing for the driver to do, in order.
type CallAction struct {
	Kind      CallActionKind
	Call      *call         // nil for ActRefuse and ActAccept
	Text      string        // ActNote, ActError, ActRefuse
	Leg       Leg           // ActError, ActReadBye
	Code      int           // ActRefuse, ActRespondA
	Reason    string        // ActRefuse, ActRespondA
	Reg       Registration  // ActAccept, ActInviteB
	Event     callEventKind // ActCSTA
	Cause     string        // ActCSTA
	Releasing string        // ActCSTA
}

func (a CallAction) String() string {
	switch a.Kind {
	case ActNote:
		return "note: " + a.Text
	case ActError:
		return fmt.Sprintf("error (%s): %s", a.Leg, a.Text)
	case ActRefuse, ActRespondA:
		if a.Text != "" {
			return fmt.Sprintf("%s %d %s (%s)", a.Kind, a.Code, a.Reason, a.Text)
		}
		return fmt.Sprintf("%s %d %s", a.Kind, a.Code, a.Reason)
	case ActAccept, ActInviteB:
		return fmt.Sprintf("%s %s at %s", a.Kind, a.Reg.Ext, a.Reg.Contact)
	case ActCSTA:
		var devs []string
		for _, e := range callEvents(a.Call, a.Event, a.Cause, a.Releasing) {
			devs = append(devs, e.device)
		}
		s := fmt.Sprintf("csta %s to %s", a.Event, strings.Join(devs, ", "))
		if a.Event == evCleared {
			s += fmt.Sprintf(" (cause %s, releasing %q)", a.Cause, a.Releasing)
		}
		return s
	case ActReadBye:
		return fmt.Sprintf("read-bye %s", a.Leg)
	}
	return a.Kind.String()
}

// Step applies one event and returns what to do, in order.
func (b *B2BUA) Step(ev CallEvent) []CallAction {
	switch ev.Kind {
	case CallInvite:
		return b.admit(ev)
	case CallOpened:
		return b.open(ev)
	case CallBye:
		c := b.byDialog[ev.Dialog]
		if c == nil {
			return []CallAction{{Kind: ActRefuse, Code: 481, Reason: "Call/Transaction Does Not Exist"}}
		}
		leg, peer := LegA, c.caller
		if ev.Dialog != c.aID {
			leg, peer = LegB, c.callee.Contact
		}
		// RFC 3261 §12.2.2 matches a dialog by Call-ID and tags (the
		// driver's sipgo dialog checks those and the CSeq); a Call-ID is no
		// secret on the lab's network, so the BYE must also come from where
		// the leg's peer is (issue 11 item 3): a forger on a lab address
		// gets 403 and the call goes on.
		if ev.Src != peer {
			return []CallAction{{Kind: ActRefuse, Code: 403, Reason: "Forbidden: not the dialog's peer",
				Text: fmt.Sprintf("BYE for call %s from %s refused: leg %s's peer is at %s", c.id, ev.Src, leg, peer)}}
		}
		return []CallAction{{Kind: ActReadBye, Call: c, Leg: leg}}
	}
	c := b.calls[ev.Call]
	if c == nil {
		return nil // a call cleared and done, or of a PBX life before a restart
	}
	acts := b.stepCall(c, ev)
	if c.state == CallEnded && c.settled {
		delete(b.calls, c.aID)
		acts = append(acts, CallAction{Kind: ActDone, Call: c})
	}
	return acts
}

// admit decides whether an INVITE becomes a call (docs/wire.md "Calls").
func (b *B2BUA) admit(ev CallEvent) []CallAction {
	caller, callee := ev.Caller, ev.Callee
	callerReg, callerOK := b.dir.Lookup(caller)
	calleeReg, calleeOK := b.dir.Lookup(callee)
	refuse := func(code int, reason, format string, a ...any) []CallAction {
		return []CallAction{{Kind: ActNote, Text: fmt.Sprintf(format, a...)}, {Kind: ActRefuse, Code: code, Reason: reason}}
	}
	switch {
	case !callerOK || callerReg.Contact.Addr() != ev.Src.Addr():
		return refuse(403, "Forbidden: not registered", "INVITE from %s at %s refused: not registered there", caller, ev.Src)
	case !b.dir.Known(callee):
		return refuse(404, "Not Found", "call %s → %s: no such number", caller, callee)
	case !calleeOK:
		return refuse(480, "Temporarily Unavailable", "call %s → %s: %s is not registered", caller, callee, callee)
	}
	return []CallAction{{Kind: ActAccept, Reg: calleeReg}}
}

// open makes the call of an accepted INVITE and sends its B-leg.
func (b *B2BUA) open(ev CallEvent) []CallAction {
	b.nextCall++
	c := &call{id: csta.FormatCallID(b.nextCall), from: ev.Caller, to: ev.Callee, aID: ev.Call, caller: ev.Src, callee: ev.Reg, legs: ev.Legs}
	b.calls[c.aID] = c
	b.byDialog[c.aID] = c
	return []CallAction{
		{Kind: ActNote, Call: c, Text: fmt.Sprintf("call %s: %s → %s", c.id, c.from, c.to)},
		b.csta(c, evServiceInitiated, "", ""),
		b.csta(c, evOriginated, "", ""),
		{Kind: ActInviteB, Call: c, Reg: c.callee},
	}
}

func (b *B2BUA) csta(c *call, kind callEventKind, cause, releasing string) CallAction {
	return CallAction{Kind: ActCSTA, Call: c, Event: kind, Cause: cause, Releasing: releasing}
}

func (b *B2BUA) note(c *call, format string, a ...any) CallAction {
	return CallAction{Kind: ActNote, Call: c, Text: fmt.Sprintf(format, a...)}
}

func (b *B2BUA) stepCall(c *call, ev CallEvent) []CallAction {
	switch ev.Kind {
	case CallBWritten:
		if c.state != CallInviting {
			return nil
		}
		c.state = CallRinging
		c.bID = ev.Dialog
		b.byDialog[c.bID] = c
		return b.cancelB(c)
	case CallBWriteFailed:
		b.end(c)
		c.settled = true
		return []CallAction{
			{Kind: ActRespondA, Call: c, Code: 503, Reason: "Service Unavailable"},
			b.csta(c, evCleared, csta.CauseDestNotObtainable, ""),
			{Kind: ActReleaseA, Call: c},
		}
	case CallAGone:
		// The caller's CANCEL (or the end of its transaction) ended its
		// dialog before the answer.
		c.aGone = true
		return b.cancelB(c)
	case CallCancel:
		// sipgo reports a CANCEL only while the INVITE transaction is still
		// proceeding, when it took effect and 487 went out (RFC 3261 §9.2):
		// no 200 OK may follow. A CANCEL after the 200 OK changes nothing and
		// the caller must BYE instead.
		c.cancelled = true
		return b.cancelB(c)
	case CallBProvisional:
		if c.state != CallRinging || (ev.Code != 180 && ev.Code != 183) {
			return nil
		}
		acts := []CallAction{{Kind: ActRespondA, Call: c, Code: 180, Reason: "Ringing"}}
		if !c.delivered {
			c.delivered = true
			acts = append(acts, b.csta(c, evDelivered, "", ""))
		}
		return acts
	case CallBAnswered:
		if c.state == CallEnded && !c.settled {
			// The caller hung up while the callee rang (its BYE came with
			// the 180's tag): the callee's answer comes too late.
			c.settled = true
			return []CallAction{{Kind: ActAckB, Call: c}, {Kind: ActByeB, Call: c}, {Kind: ActReleaseA, Call: c}}
		}
		if c.state != CallRinging {
			return nil
		}
		// Established goes out before the 200 OK is relayed, so no BYE of
		// the caller's can overtake it (the monitors see the steps in order).
		c.state = CallAnswered
		return []CallAction{
			b.note(c, "call %s: %s answered", c.id, c.to),
			b.csta(c, evEstablished, "", ""),
			{Kind: ActAckB, Call: c},
		}
	case CallBRefused:
		if c.state == CallEnded && !c.settled {
			c.settled = true // the caller hung up while the callee rang
			return []CallAction{{Kind: ActReleaseA, Call: c}}
		}
		if c.state != CallRinging && c.state != CallInviting {
			return nil
		}
		b.end(c)
		c.settled = true
		if c.cancelled || ev.AGone {
			// The caller's CANCEL had its 487 from sipgo; the B-leg got its
			// CANCEL when the A-leg's dialog ended.
			return []CallAction{
				b.note(c, "call %s: %s cancelled before %s answered", c.id, c.from, c.to),
				b.csta(c, evCleared, csta.CauseCallCancelled, c.from),
				{Kind: ActReleaseA, Call: c},
			}
		}
		return []CallAction{
			{Kind: ActRespondA, Call: c, Code: ev.Code, Reason: ev.Reason},
			b.note(c, "call %s: %s did not answer: %d %s (%s)", c.id, c.to, ev.Code, ev.Reason, ev.Err),
			b.csta(c, evCleared, causeOfRefusal(ev.Code), c.to),
			{Kind: ActReleaseA, Call: c},
		}
	case CallBAcked:
		if c.settled || c.state != CallAnswered && !c.byeFromB {
			return nil
		}
		if c.cancelled {
			if c.byeFromB {
				c.settled = true
				return append(b.clearedBy(c, LegB), CallAction{Kind: ActReleaseA, Call: c})
			}
			return b.cancelledAsAnswered(c)
		}
		// The caller gets the 200 OK even when the callee hung up since: its
		// BYE follows the caller's ACK (RFC 3261 §15).
		return []CallAction{{Kind: ActRelayAnswer, Call: c}}
	case CallAAcked:
		return b.relayed(c, false, "", false)
	case CallARelayFailed:
		return b.relayed(c, true, ev.Err, ev.AGone)
	case CallByeRead:
		return b.byeRead(c, ev.Leg)
	}
	return nil
}

// cancelB CANCELs the B-leg's INVITE once the caller has gone and the
// INVITE is out (RFC 3261 §9.1: a CANCEL follows its INVITE), once.
func (b *B2BUA) cancelB(c *call) []CallAction {
	if c.state != CallRinging || c.bCancel || !c.cancelled && !c.aGone {
		return nil
	}
	c.bCancel = true
	return []CallAction{{Kind: ActCancelB, Call: c}}
}

// cancelledAsAnswered ends a call whose caller's CANCEL crossed the
// callee's 200 OK and took effect first: the caller has its 487 (sipgo does
// not end the dialog when that happens as the 200 OK is being sent), the
// callee's leg is up and gets a BYE.
func (b *B2BUA) cancelledAsAnswered(c *call) []CallAction {
	b.end(c)
	c.settled = true
	return []CallAction{
		b.note(c, "call %s: %s cancelled as %s answered", c.id, c.from, c.to),
		{Kind: ActByeB, Call: c},
		b.note(c, "call %s: cleared by %s", c.id, c.from),
		b.csta(c, evCleared, csta.CauseCallCancelled, c.from),
		{Kind: ActReleaseA, Call: c},
	}
}

// relayed settles the A-leg once the relayed 200 OK was acknowledged, or
// failed: err says why, aGone that the caller's dialog had ended by then.
func (b *B2BUA) relayed(c *call, failed bool, err string, aGone bool) []CallAction {
	if c.settled {
		return nil
	}
	c.settled = true
	release := CallAction{Kind: ActReleaseA, Call: c}
	// A BYE to the caller goes only into a dialog its CANCEL or BYE did not end.
	byeA := []CallActionKind{ActByeA}
	if c.cancelled || failed && aGone {
		byeA = nil
	}
	var acts []CallAction
	switch {
	case c.byeFromB:
		// The callee hung up while its 200 OK was on its way: now that the
		// caller has it, the BYE may follow (RFC 3261 §15).
		if failed && !c.cancelled && !aGone {
			acts = append(acts, b.relayError(c, err))
		}
		acts = append(acts, b.clearedBy(c, LegB, byeA...)...)
	case !failed:
		if c.state == CallAnswered {
			c.state = CallTalking
		}
	case c.cancelled:
		if c.state != CallEnded {
			return b.cancelledAsAnswered(c) // it releases the A-leg
		}
	case aGone:
		// The caller's BYE came before (or instead of) its ACK; its
		// CallByeRead ends the call.
	default:
		// RFC 3261 §13.3.1.4: a 200 OK without its ACK: the session is ended
		// with a BYE (or the 200 OK could not be sent at all).
		acts = append(acts, b.relayError(c, err))
		if c.state != CallEnded {
			b.end(c)
			acts = append(acts, CallAction{Kind: ActByeA, Call: c}, CallAction{Kind: ActByeB, Call: c},
				b.note(c, "call %s: cleared by the PBX", c.id),
				b.csta(c, evCleared, csta.CauseNormalClearing, ""))
		}
	}
	return append(acts, release)
}

func (b *B2BUA) relayError(c *call, err string) CallAction {
	return CallAction{Kind: ActError, Call: c, Leg: LegA, Text: fmt.Sprintf("200 OK to %s: %s", c.from, err)}
}

// byeRead ends the call whose leg sent BYE: the other leg gets one, unless
// it is the caller's and its INVITE is not settled yet.
func (b *B2BUA) byeRead(c *call, leg Leg) []CallAction {
	if c.state == CallEnded {
		return nil // ended by the other side or the PBX
	}
	if leg == LegA {
		var bye []CallActionKind
		if c.bID != "" {
			bye = append(bye, ActByeB)
		}
		b.end(c)
		return b.clearedBy(c, LegA, bye...)
	}
	if c.state < CallAnswered {
		// The callee has no dialog to end before it answered; its BYE was
		// answered and changes nothing.
		return nil
	}
	b.end(c)
	if !c.settled {
		c.byeFromB = true
		return nil
	}
	return b.clearedBy(c, LegB, ActByeA)
}

// clearedBy is the end of a call that leg hung up: the BYEs to send, then
// ConnectionCleared naming the party as releasingDevice.
func (b *B2BUA) clearedBy(c *call, leg Leg, byes ...CallActionKind) []CallAction {
	who := c.from
	if leg == LegB {
		who = c.to
	}
	var acts []CallAction
	for _, k := range byes {
		acts = append(acts, CallAction{Kind: k, Call: c})
	}
	return append(acts, b.note(c, "call %s: cleared by %s", c.id, who), b.csta(c, evCleared, csta.CauseNormalClearing, who))
}

// end marks c cleared: a BYE on either leg is not its any more.
func (b *B2BUA) end(c *call) {
	c.state = CallEnded
	delete(b.byDialog, c.aID)
	if c.bID != "" {
		delete(b.byDialog, c.bID)
	}
}

// Clear forgets every call (a PBX restart, spec §3.2.6); callIDs go on
// from where they were.
func (b *B2BUA) Clear() {
	b.calls = map[string]*call{}
	b.byDialog = map[string]*call{}
}

// Lines describes each call not yet cleared, one line each ("<callID>
// 1001→1002 ringing|talking"), ordered by callID.
func (b *B2BUA) Lines() []string {
	var out []string
	for _, c := range b.calls {
		if c.state == CallEnded {
			continue
		}
		state := "ringing"
		if c.state >= CallAnswered {
			state = "talking"
		}
		out = append(out, fmt.Sprintf("%s %s→%s %s", c.id, c.from, c.to, state))
	}
	sort.Strings(out)
	return out
}

// causeOfRefusal is the ECMA-323 cause of a call the called phone refused
// with a final SIP status.
func causeOfRefusal(code int) string {
	switch code {
	case 486, 600:
		return csta.CauseBusy
	case 408, 480:
		return csta.CauseCallNotAnswered
	case 487:
		return csta.CauseCallCancelled
	}
	return csta.CauseDestNotObtainable
}
