package phones

import (
	"fmt"
	"net/netip"
)

// The phone's typed states, published on the trace (sim.KindState) at every
// change: what the TUI, the stories and the tests act on. The notes beside
// them say the same for people.

// RegistrationState is the phone's registration with the PBX.
type RegistrationState struct {
	Phone      string `json:"phone"` // node name
	Ext        string `json:"ext"`
	Registered bool   `json:"registered"`
	Cause      string `json:"cause"` // why it changed, e.g. "200 OK", "forced log-off (spec §3.2.3)"
}

func (s RegistrationState) String() string {
	if s.Registered {
		return fmt.Sprintf("%s registered as %s (%s)", s.Phone, s.Ext, s.Cause)
	}
	return fmt.Sprintf("%s not registered (%s)", s.Phone, s.Cause)
}

// RecordingState is the phone's recording session (spec §3.2) as its core
// (RecSession) now has it.
type RecordingState struct {
	Phone string         `json:"phone"`
	Ext   string         `json:"ext"`
	State RecState       `json:"state"`
	TX    netip.AddrPort `json:"tx,omitzero"` // where forked packets go while RecForking
	RX    netip.AddrPort `json:"rx,omitzero"`
	Cause string         `json:"cause"` // the core's input that changed it, e.g. "ACK"
}

func (s RecordingState) String() string {
	if s.State == RecForking {
		return fmt.Sprintf("%s recording session %s, forking to tx %s / rx %s (%s)", s.Phone, s.State, s.TX, s.RX, s.Cause)
	}
	return fmt.Sprintf("%s recording session %s (%s)", s.Phone, s.State, s.Cause)
}

// MarshalText makes the state a name in JSON (trace.jsonl).
func (s RecState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// CallChanged is the phone's call: dialing, ringing, talking, and idle
// again when it ends.
type CallChanged struct {
	Phone  string    `json:"phone"`
	Ext    string    `json:"ext"`
	State  CallState `json:"state"`
	Remote string    `json:"remote"` // the other party's number
	Cause  string    `json:"cause"`  // e.g. "dialled", "200 OK", "hung up on 1002", "486 Busy Here"
}

func (s CallChanged) String() string {
	return fmt.Sprintf("%s call with %s %s (%s)", s.Phone, s.Remote, s.State, s.Cause)
}

// PowerState is whether the phone has power (spec §3.2.4).
type PowerState struct {
	Phone string `json:"phone"`
	Ext   string `json:"ext"`
	On    bool   `json:"on"`
}

func (s PowerState) String() string {
	if s.On {
		return fmt.Sprintf("%s powered on", s.Phone)
	}
	return fmt.Sprintf("%s powered off", s.Phone)
}

// RegisterFailed is a REGISTER that got no 200 OK: a registration, a
// refresh or a retry (Unregister false), or the un-REGISTER (Expires: 0)
// of a phone that lost its registration (spec §3.2.6). The registration
// itself stays as RegistrationState last said.
type RegisterFailed struct {
	Phone      string `json:"phone"`
	Ext        string `json:"ext"`
	Unregister bool   `json:"unregister"`
	Cause      string `json:"cause"` // e.g. "register: no answer within 2s", "register: 403 Forbidden"
}

func (s RegisterFailed) String() string {
	what := "REGISTER"
	if s.Unregister {
		what = "un-REGISTER"
	}
	return fmt.Sprintf("%s %s as %s failed (%s)", s.Phone, what, s.Ext, s.Cause)
}

// InviteUnanswered is a recording INVITE the phone sends no response to,
// by design: it is logged off (spec §3.2: "the phone ignores INVITE"), or
// it repeats the SDP session id of the INVITE being answered (spec §3.2.1:
// only the first is answered), or it is a retransmission of one already
// decided.
type InviteUnanswered struct {
	Phone     string `json:"phone"`
	Ext       string `json:"ext"`
	SIPCallID string `json:"sip_call_id"`
	Cause     string `json:"cause"` // InviteLoggedOff, InviteSameSession or InviteRetransmission
}

// InviteUnanswered causes.
const (
	InviteLoggedOff      = "logged off"      // spec §3.2
	InviteSameSession    = "same session id" // spec §3.2.1
	InviteRetransmission = "retransmission"
)

func (s InviteUnanswered) String() string {
	return fmt.Sprintf("%s left INVITE %s unanswered (%s)", s.Phone, s.SIPCallID, s.Cause)
}

// publishUnansweredOnLoop publishes InviteUnanswered when the recording
// core decided to send no response to the INVITE ev (steps are its
// actions); it runs on the phone's loop, as recStepOnLoop does.
func (p *Phone) publishUnansweredOnLoop(ev RecEvent, steps []recStep) {
	if ev.Kind != RecInvite {
		return
	}
	for _, s := range steps {
		if s.act.Kind == RecRespond {
			return
		}
	}
	cause := InviteRetransmission
	switch {
	case !p.rec.Registered():
		cause = InviteLoggedOff
	case !ev.InDialog && ev.OfferErr == nil && p.rec.State() == RecOffered && ev.CallID != p.rec.CallID():
		cause = InviteSameSession
	}
	p.node.Publish(InviteUnanswered{Phone: p.Name(), Ext: p.ext, SIPCallID: ev.CallID, Cause: cause})
}

// RecordKeyAnswered is a press of the record key and the recorder's
// answer (spec §3.3): the request as sent and the HTTP status (0 when
// no answer came).
type RecordKeyAnswered struct {
	Phone      string `json:"phone"`
	Ext        string `json:"ext"`
	Method     string `json:"method"` // GET or POST
	URL        string `json:"url"`
	SOAPAction string `json:"soap_action,omitempty"`
	Status     int    `json:"status"`
	Display    string `json:"display"` // what the phone shows of the answer
}

func (s RecordKeyAnswered) String() string {
	if s.Status == 0 {
		return fmt.Sprintf("%s record key %s %s: no answer", s.Phone, s.Method, s.URL)
	}
	return fmt.Sprintf("%s record key %s %s: %d %q", s.Phone, s.Method, s.URL, s.Status, s.Display)
}
