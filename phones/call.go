package phones

import (
	"fmt"
	"strings"
	"time"
)

// Call is the phone's one call as a pure core in etcd-raft's shape, beside
// Registration and RecSession: the driver (calldriver.go) feeds it what
// happened (CallEvent: the user dials, answers or hangs up, the PBX answers
// or calls, a transaction ends) and performs what it returns (CallAction:
// send this request, answer that INVITE, start or stop the RTP, publish the
// call's state). It has no sockets, goroutines or clock; the driver passes
// the lab time in. Every call gets a number, and an event of a call that is
// over (a late answer, a BYE's outcome) changes nothing.
//
// The driver's blocking work (WriteInvite, WaitAnswer, the BYE transaction,
// the INVITE server transaction that waits for the ACK) runs beside the
// core and comes back as events, so the core decides every race:
//   - RFC 3261 §9.1: a 200 OK that crosses our CANCEL is ACKed and the call
//     ended with BYE (§13.2.2.4), since the far end thinks it is up;
//   - a hang-up before the INVITE left sends its CANCEL once it has;
//   - a hang-up between our 200 OK and the PBX's ACK sends BYE after the ACK
//     (RFC 3261 §15: no BYE before the INVITE transaction is over).
//
// Its transcripts are testdata/call/*.txt.
type Call struct {
	n         uint64 // the current call's number; 0 before the first
	state     CallState
	dir       callDir
	remote    string
	callID    string
	rang      bool   // outgoing: the first 180/183 was noted
	answered  bool   // incoming: our 200 OK is out, waiting for the ACK
	hangingUp bool   // CANCEL wanted (outgoing) or BYE after the ACK (incoming)
	byeCause  string // a BYE of ours is out: the call ends with this cause when it is done
	talkingAt time.Duration
	err       string // why the last attempt failed, "" once a call connects
	calls     int    // calls that reached talking
}

// callDir is who started the call.
type callDir uint8

const (
	outgoing callDir = iota
	incoming
)

func (d callDir) String() string {
	if d == incoming {
		return "incoming"
	}
	return "outgoing"
}

// CallEventKind says what happened.
type CallEventKind uint8

const (
	// CallDial: the user dials Remote; Registered is the registration core's.
	CallDial CallEventKind = iota
	// CallInviteSent: the INVITE left with CallID.
	CallInviteSent
	// CallInviteFailed: it could not be sent (Err).
	CallInviteFailed
	// CallProvisional: a 1xx (Code) to our INVITE.
	CallProvisional
	// CallFinal: the final response (Code, Reason) to our INVITE; for a 2xx
	// Err says why its SDP answer is unusable ("" when it is good).
	CallFinal
	// CallNoAnswer: our INVITE ended without a final response (Err).
	CallNoAnswer
	// CallIncoming: an INVITE from the PBX (Remote, CallID); Err says why
	// its offer is unusable; Registered is the registration core's.
	CallIncoming
	// CallRingSent: our 180 Ringing is out.
	CallRingSent
	// CallSetupFailed: the incoming call could not be set up (Err; "" when
	// the driver already answered and reported it).
	CallSetupFailed
	// CallAnswer: the user answers the ringing call.
	CallAnswer
	// CallAnswerFailed: no SDP answer could be made for the offer (Err).
	CallAnswerFailed
	// CallAcked: the ACK for our 200 OK arrived.
	CallAcked
	// CallAckTimeout: our 200 OK was never ACKed (Err).
	CallAckTimeout
	// CallCancelled: the PBX cancelled the INVITE it sent us.
	CallCancelled
	// CallHangUp: the user hangs up.
	CallHangUp
	// CallByeDone: our BYE was answered, or not (Err).
	CallByeDone
	// CallRemoteBye: the far end sent BYE in the dialog CallID.
	CallRemoteBye
	// CallPowerOff: the power was cut: nothing more is sent (spec §3.2.4).
	CallPowerOff
)

var callEventNames = [...]string{"dial", "invite-sent", "invite-failed", "provisional", "final",
	"no-answer", "incoming", "ring-sent", "setup-failed", "answer", "answer-failed", "acked",
	"ack-timeout", "cancelled", "hang-up", "bye-done", "remote-bye", "power-off"}

func (k CallEventKind) String() string { return enumName(callEventNames[:], k, "CallEventKind") }

// CallEvent is one input to Call.Step. Call is the number of the call an
// outcome belongs to (CallAction.Call); the user's actions, an incoming
// INVITE, a remote BYE (by CallID) and power-off need none.
type CallEvent struct {
	Kind       CallEventKind
	Call       uint64
	Remote     string // CallDial, CallIncoming
	CallID     string // CallInviteSent, CallIncoming, CallRemoteBye
	Registered bool   // CallDial, CallIncoming
	Code       int    // CallProvisional, CallFinal
	Reason     string // CallFinal
	Err        string // what went wrong, in words
}

// CallActionKind says what the driver must do.
type CallActionKind uint8

const (
	// CallRefuse: the user's action is refused; Text says why.
	CallRefuse CallActionKind = iota
	// CallPublish: publish the call's State with Cause (CallChanged).
	CallPublish
	// CallNote: a line for the trace.
	CallNote
	// CallProblem: Text as an error from the peer.
	CallProblem
	// CallSendInvite: open the RTP socket and send INVITE to Remote;
	// report CallInviteSent or CallInviteFailed.
	CallSendInvite
	// CallAwaitAnswer: follow our INVITE to its final response; report
	// CallProvisional, CallFinal or CallNoAnswer.
	CallAwaitAnswer
	// CallSendCancel: CANCEL our INVITE (RFC 3261 §9.1).
	CallSendCancel
	// CallSendAck: ACK the 2xx to our INVITE (RFC 3261 §13.2.2.4).
	CallSendAck
	// CallSendBye: BYE in the call's dialog; report CallByeDone.
	CallSendBye
	// CallRespond: answer the incoming INVITE with Code and Reason; with
	// Answer the 200 OK carries the SDP answer and waits for the ACK
	// (report CallAcked, CallAckTimeout or CallAnswerFailed). A 180 reports
	// CallRingSent or CallSetupFailed.
	CallRespond
	// CallStartMedia: the call is up: start the RTP.
	CallStartMedia
	// CallStopMedia: stop the RTP and close its socket.
	CallStopMedia
	// CallRelease: the call is over: free what the driver holds for it;
	// WasTalking says whether it was up.
	CallRelease
)

var callActionNames = [...]string{"refuse", "publish", "note", "problem", "send-invite", "await-answer",
	"send-cancel", "send-ack", "send-bye", "respond", "start-media", "stop-media", "release"}

func (k CallActionKind) String() string { return enumName(callActionNames[:], k, "CallActionKind") }

// CallAction is one thing for the driver to do, in order.
type CallAction struct {
	Kind       CallActionKind
	Call       uint64    // the call it belongs to (0 for a refusal without a call)
	State      CallState // CallPublish
	Cause      string    // CallPublish
	Text       string    // CallRefuse, CallNote, CallProblem
	Remote     string    // CallSendInvite, CallPublish
	Code       int       // CallRespond
	Reason     string    // CallRespond
	Answer     bool      // CallRespond: the 200 OK carries the SDP answer
	WasTalking bool      // CallRelease
}

// String is the action in a short form, e.g. "respond 180 Ringing",
// "publish ringing (INVITE)", "note: ringing from 1002".
func (a CallAction) String() string {
	switch a.Kind {
	case CallRefuse, CallNote, CallProblem:
		return a.Kind.String() + ": " + a.Text
	case CallPublish:
		return fmt.Sprintf("publish %s (%s)", a.State, a.Cause)
	case CallSendInvite:
		return "send-invite " + a.Remote
	case CallRespond:
		return respondString(a.Code, a.Reason, a.Answer)
	case CallRelease:
		if a.WasTalking {
			return "release (was talking)"
		}
	}
	return a.Kind.String()
}

// enumName is names[v], or "typ(v)" for a value beyond them.
func enumName[T ~uint8](names []string, v T, typ string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

// State is where the call stands.
func (c *Call) State() CallState { return c.state }

// Current is the number of the call in progress, 0 when idle.
func (c *Call) Current() uint64 {
	if c.state == CallIdle {
		return 0
	}
	return c.n
}

// Remote is the other party's number while a call is in progress.
func (c *Call) Remote() string {
	if c.state == CallIdle {
		return ""
	}
	return c.remote
}

// Incoming reports whether the call in progress was started by the far end.
func (c *Call) Incoming() bool { return c.dir == incoming }

// Talking reports whether a call is up (its RTP flows until the call is
// idle, through a BYE of ours too).
func (c *Call) Talking() bool { return c.state == CallTalking }

// CallID is the Call-ID of the call in progress, "" when idle or before
// its INVITE left.
func (c *Call) CallID() string {
	if c.state == CallIdle {
		return ""
	}
	return c.callID
}

// TalkingAt is the lab time the call connected ($$CALLDURATION$$).
func (c *Call) TalkingAt() time.Duration { return c.talkingAt }

// Err is why the last call attempt failed, e.g. "404 Not Found"; "" once
// a call connects.
func (c *Call) Err() string { return c.err }

// Calls counts the calls that reached talking.
func (c *Call) Calls() int { return c.calls }

// Step takes one event at lab time now and returns what to do, in order.
func (c *Call) Step(now time.Duration, ev CallEvent) []CallAction {
	switch ev.Kind {
	case CallAnswer:
		if c.state != CallRinging || c.dir != incoming || c.answered || c.hangingUp {
			return []CallAction{{Kind: CallRefuse, Call: c.Current(), Text: "is not ringing"}}
		}
		c.answered = true
		return []CallAction{c.respond(200, "OK", true)}
	case CallDial:
		return c.dial(ev)
	case CallIncoming:
		return c.incoming(ev)
	case CallHangUp:
		return c.hangUp()
	case CallRemoteBye:
		if c.state == CallIdle || ev.CallID != c.callID {
			return nil
		}
		return c.end(fmt.Sprintf("call with %s ended by the far end", c.remote))
	case CallPowerOff:
		if c.state == CallIdle {
			return nil
		}
		// Spec §3.2.4: nothing is sent; the far end finds out by itself.
		return c.endAs("power off", "")
	}
	if c.state == CallIdle || ev.Call != c.n {
		return nil // an outcome of a call that is over
	}
	switch ev.Kind {
	case CallInviteSent:
		c.callID, c.err = ev.CallID, ""
		acts := []CallAction{c.act(CallAwaitAnswer)}
		if c.hangingUp { // hung up while the INVITE was on its way
			acts = append(acts, c.act(CallSendCancel))
		}
		return acts
	case CallInviteFailed:
		return c.end("")
	case CallProvisional:
		if (ev.Code == 180 || ev.Code == 183) && !c.rang && c.state == CallDialing {
			c.rang = true
			return []CallAction{c.note(c.remote + " is ringing")}
		}
		return nil
	case CallFinal:
		if c.state != CallDialing || c.byeCause != "" {
			return nil
		}
		return c.final(now, ev)
	case CallNoAnswer:
		if c.state != CallDialing {
			return nil
		}
		if c.hangingUp {
			return c.end(fmt.Sprintf("call to %s cancelled", c.remote))
		}
		c.err = ev.Err
		return append([]CallAction{c.problem(fmt.Sprintf("call to %s failed: %s", c.remote, ev.Err))},
			c.end(fmt.Sprintf("call to %s failed", c.remote))...)
	case CallRingSent:
		if c.state != CallRinging {
			return nil
		}
		return []CallAction{c.note("ringing from " + c.remote)}
	case CallSetupFailed:
		if c.state != CallRinging {
			return nil
		}
		if ev.Err == "" {
			return c.end("")
		}
		return c.end(fmt.Sprintf("call from %s lost: %s", c.remote, ev.Err))
	case CallAnswerFailed:
		if c.state != CallRinging || !c.answered {
			return nil
		}
		return append([]CallAction{c.problem(fmt.Sprintf("call from %s: %s", c.remote, ev.Err)),
			c.respond(488, "Not Acceptable Here", false)},
			c.end(fmt.Sprintf("call from %s refused: %s", c.remote, ev.Err))...)
	case CallAcked:
		if c.state != CallRinging || !c.answered {
			return nil
		}
		hangingUp := c.hangingUp
		acts := c.talking(now, "ACK")
		if hangingUp { // hung up while our 200 OK waited for its ACK
			acts = append(acts, c.sendBye(fmt.Sprintf("hung up on %s", c.remote)))
		}
		return acts
	case CallAckTimeout:
		if c.state != CallRinging || !c.answered {
			return nil
		}
		return append([]CallAction{c.problem(fmt.Sprintf("call from %s: no ACK for 200 OK: %s", c.remote, ev.Err))},
			c.end(fmt.Sprintf("call from %s lost", c.remote))...)
	case CallCancelled:
		if c.state != CallRinging || c.answered {
			return nil // a CANCEL after our 200 OK changes nothing (RFC 3261 §9.2)
		}
		return c.end(fmt.Sprintf("call from %s cancelled", c.remote))
	case CallByeDone:
		if c.byeCause == "" {
			return nil
		}
		return c.end(c.byeCause)
	}
	return nil
}

func (c *Call) dial(ev CallEvent) []CallAction {
	switch {
	case !ev.Registered:
		return []CallAction{{Kind: CallRefuse, Call: c.Current(), Text: "is not registered"}}
	case c.state != CallIdle:
		return []CallAction{{Kind: CallRefuse, Call: c.n, Text: fmt.Sprintf("is busy (call with %s)", c.remote)}}
	}
	c.begin(outgoing, ev.Remote, "", CallDialing)
	return []CallAction{c.publish(CallDialing, "dialled"), {Kind: CallSendInvite, Call: c.n, Remote: ev.Remote}}
}

func (c *Call) incoming(ev CallEvent) []CallAction {
	switch {
	case ev.Err != "":
		return []CallAction{{Kind: CallProblem, Text: fmt.Sprintf("call INVITE from %s: %s", ev.Remote, ev.Err)},
			{Kind: CallRespond, Code: 488, Reason: "Not Acceptable Here"}}
	case !ev.Registered:
		return []CallAction{{Kind: CallRespond, Code: 480, Reason: "Temporarily Unavailable"}}
	case c.state != CallIdle:
		return []CallAction{{Kind: CallNote, Text: fmt.Sprintf("busy (call with %s): refused call from %s", c.remote, ev.Remote)},
			{Kind: CallRespond, Code: 486, Reason: "Busy Here"}}
	}
	c.begin(incoming, ev.Remote, ev.CallID, CallRinging)
	c.err = ""
	return []CallAction{c.publish(CallRinging, "INVITE"), c.respond(180, "Ringing", false)}
}

// final is the final response to our INVITE while dialing.
func (c *Call) final(now time.Duration, ev CallEvent) []CallAction {
	status := fmt.Sprintf("%d %s", ev.Code, ev.Reason)
	if ev.Code < 200 || ev.Code >= 300 {
		if c.hangingUp { // our CANCEL worked: 487
			return c.end(fmt.Sprintf("call to %s cancelled", c.remote))
		}
		c.err = status
		return append([]CallAction{c.problem(fmt.Sprintf("call to %s failed: %s", c.remote, status))},
			c.end(fmt.Sprintf("call to %s failed: %s", c.remote, status))...)
	}
	if c.hangingUp {
		// RFC 3261 §9.1: the 200 OK crossed our CANCEL. The far end is
		// talking: ACK it (§13.2.2.4) and end the call with BYE.
		return []CallAction{c.note(fmt.Sprintf("call to %s answered as we cancelled: ACK and BYE", c.remote)),
			c.act(CallSendAck), c.sendBye(fmt.Sprintf("call to %s cancelled", c.remote))}
	}
	if ev.Err != "" {
		return []CallAction{c.act(CallSendAck), c.problem(fmt.Sprintf("call to %s: answer SDP: %s", c.remote, ev.Err)),
			c.sendBye(fmt.Sprintf("call to %s dropped: unusable answer", c.remote))}
	}
	return append([]CallAction{c.act(CallSendAck)}, c.talking(now, status)...)
}

func (c *Call) hangUp() []CallAction {
	switch {
	case c.state == CallIdle:
		return []CallAction{{Kind: CallRefuse, Text: "has no call"}}
	case c.byeCause != "" || c.hangingUp:
		return nil // already ending: the caller waits for the end
	case c.state == CallDialing:
		c.hangingUp = true
		if c.callID == "" {
			return nil // CANCEL once the INVITE is out (CallInviteSent)
		}
		return []CallAction{c.act(CallSendCancel)}
	case c.state == CallRinging && c.answered:
		c.hangingUp = true // BYE after the ACK (CallAcked)
		return nil
	case c.state == CallRinging:
		return append([]CallAction{c.respond(603, "Decline", false)}, c.end("declined call from "+c.remote)...)
	}
	return []CallAction{c.sendBye("hung up on " + c.remote)}
}

func (c *Call) begin(dir callDir, remote, callID string, st CallState) {
	c.n++
	c.state, c.dir, c.remote, c.callID = st, dir, remote, callID
	c.rang, c.answered, c.hangingUp, c.byeCause = false, false, false, ""
}

func (c *Call) talking(now time.Duration, cause string) []CallAction {
	c.state, c.talkingAt, c.err = CallTalking, now, ""
	c.answered, c.hangingUp = false, false
	c.calls++
	// State first, then the RTP, whose start the driver notes.
	return []CallAction{c.publish(CallTalking, cause), c.act(CallStartMedia)}
}

// end takes the call down; why, if not empty, is noted and is the cause.
// The state says idle only once the RTP socket is closed, so that idle
// means an INVITE would ring (CallStopMedia comes first).
func (c *Call) end(why string) []CallAction {
	if why == "" {
		return c.endAs("ended", "")
	}
	return c.endAs(why, why)
}

// endAs is end with a cause of its own for the published state.
func (c *Call) endAs(cause, why string) []CallAction {
	wasTalking := c.state == CallTalking
	c.state, c.answered, c.hangingUp, c.byeCause = CallIdle, false, false, ""
	acts := []CallAction{c.act(CallStopMedia), c.publish(CallIdle, cause), {Kind: CallRelease, Call: c.n, WasTalking: wasTalking}}
	if why != "" {
		acts = append(acts, c.note(why))
	}
	return acts
}

func (c *Call) sendBye(cause string) CallAction {
	c.byeCause = cause
	return c.act(CallSendBye)
}

func (c *Call) act(k CallActionKind) CallAction { return CallAction{Kind: k, Call: c.n} }

func (c *Call) note(text string) CallAction { return CallAction{Kind: CallNote, Call: c.n, Text: text} }

func (c *Call) problem(text string) CallAction {
	return CallAction{Kind: CallProblem, Call: c.n, Text: text}
}

func (c *Call) publish(st CallState, cause string) CallAction {
	return CallAction{Kind: CallPublish, Call: c.n, State: st, Cause: cause, Remote: c.remote}
}

func (c *Call) respond(code int, reason string, answer bool) CallAction {
	return CallAction{Kind: CallRespond, Call: c.n, Code: code, Reason: reason, Answer: answer}
}

// String is the call in a short form for transcripts: "idle", "ringing
// #2 incoming 1002", "talking #1 outgoing 1002 (bye out)".
func (c *Call) String() string {
	if c.state == CallIdle {
		return "idle"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s #%d %s %s", c.state, c.n, c.dir, c.remote)
	switch {
	case c.byeCause != "":
		b.WriteString(" (bye out)")
	case c.hangingUp:
		b.WriteString(" (hanging up)")
	case c.answered:
		b.WriteString(" (answered)")
	}
	return b.String()
}
