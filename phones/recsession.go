package phones

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/reclab/reclab/sim/media"
)

// RecState is where a phone's recording session towards the recorder stands
// (spec §3.2, design.md "The recording session").
type RecState uint8

const (
	// RecIdle: no recording session.
	RecIdle RecState = iota
	// RecOffered: the phone answered the recorder's INVITE with 200 OK and
	// waits for the ACK, which orders it to start forking (spec §3.2).
	RecOffered
	// RecForking: the session is up. Every RTP packet of a call is copied
	// to the recorder; with no call up the session waits for the next one
	// (static mapping, spec §3.1).
	RecForking
)

var recStateNames = [...]string{"idle", "offered", "forking"}

func (s RecState) String() string {
	if int(s) < len(recStateNames) {
		return recStateNames[s]
	}
	return fmt.Sprintf("RecState(%d)", uint8(s))
}

// RecEventKind says what happened to the recording side of a phone.
type RecEventKind uint8

const (
	// RecRegistered: the phone registered with the PBX.
	RecRegistered RecEventKind = iota
	// RecLoggedOff: the phone unregistered for any reason: its own log-off,
	// a forced log-off (spec §3.2.3), a configuration or firmware update
	// (spec §3.2.5) or a PBX that stopped answering (spec §3.2.6).
	RecLoggedOff
	// RecPowerOff: the power was cut (spec §3.2.4). Nothing can be sent.
	RecPowerOff
	// RecInvite: an INVITE on the recording port (or a re-INVITE, InDialog).
	RecInvite
	// RecAck: an ACK on the recording port.
	RecAck
	// RecUpdate: an UPDATE, the recorder's keep-alive (spec §3.2.2).
	RecUpdate
	// RecBye: a BYE from the recorder.
	RecBye
	// RecAckTimeout: the 200 OK to CallID was retransmitted until the
	// server transaction gave up without an ACK (RFC 3261 §13.3.1.4).
	RecAckTimeout
)

var recEventNames = [...]string{"registered", "logged-off", "power-off", "INVITE", "ACK", "UPDATE", "BYE", "ack-timeout"}

func (k RecEventKind) String() string {
	if int(k) < len(recEventNames) {
		return recEventNames[k]
	}
	return fmt.Sprintf("RecEventKind(%d)", uint8(k))
}

// RecEvent is one input to RecSession.Step. The driver fills in what it
// read from the message; the session decides.
type RecEvent struct {
	Kind    RecEventKind
	CallID  string
	Source  netip.AddrPort // where the request came from (for notes)
	Allowed bool           // Source's address is in "recording allowed ip" (spec §3.2)
	// InDialog marks a re-INVITE: the To header carries a tag.
	InDialog bool
	// Offer is the parsed recording offer of an INVITE; OfferErr says why
	// the body is not one. A re-INVITE's body is not consulted.
	Offer    media.RecordingOffer
	OfferErr error
}

func (e RecEvent) String() string {
	s := e.Kind.String()
	if e.CallID != "" {
		s += " call-id " + e.CallID
	}
	if e.Source.IsValid() {
		s += " from " + e.Source.String()
	}
	return s
}

// RecActionKind says what the driver must do.
type RecActionKind uint8

const (
	// RecRespond: answer the request with Code and Reason. With Answer set
	// the 200 OK carries the phone's recording answer (a=sendonly); for a
	// new INVITE that creates the dialog.
	RecRespond RecActionKind = iota
	// RecNoResponse: send nothing at all.
	RecNoResponse
	// RecStartFork: copy every RTP packet sent to TX and every one received
	// to RX, each as its own stream.
	RecStartFork
	// RecStopFork: stop copying.
	RecStopFork
	// RecSendBye: send BYE in the dialog CallID (the phone ends the session).
	RecSendBye
	// RecForget: drop the dialog CallID without a word: stop retransmitting
	// its 200 OK and expect nothing more from it.
	RecForget
	// RecNote: publish Text as the phone's state change.
	RecNote
	// RecProblem: publish Text as malformed input from the event's source.
	RecProblem
)

var recActionNames = [...]string{"respond", "no-response", "start-fork", "stop-fork", "send-bye", "forget", "note", "problem"}

func (k RecActionKind) String() string {
	if int(k) < len(recActionNames) {
		return recActionNames[k]
	}
	return fmt.Sprintf("RecActionKind(%d)", uint8(k))
}

// RecAction is one thing the driver does, in order.
type RecAction struct {
	Kind   RecActionKind
	Code   int    // RecRespond
	Reason string // RecRespond
	Answer bool   // RecRespond: the 200 OK carries the recording answer
	CallID string // RecSendBye, RecForget
	TX, RX netip.AddrPort
	// TXKey, RXKey (RecStartFork): the keys the recorder offered for the
	// forks (the lab's own SRTP mode, docs/wire.md "SRTP"); none: the
	// copies go as the call's packets are (spec §1.3).
	TXKey, RXKey media.SDESKey
	Text         string // RecNote, RecProblem
}

// String is the action in a short form, e.g. "respond 200 OK +answer",
// "start-fork tx 127.20.0.2:20000 rx 127.20.0.2:20002", "note: ...".
func (a RecAction) String() string {
	switch a.Kind {
	case RecRespond:
		return respondString(a.Code, a.Reason, a.Answer)
	case RecStartFork:
		return fmt.Sprintf("start-fork tx %s rx %s", a.TX, a.RX)
	case RecSendBye, RecForget:
		return a.Kind.String() + " " + a.CallID
	case RecNote, RecProblem:
		return a.Kind.String() + ": " + a.Text
	}
	return a.Kind.String()
}

// RecSession is the recording side of one phone as a pure state machine
// (design.md "Protocol decisions live in small, testable pieces"): events go
// in through Step, the actions to perform come out. It opens no socket,
// starts no goroutine and reads no clock; the phone's loop (loop.go) serialises
// calls to Step. The zero value is a logged-off phone with no session.
//
// Decisions beyond the spec, all from design.md "The recording session":
//   - Order of checks on an INVITE: a logged-off phone ignores it (spec
//     §3.2, no response at all); then a source outside the allowed list gets
//     403 (spec §3.2); then a body that is no recording offer gets 488.
//   - ACK, UPDATE and BYE from outside the allowed list: 403 for UPDATE and
//     BYE; an ACK cannot be answered (RFC 3261 §17), so it is ignored. Either
//     way nothing changes.
//   - Spec §3.2.1, recorder retransmission: while the session is offered
//     (200 OK sent, no ACK yet), an INVITE with a new Call-ID but the o=
//     session id of the pending one gets no response at all; only the first
//     INVITE is answered and only its ACK starts forking. Its Call-ID is
//     remembered (as are those of ended and replaced sessions), so the
//     recorder's UDP retransmissions of that INVITE, which may arrive after
//     the ACK, stay ignored rather than being taken for recovery. (sipgo sends nothing
//     for it either: the transaction ends without a response when the
//     handler returns, which also stops its 100 Trying timer.)
//   - Spec §3.2.2, recovery: any other new INVITE while a session is
//     offered or up replaces it; the phone sends no BYE for the old one.
//   - Spec §3.2.2, session refresher: a re-INVITE in the session's dialog
//     is answered 200 OK with the same answer; forking goes on unchanged
//     (a changed offer in a re-INVITE is not applied).
//   - A 200 OK never ACKed drops the session without BYE; the recorder
//     recovers with a new INVITE (spec §3.2.2).
//   - The phone sends BYE when it unregisters with a session offered or up
//     (spec §3.2: "if an INVITE but no BYE has been received before"), and
//     none on power-off (spec §3.2.4).
type RecSession struct {
	registered bool
	state      RecState
	callID     string // the session's dialog
	sessionID  uint64 // o= session id of the INVITE that opened it
	source     netip.AddrPort
	tx, rx     netip.AddrPort
	txKey      media.SDESKey // the offer's keys for the forks, if any
	rxKey      media.SDESKey
	// spent are Call-IDs that may never open a session again: INVITEs
	// ignored as retransmissions (spec §3.2.1) and sessions that ended or
	// were replaced. Their INVITEs may still be retransmitted by the
	// recorder's transaction layer for up to 64*T1 after we decided.
	spent []string
}

// maxSpent bounds the Call-IDs remembered; the oldest are forgotten.
const maxSpent = 32

// State is where the session stands.
func (s *RecSession) State() RecState { return s.state }

// Registered reports whether the phone is registered, as the session knows it.
func (s *RecSession) Registered() bool { return s.registered }

// CallID is the Call-ID of the session's dialog, "" when idle.
func (s *RecSession) CallID() string { return s.callID }

// Targets are the recorder's TX and RX addresses while a session is offered or up.
func (s *RecSession) Targets() (tx, rx netip.AddrPort) { return s.tx, s.rx }

// Step applies one event and returns what to do, in order. A response to
// the event's request, if any, is always the last action.
func (s *RecSession) Step(ev RecEvent) []RecAction {
	switch ev.Kind {
	case RecRegistered:
		s.registered = true
		return nil
	case RecLoggedOff:
		s.registered = false
		if s.state == RecIdle {
			return nil
		}
		// Spec §3.2: "The telephone sends BYE to the logger when the
		// telephone makes an un-registration (if an INVITE but no BYE has
		// been received before)."
		out := s.stopFork()
		out = append(out, note("logged off with a recording session up: BYE to the recorder (spec §3.2)"),
			RecAction{Kind: RecSendBye, CallID: s.callID})
		s.reset()
		return out
	case RecPowerOff:
		s.registered = false
		if s.state == RecIdle {
			return nil
		}
		// Spec §3.2.4: the phone cannot send any BYE; it forgets everything.
		out := s.stopFork()
		out = append(out, RecAction{Kind: RecForget, CallID: s.callID},
			note("power cut: recording session dropped without BYE (spec §3.2.4)"))
		*s = RecSession{}
		return out
	case RecInvite:
		return s.invite(ev)
	case RecAck:
		return s.ack(ev)
	case RecUpdate:
		return s.update(ev)
	case RecBye:
		return s.bye(ev)
	case RecAckTimeout:
		if s.state != RecOffered || ev.CallID != s.callID {
			return nil
		}
		out := []RecAction{{Kind: RecForget, CallID: s.callID},
			note("no ACK for the 200 OK to the recorder: session dropped, waiting for the recorder's recovery (spec §3.2.2)")}
		s.reset()
		return out
	}
	return []RecAction{{Kind: RecProblem, Text: fmt.Sprintf("unknown recording event %s", ev.Kind)}}
}

func (s *RecSession) invite(ev RecEvent) []RecAction {
	if !s.registered {
		// Spec §3.2: "The phone ignores INVITE when it is logged off."
		return []RecAction{note("ignored INVITE: logged off"), {Kind: RecNoResponse}}
	}
	if !ev.Allowed {
		return refuse(ev)
	}
	if ev.InDialog {
		switch {
		case ev.CallID != s.callID || s.state == RecIdle:
			return []RecAction{respondAct(481, "Call/Transaction Does Not Exist")}
		case s.state == RecOffered:
			// RFC 3261 §14.2: a re-INVITE before the first one completed.
			return []RecAction{respondAct(491, "Request Pending")}
		}
		// Spec §3.2.2: the re-INVITE is the recorder's session refresher.
		return []RecAction{note("re-INVITE from the recorder: session refreshed (spec §3.2.2)"),
			{Kind: RecRespond, Code: 200, Reason: "OK", Answer: true}}
	}
	if slices.Contains(s.spent, ev.CallID) || (s.state != RecIdle && ev.CallID == s.callID) {
		// A retransmission of an INVITE we already decided on.
		return []RecAction{{Kind: RecNoResponse}}
	}
	if ev.OfferErr != nil {
		return []RecAction{{Kind: RecProblem, Text: fmt.Sprintf("recording INVITE: %v", ev.OfferErr)},
			respondAct(488, "Not Acceptable Here")}
	}
	var out []RecAction
	switch {
	case s.state == RecOffered && ev.Offer.SessionID == s.sessionID:
		// Spec §3.2.1: the recorder sent the INVITE again with the same
		// session id because our answer was late. Answer the first only.
		s.spend(ev.CallID)
		return []RecAction{note(fmt.Sprintf("INVITE repeats session id %d of the pending one: answering only the first (spec §3.2.1)", ev.Offer.SessionID)),
			{Kind: RecNoResponse}}
	case s.state != RecIdle:
		// Spec §3.2.2, recovery: a new session replaces the old one and
		// the phone sends no BYE for it.
		out = s.stopFork()
		out = append(out, RecAction{Kind: RecForget, CallID: s.callID},
			note(fmt.Sprintf("new recording INVITE replaces the session (session id %d) without BYE (spec §3.2.2)", s.sessionID)))
		s.reset()
	}
	s.state = RecOffered
	s.callID = ev.CallID
	s.sessionID = ev.Offer.SessionID
	s.source = ev.Source
	s.tx, s.rx = ev.Offer.TX, ev.Offer.RX
	s.txKey, s.rxKey = ev.Offer.TXKey, ev.Offer.RXKey
	return append(out, note(fmt.Sprintf("recording INVITE from %s accepted (session id %d): 200 OK, waiting for ACK", ev.Source, s.sessionID)),
		RecAction{Kind: RecRespond, Code: 200, Reason: "OK", Answer: true})
}

func (s *RecSession) ack(ev RecEvent) []RecAction {
	if !ev.Allowed {
		// An ACK gets no response (RFC 3261 §17); nothing changes.
		return []RecAction{note(fmt.Sprintf("ignored ACK from %s: not in recording allowed ip (spec §3.2)", ev.Source.Addr())),
			{Kind: RecNoResponse}}
	}
	if ev.CallID != s.callID || s.state != RecOffered {
		// A stale ACK, a retransmitted one, or the ACK of a re-INVITE.
		return []RecAction{{Kind: RecNoResponse}}
	}
	// Spec §3.2: "A SIP ACK message orders the telephone to start sending
	// the packets to the logger." Spec §3.2.1: only the ACK of the first
	// INVITE gets here; duplicates were never answered.
	s.state = RecForking
	return []RecAction{{Kind: RecStartFork, TX: s.tx, RX: s.rx, TXKey: s.txKey, RXKey: s.rxKey}, {Kind: RecNoResponse}}
}

func (s *RecSession) update(ev RecEvent) []RecAction {
	if !ev.Allowed {
		return refuse(ev)
	}
	if s.state == RecIdle || ev.CallID != s.callID {
		return []RecAction{respondAct(481, "Call/Transaction Does Not Exist")}
	}
	// Spec §3.2.2: keep-alive check.
	return []RecAction{respondAct(200, "OK")}
}

func (s *RecSession) bye(ev RecEvent) []RecAction {
	if !ev.Allowed {
		return refuse(ev)
	}
	if s.state == RecIdle || ev.CallID != s.callID {
		return []RecAction{respondAct(481, "Call/Transaction Does Not Exist")}
	}
	// Spec §3.2: "The telephone continues to send the packets until a SIP
	// BYE message is received from the recording equipment."
	out := s.stopFork()
	out = append(out, RecAction{Kind: RecForget, CallID: s.callID}, note("BYE from the recorder: recording session ended"))
	s.reset()
	return append(out, respondAct(200, "OK"))
}

func (s *RecSession) stopFork() []RecAction {
	if s.state == RecForking {
		return []RecAction{{Kind: RecStopFork}}
	}
	return nil
}

// reset ends the session; its Call-ID is spent.
func (s *RecSession) reset() {
	if s.callID != "" {
		s.spend(s.callID)
	}
	*s = RecSession{registered: s.registered, spent: s.spent}
}

func (s *RecSession) spend(callID string) {
	if slices.Contains(s.spent, callID) {
		return
	}
	s.spent = append(s.spent, callID)
	if len(s.spent) > maxSpent {
		s.spent = slices.Delete(s.spent, 0, len(s.spent)-maxSpent)
	}
}

// refuse is spec §3.2: a request from an address not in the allowed list
// is refused and changes nothing.
func refuse(ev RecEvent) []RecAction {
	return []RecAction{note(fmt.Sprintf("refused %s from %s: not in recording allowed ip (spec §3.2)", ev.Kind, ev.Source.Addr())),
		respondAct(403, "Forbidden")}
}

// respondString is a respond action in a transcript: "respond 200 OK
// +answer" when the 200 OK carries the SDP answer.
func respondString(code int, reason string, answer bool) string {
	s := fmt.Sprintf("respond %d %s", code, reason)
	if answer {
		s += " +answer"
	}
	return s
}

func respondAct(code int, reason string) RecAction {
	return RecAction{Kind: RecRespond, Code: code, Reason: reason}
}

func note(text string) RecAction { return RecAction{Kind: RecNote, Text: text} }
