package recorder

import (
	"fmt"

	"github.com/reclab/reclab/pbx/csta"
)

// This file is the recording session's protocol core: one SIP dialog from the
// recorder to one phone (spec §3.2, design.md "The recording session"). It
// takes an Input and returns the Actions the driver performs; it opens no
// socket, starts no goroutine and reads no clock, so a table test covers it.
//
// Keep-alive failure (spec §3.2.2): an UPDATE that fails or goes unanswered
// is followed by a re-INVITE in the same dialog as session refresher
// (SessionRefreshing); a re-INVITE that fails too starts recovery
// (SessionRecovering): the old dialog is dropped without BYE (the phone
// sends none either) and a new INVITE with a new Call-ID and a new SDP
// session id opens a new session on the same RTP ports. The recording file
// of the call in progress stays open across recovery: the phone's copies
// resume into it after the new ACK, and what the phone forked while no
// session was up is lost and shows as loss and silence in that one file, so
// nothing is recorded twice and a call never gets two files. A recovery
// INVITE that fails too means the phone is gone (spec §3.2.4, power off):
// the file is closed with ReasonNoAnswer and the session ends.

// SessionState is where a recording session stands.
type SessionState uint8

const (
	SessionIdle       SessionState = iota // made; no INVITE sent yet
	SessionInviting                       // INVITE sent; no final answer yet
	SessionRecording                      // 200 OK ACKed: the phone forks RTP to us (spec §3.2)
	SessionRefreshing                     // UPDATE failed; re-INVITE out as session refresher (spec §3.2.2)
	SessionRecovering                     // re-INVITE failed; recovery INVITE (new Call-ID) out (spec §3.2.2)
	SessionEnding                         // BYE sent; waiting for its answer
	SessionDraining                       // dialog over; the file takes what the phone forked before it stopped, then closes
	SessionEnded                          // over; the driver has released everything
)

var sessionStateNames = [...]string{"idle", "inviting", "recording", "refreshing", "recovering", "ending", "draining", "ended"}

func (s SessionState) String() string {
	if int(s) < len(sessionStateNames) {
		return sessionStateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Call is the CSTA call a recording file belongs to.
type Call struct {
	ID      string // CSTA callID, 24 digits
	Calling string
	Called  string
	// Media are the call's SRTP keys from its EstablishedEvent (spec §1.3);
	// nil for a plain call.
	Media []csta.MediaKey
}

func (c Call) String() string {
	if c.Calling == "" && c.Called == "" {
		return "call " + c.ID
	}
	return fmt.Sprintf("call %s (%s → %s)", c.ID, c.Calling, c.Called)
}

// InputKind names what happened to a session.
type InputKind uint8

const (
	InStart           InputKind = iota // set the session up for Call (dynamic: its call; static: the first call)
	InAnswered                         // the phone answered the INVITE 200 OK with a usable sendonly answer
	InBadAnswer                        // 200 OK whose SDP we cannot use (Reason); the dialog exists, so ACK and BYE
	InRejected                         // the INVITE failed: non-2xx, no answer, transport error (Reason)
	InKeepAliveDue                     // the keep-alive interval elapsed
	InKeepAliveOK                      // the UPDATE was answered 200
	InKeepAliveFailed                  // the UPDATE failed or went unanswered (Reason)
	InCallStarted                      // a call of the extension was established (Call)
	InCallCleared                      // a call of the extension cleared (Call.ID)
	InStop                             // the recorder ends the session (Reason: out of service, closing)
	InPhoneBye                         // the phone sent BYE (spec §3.2: it does on unregistration)
	InByeDone                          // our BYE was answered, or failed (Reason holds the failure)
	InRefreshOK                        // the re-INVITE (session refresher) was answered 200 and ACKed
	InRefreshFailed                    // the re-INVITE failed or went unanswered (Reason)
	InDrained                          // the grace armed by ActDrainRecording for Call is over
)

var inputKindNames = [...]string{"start", "answered", "bad-answer", "rejected", "keep-alive-due",
	"keep-alive-ok", "keep-alive-failed", "call-started", "call-cleared", "stop", "phone-bye", "bye-done",
	"refresh-ok", "refresh-failed", "drained"}

func (k InputKind) String() string {
	if int(k) < len(inputKindNames) {
		return inputKindNames[k]
	}
	return fmt.Sprintf("input(%d)", uint8(k))
}

// Input is one event for a session.
type Input struct {
	Kind   InputKind
	Call   Call
	Reason string
}

func (in Input) String() string {
	s := in.Kind.String()
	if in.Call.ID != "" {
		s += " " + in.Call.String()
	}
	if in.Reason != "" {
		s += ": " + in.Reason
	}
	return s
}

// ActionKind names what the driver must do.
type ActionKind uint8

const (
	ActSendInvite     ActionKind = iota // INVITE with the recording offer (design.md)
	ActSendAck                          // ACK the 200 OK: the phone starts forking (spec §3.2)
	ActArmKeepAlive                     // feed InKeepAliveDue after the keep-alive interval
	ActSendUpdate                       // UPDATE without body in the dialog (spec §3.2.2)
	ActSendBye                          // BYE in the dialog: the phone stops forking
	ActOpenRecording                    // open the WAV for Call
	ActCloseRecording                   // close Call's WAV and write its JSON with Reason
	ActReport                           // publish Reason as an error in the trace
	ActFinish                           // the session is over (Reason): release its sockets, forget it
	ActSendReInvite                     // re-INVITE in the dialog with the same offer, as session refresher (spec §3.2.2)
	ActRecover                          // drop the dialog without BYE; INVITE again with a new Call-ID and SDP session id (spec §3.2.2)
	ActDrainRecording                   // keep Call's file open for the drain grace, then feed InDrained with Call
)

var actionKindNames = [...]string{"send-invite", "send-ack", "arm-keep-alive", "send-update", "send-bye",
	"open-recording", "close-recording", "report", "finish", "send-re-invite", "recover", "drain-recording"}

func (k ActionKind) String() string {
	if int(k) < len(actionKindNames) {
		return actionKindNames[k]
	}
	return fmt.Sprintf("action(%d)", uint8(k))
}

// Action is one thing the driver does.
type Action struct {
	Kind   ActionKind
	Call   Call
	Reason string
}

func (a Action) String() string {
	s := a.Kind.String()
	if a.Call.ID != "" {
		s += " " + a.Call.ID
	}
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}

// End reasons written to a recording's JSON.
const (
	ReasonCallCleared  = "call cleared"
	ReasonPhoneBye     = "phone sent BYE"
	ReasonOutOfService = "device out of service"
	ReasonClosed       = "recorder closed"
	ReasonNextCall     = "next call started"
	// ReasonUnfinished is the JSON's reason while the recording is open: a
	// file whose recorder was killed keeps it.
	ReasonUnfinished = "unfinished"
	// ReasonNoAnswer: UPDATE, re-INVITE and the recovery INVITE all went
	// unanswered (spec §3.2.2): the phone is gone, e.g. its power was cut
	// (spec §3.2.4), and the dead session is dropped.
	ReasonNoAnswer = "phone does not answer: keep-alive, re-INVITE and recovery INVITE failed"
)

// Session is the state machine of one recording session. The zero value is
// not usable; make one with NewSession.
type Session struct {
	mapping  Mapping
	state    SessionState
	current  Call   // the call being recorded to a file; ID "" for none
	pending  Call   // the call waiting for the session to come up; ID "" for none
	updating bool   // an UPDATE is outstanding
	stop     string // why the session ends, once that is decided

	// draining is the call whose file is past its end (the call cleared,
	// the dialog ended) but still open for what the phone forked before it
	// stopped and is still on the wire; ID "" for none. drainReason is the
	// reason its file will be closed with.
	draining    Call
	drainReason string
}

// NewSession makes an idle session for the given mapping.
func NewSession(m Mapping) *Session { return &Session{mapping: m} }

// State is the session's state.
func (s *Session) State() SessionState { return s.state }

// Mapping is the mapping the session was made for.
func (s *Session) Mapping() Mapping { return s.mapping }

// Current is the call being recorded now, if any.
func (s *Session) Current() (Call, bool) { return s.current, s.current.ID != "" }

// Step feeds one input and returns what to do, in order. Inputs that do not
// apply in the current state change nothing and return nil.
func (s *Session) Step(in Input) []Action {
	if in.Kind == InDrained && s.state != SessionDraining {
		// A file drained while the session goes on (static mapping, a
		// cleared call); a stale grace (the file was closed early) is
		// ignored.
		if s.draining.ID == "" || in.Call.ID != s.draining.ID {
			return nil
		}
		return s.closeDraining()
	}
	switch s.state {
	case SessionIdle:
		return s.stepIdle(in)
	case SessionInviting:
		return s.stepInviting(in)
	case SessionRecording:
		return s.stepRecording(in)
	case SessionRefreshing:
		return s.stepRefreshing(in)
	case SessionRecovering:
		return s.stepRecovering(in)
	case SessionEnding:
		return s.stepEnding(in)
	case SessionDraining:
		return s.stepDraining(in)
	}
	return nil
}

func (s *Session) stepIdle(in Input) []Action {
	switch in.Kind {
	case InStart:
		s.state = SessionInviting
		s.pending = in.Call
		return []Action{{Kind: ActSendInvite, Call: in.Call}}
	case InStop:
		return s.finish(in.Reason)
	}
	return nil
}

func (s *Session) stepInviting(in Input) []Action {
	switch in.Kind {
	case InAnswered:
		if s.stop != "" {
			// Asked to end while the INVITE was out: the dialog exists now,
			// so confirm it and take it down at once (RFC 3261 §15).
			s.state = SessionEnding
			return []Action{{Kind: ActSendAck}, {Kind: ActSendBye}}
		}
		// The recording opens with the ACK: the phone starts forking on
		// the ACK (spec §3.2); the sink holds its first packets until the
		// file is open.
		s.state = SessionRecording
		var acts []Action
		if s.pending.ID != "" {
			s.current, s.pending = s.pending, Call{}
			acts = append(acts, Action{Kind: ActOpenRecording, Call: s.current})
		}
		return append(acts, Action{Kind: ActSendAck}, Action{Kind: ActArmKeepAlive})
	case InBadAnswer:
		s.state = SessionEnding
		if s.stop == "" {
			s.stop = "unusable answer: " + in.Reason
		}
		return []Action{{Kind: ActReport, Reason: "unusable answer: " + in.Reason}, {Kind: ActSendAck}, {Kind: ActSendBye}}
	case InRejected:
		return append([]Action{{Kind: ActReport, Reason: "INVITE failed: " + in.Reason}}, s.finish("INVITE failed: "+in.Reason)...)
	case InCallStarted:
		if s.mapping == Static {
			s.pending = in.Call // the newest call is the one to record once the session is up
		}
	case InCallCleared:
		if s.pending.ID != in.Call.ID {
			return nil
		}
		s.pending = Call{}
		if s.mapping == Dynamic {
			s.stop = ReasonCallCleared // the session's only call is gone
		}
	case InStop:
		if s.stop == "" {
			s.stop = in.Reason
		}
		s.pending = Call{}
	case InPhoneBye:
		return s.finish(ReasonPhoneBye)
	}
	return nil
}

func (s *Session) stepRecording(in Input) []Action {
	switch in.Kind {
	case InKeepAliveDue:
		if s.updating {
			return nil // the outstanding UPDATE's outcome re-arms the timer
		}
		s.updating = true
		return []Action{{Kind: ActSendUpdate}}
	case InKeepAliveOK:
		s.updating = false
		return []Action{{Kind: ActArmKeepAlive}}
	case InKeepAliveFailed:
		// Spec §3.2.2: "If the recorder does not get the 200 OK within a
		// certain time, the recorder will send a RE-INVITE as a session
		// refresher."
		s.updating = false
		s.state = SessionRefreshing
		return []Action{{Kind: ActReport, Reason: "keep-alive UPDATE failed: " + in.Reason + ", re-INVITE as session refresher (spec §3.2.2)"},
			{Kind: ActSendReInvite}}
	}
	return s.stepDialogUp(in)
}

// stepDialogUp handles alike what every state with a live dialog meets:
// calls starting and clearing, a stop, the phone's own BYE.
func (s *Session) stepDialogUp(in Input) []Action {
	switch in.Kind {
	case InCallStarted, InCallCleared:
		return s.callChange(in, true)
	case InStop:
		return s.stopWithBye(in.Reason)
	case InPhoneBye:
		return s.endAfterDrain(ReasonPhoneBye)
	}
	return nil
}

// stepRefreshing: the re-INVITE is out (spec §3.2.2); the dialog is still
// ours, so calls and stops are handled as while recording.
func (s *Session) stepRefreshing(in Input) []Action {
	switch in.Kind {
	case InRefreshOK:
		s.state = SessionRecording
		return []Action{{Kind: ActArmKeepAlive}}
	case InRefreshFailed:
		// Spec §3.2.2: "If there is no response on the RE-INVITE, the
		// recovery mechanism will start working and the recorder sends a
		// new INVITE and a new session will be opened."
		s.state = SessionRecovering
		return []Action{{Kind: ActReport, Reason: "session refresher re-INVITE failed: " + in.Reason + ", recovery with a new INVITE (spec §3.2.2)"},
			{Kind: ActRecover}}
	}
	return s.stepDialogUp(in)
}

// stepRecovering: the old dialog is dropped and the recovery INVITE is out
// (spec §3.2.2). The file of the call in progress stays open.
func (s *Session) stepRecovering(in Input) []Action {
	switch in.Kind {
	case InAnswered:
		if s.stop != "" {
			// Ended while the INVITE was out: confirm and take it down.
			s.state = SessionEnding
			return []Action{{Kind: ActSendAck}, {Kind: ActSendBye}}
		}
		s.state = SessionRecording
		return []Action{{Kind: ActSendAck}, {Kind: ActArmKeepAlive}}
	case InBadAnswer:
		acts := s.closeCurrent("unusable answer: " + in.Reason)
		s.state = SessionEnding
		if s.stop == "" {
			s.stop = "unusable answer: " + in.Reason
		}
		return append(acts, Action{Kind: ActReport, Reason: "unusable answer: " + in.Reason}, Action{Kind: ActSendAck}, Action{Kind: ActSendBye})
	case InRejected:
		// Spec §3.2.4: a phone whose power was cut answers nothing; its
		// dead session is cleaned up here.
		reason := ReasonNoAnswer
		if s.stop != "" {
			reason = s.stop
		}
		acts := append(s.closeCurrent(reason), Action{Kind: ActReport, Reason: "recovery INVITE failed: " + in.Reason})
		return append(acts, s.finish(reason)...)
	case InCallStarted, InCallCleared:
		return s.callChange(in, false)
	case InStop:
		if s.stop == "" {
			s.stop = in.Reason
		}
		return s.closeCurrent(in.Reason)
	case InPhoneBye:
		return s.endAfterDrain(ReasonPhoneBye)
	}
	return nil
}

// callChange opens and closes files as calls start and clear while the
// session is up or being refreshed or recovered. haveDialog says whether a
// BYE can go out now (dynamic mapping ends the session with its call).
func (s *Session) callChange(in Input, haveDialog bool) []Action {
	switch in.Kind {
	case InCallStarted:
		if s.mapping != Static || s.current.ID == in.Call.ID {
			return nil // a dynamic session records only the call it was made for
		}
		// The previous call's file, still draining, closes now: from
		// here on the phone forks the new call.
		acts := s.closeDraining()
		if s.current.ID != "" {
			acts = append(acts, Action{Kind: ActCloseRecording, Call: s.current, Reason: ReasonNextCall})
		}
		s.current = in.Call
		return append(acts, Action{Kind: ActOpenRecording, Call: in.Call})
	case InCallCleared:
		if s.current.ID == "" || s.current.ID != in.Call.ID {
			return nil
		}
		if s.mapping == Static {
			// Spec §3.1: the session outlives the call. The phone stopped
			// forking when its call ended; what it forked last is still
			// on its way, so the file drains before it closes.
			return s.drainCurrent(ReasonCallCleared)
		}
		if !haveDialog {
			s.stop = ReasonCallCleared // BYE once the recovery INVITE is answered
			return s.drainCurrent(ReasonCallCleared)
		}
		// Spec §3.2: the phone "continues to send the packets until a SIP
		// BYE message is received", so the file stays open until the BYE is
		// answered and takes what was still on its way (stepEnding closes it).
		s.state = SessionEnding
		s.stop = ReasonCallCleared
		return []Action{{Kind: ActSendBye}}
	}
	return nil
}

// stopWithBye ends the dialog with BYE. The file drains from now (the
// phone has stopped, or stops on the BYE); when the recorder itself closes
// it closes at once.
func (s *Session) stopWithBye(reason string) []Action {
	var acts []Action
	if reason == ReasonClosed {
		acts = append(s.closeDraining(), s.closeCurrent(reason)...)
	} else {
		acts = s.drainCurrent(reason)
	}
	s.state = SessionEnding
	s.stop = reason
	return append(acts, Action{Kind: ActSendBye})
}

func (s *Session) stepEnding(in Input) []Action {
	switch in.Kind {
	case InByeDone:
		var acts []Action
		if in.Reason != "" {
			acts = append(acts, Action{Kind: ActReport, Reason: "BYE failed: " + in.Reason})
		}
		return append(acts, s.endAfterDrain(s.stop)...)
	case InPhoneBye:
		// Our BYE and the phone's crossed; either ends the dialog.
		return s.endAfterDrain(s.stop)
	case InKeepAliveOK, InKeepAliveFailed, InRefreshOK, InRefreshFailed:
		s.updating = false
	}
	return nil
}

// stepDraining: the dialog is over and the last file takes what the phone
// forked before it stopped (spec §3.2: it "continues to send the packets
// until a SIP BYE message is received"; those packets are still on the
// wire when the BYE is answered). Then the session ends.
func (s *Session) stepDraining(in Input) []Action {
	switch in.Kind {
	case InDrained:
		if in.Call.ID != s.draining.ID {
			return nil
		}
	case InStop: // the recorder closes: no more waiting
	default:
		return nil
	}
	return append(s.closeDraining(), s.finish(s.stop)...)
}

// drainCurrent moves the current call's file to draining: it stays open for
// the drain grace (ActDrainRecording) and closes with reason on InDrained.
func (s *Session) drainCurrent(reason string) []Action {
	if s.current.ID == "" {
		return nil
	}
	acts := s.closeDraining() // at most one file drains at a time
	s.draining, s.drainReason = s.current, reason
	s.current = Call{}
	return append(acts, Action{Kind: ActDrainRecording, Call: s.draining})
}

// closeDraining closes the draining file now, if there is one.
func (s *Session) closeDraining() []Action {
	if s.draining.ID == "" {
		return nil
	}
	c, reason := s.draining, s.drainReason
	s.draining, s.drainReason = Call{}, ""
	return []Action{{Kind: ActCloseRecording, Call: c, Reason: reason}}
}

// endAfterDrain ends the session with reason once its last file has
// drained, at once when there is none.
func (s *Session) endAfterDrain(reason string) []Action {
	if s.stop == "" {
		s.stop = reason
	}
	acts := s.drainCurrent(reason)
	if s.draining.ID == "" {
		return append(acts, s.finish(s.stop)...)
	}
	s.state = SessionDraining
	return acts
}

func (s *Session) closeCurrent(reason string) []Action {
	if s.current.ID == "" {
		return nil
	}
	c := s.current
	s.current = Call{}
	return []Action{{Kind: ActCloseRecording, Call: c, Reason: reason}}
}

func (s *Session) finish(reason string) []Action {
	s.state = SessionEnded
	s.pending = Call{}
	s.draining, s.drainReason = Call{}, ""
	return []Action{{Kind: ActFinish, Reason: reason}}
}
