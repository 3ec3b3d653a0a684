package recorder

import (
	"fmt"
	"slices"
	"time"
)

// InviteRace is spec §3.2.1 as a pure core: the INVITEs of one recording
// session set-up. The first goes out at once; when no final answer has come
// within the retransmission interval a second INVITE goes with the same SDP
// session id and a new Call-ID (the phone answers the first only, design.md),
// and the first 200 OK wins: the other INVITE is given up without CANCEL. A
// 200 OK to an INVITE after another already won (a phone that does not follow
// §3.2.1) is ACKed and ended with BYE at once. When every INVITE has failed,
// or the answer timeout has passed, the set-up is lost. The driver sends,
// times and reports the answers; this decides.
type InviteRace struct {
	sdpID       uint64 // the offer's o= session id, the same in every INVITE
	again       time.Duration
	timeout     time.Duration
	retransmit  bool     // a second INVITE may still go out
	out         []string // Call-IDs sent, not finally answered
	sent        int
	won         string
	gaveUp      bool
	failure     string
	failureResp bool // failure is the phone's own final answer
	over        bool
}

// RaceInputKind says what happened to the race.
type RaceInputKind uint8

const (
	RaceRetransmitDue RaceInputKind = iota // the retransmission interval passed; CallID is the second INVITE's
	RaceAnswered                           // CallID got 200 OK
	RaceFailed                             // CallID failed (Reason; Response: a final non-2xx from the phone; Cancelled: given up by us)
	RaceGiveUp                             // the answer timeout passed
)

var raceInputNames = [...]string{"retransmit-due", "answered", "failed", "give-up"}

func (k RaceInputKind) String() string {
	if int(k) < len(raceInputNames) {
		return raceInputNames[k]
	}
	return fmt.Sprintf("RaceInputKind(%d)", uint8(k))
}

// RaceInput is one event of the race.
type RaceInput struct {
	Kind      RaceInputKind
	CallID    string
	Reason    string
	Response  bool
	Cancelled bool
}

// RaceActionKind says what the driver does.
type RaceActionKind uint8

const (
	RaceSend   RaceActionKind = iota // send the INVITE with CallID (and the session's one offer)
	RaceCancel                       // give up CallID's INVITE without CANCEL
	RaceWon                          // CallID's dialog is the session's: on to the answer's SDP
	RaceExtra                        // CallID was answered too late: ACK it, BYE it
	RaceLost                         // no INVITE succeeded (Reason)
	RaceNote                         // a line for the trace (Reason)
	RaceError                        // a problem for the trace (Reason)
)

var raceActionNames = [...]string{"send", "cancel", "won", "extra", "lost", "note", "error"}

func (k RaceActionKind) String() string {
	if int(k) < len(raceActionNames) {
		return raceActionNames[k]
	}
	return fmt.Sprintf("RaceActionKind(%d)", uint8(k))
}

// RaceAction is one thing to do.
type RaceAction struct {
	Kind   RaceActionKind
	CallID string
	Reason string
}

func (a RaceAction) String() string {
	s := a.Kind.String()
	if a.CallID != "" {
		s += " " + a.CallID
	}
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}

// NewInviteRace starts a set-up: the first INVITE is firstCallID, its offer's
// session id sdpID. again is the retransmission interval: a second INVITE
// follows only when it is shorter than the answer timeout (the driver
// then feeds RaceRetransmitDue after again).
func NewInviteRace(firstCallID string, sdpID uint64, again, timeout time.Duration) (*InviteRace, []RaceAction) {
	r := &InviteRace{sdpID: sdpID, again: again, timeout: timeout, retransmit: again < timeout}
	return r, []RaceAction{r.send(firstCallID)}
}

// Over reports whether the race has ended (won or lost) and nothing is out.
func (r *InviteRace) Over() bool { return r.over && len(r.out) == 0 }

// Retransmits reports whether a second INVITE may follow the first.
func (r *InviteRace) Retransmits() bool { return r.retransmit }

// Step takes one event and returns what to do.
func (r *InviteRace) Step(in RaceInput) []RaceAction {
	switch in.Kind {
	case RaceRetransmitDue:
		if !r.retransmit || r.won != "" || r.over {
			return nil
		}
		r.retransmit = false
		first := r.out[0]
		return []RaceAction{
			{Kind: RaceNote, Reason: fmt.Sprintf("no answer to INVITE %s within %s: INVITE again with the same session id %d, Call-ID %s (spec §3.2.1)",
				first, r.again, r.sdpID, in.CallID)},
			r.send(in.CallID),
		}
	case RaceGiveUp:
		if r.won != "" || r.over {
			return nil
		}
		r.gaveUp, r.retransmit = true, false
		acts := make([]RaceAction, 0, len(r.out))
		for _, id := range r.out {
			acts = append(acts, RaceAction{Kind: RaceCancel, CallID: id})
		}
		return acts
	case RaceAnswered:
		if !r.settle(in.CallID) {
			return nil
		}
		if r.won != "" {
			return []RaceAction{
				{Kind: RaceError, CallID: in.CallID, Reason: "INVITE " + in.CallID + " answered too; ACK and BYE (spec §3.2.1: only the first should be)"},
				{Kind: RaceExtra, CallID: in.CallID},
			}
		}
		if r.over { // answered after the give-up: a dialog nobody wants
			return []RaceAction{{Kind: RaceExtra, CallID: in.CallID}}
		}
		r.won, r.retransmit, r.over = in.CallID, false, true
		var acts []RaceAction
		for _, id := range r.out {
			acts = append(acts, RaceAction{Kind: RaceCancel, CallID: id}) // given up without CANCEL
		}
		if r.sent > 1 {
			acts = append(acts, RaceAction{Kind: RaceNote, Reason: fmt.Sprintf("INVITE %s answered 200 OK; the other INVITE of session id %d is given up (spec §3.2.1)", in.CallID, r.sdpID)})
		}
		return append(acts, RaceAction{Kind: RaceWon, CallID: in.CallID})
	case RaceFailed:
		if !r.settle(in.CallID) {
			return nil
		}
		if r.failure == "" || !in.Cancelled {
			r.failure, r.failureResp = in.Reason, in.Response
		}
		if len(r.out) > 0 || r.won != "" {
			return nil // another INVITE is out, or the race is won
		}
		// Nothing is out: the set-up is lost, and no INVITE follows a
		// failed one (a retransmission is for silence, not refusal).
		r.over, r.retransmit = true, false
		reason := r.failure
		switch {
		case !r.failureResp && r.gaveUp:
			reason = fmt.Sprintf("no answer within %s", r.timeout)
		case reason == "":
			reason = "no answer"
		}
		return []RaceAction{{Kind: RaceLost, Reason: reason}}
	}
	return nil
}

func (r *InviteRace) send(callID string) RaceAction {
	r.out = append(r.out, callID)
	r.sent++
	return RaceAction{Kind: RaceSend, CallID: callID}
}

// settle takes callID off the INVITEs out; false if it was not out.
func (r *InviteRace) settle(callID string) bool {
	i := slices.Index(r.out, callID)
	if i < 0 {
		return false
	}
	r.out = slices.Delete(r.out, i, i+1)
	return true
}
