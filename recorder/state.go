package recorder

import (
	"fmt"
	"net/netip"
)

// The recorder's typed states, published on the trace (sim.KindState): what
// the TUI, the stories and the tests act on. The notes beside them say the
// same for people.

// SessionChanged is a recording session towards one phone (spec §3.2).
type SessionChanged struct {
	Session   string `json:"session"` // as the trace names it: "1001" or "<callID>-1001"
	Ext       string `json:"ext"`
	Up        bool   `json:"up"`          // the phone forks to the recorder
	SIPCallID string `json:"sip_call_id"` // the session's dialog
	Cause     string `json:"cause"`       // "ACK sent", or why it ended
}

func (s SessionChanged) String() string {
	if s.Up {
		return fmt.Sprintf("recording session %s up (%s)", s.Session, s.Cause)
	}
	return fmt.Sprintf("recording session %s ended (%s)", s.Session, s.Cause)
}

// RecordingClosed is a recording whose files are final: published once the
// WAV and its JSON are written (Kept), or removed (save on demand without a
// press, spec §3.3). Whoever reads the files waits for this.
type RecordingClosed struct {
	Recording
	Kept bool `json:"kept"`
}

func (s RecordingClosed) String() string {
	verb := "kept"
	if !s.Kept {
		verb = "discarded"
	}
	return fmt.Sprintf("recording %s closed and %s (%s): %d packets, %d lost",
		recordingName(s.Recording), verb, s.Meta.Reason, s.Meta.Packets(), s.Meta.Lost())
}

// CSTALinkState is the recorder's CSTA link to the PBX: Up once every
// MonitorStart of the configuration is answered (Monitoring lists those the
// PBX took), down when the link is lost (Cause says why; it reconnects).
type CSTALinkState struct {
	Up         bool     `json:"up"`
	PBX        string   `json:"pbx"`
	Monitoring []string `json:"monitoring"`
	Cause      string   `json:"cause"`
}

func (s CSTALinkState) String() string {
	if s.Up {
		return fmt.Sprintf("CSTA link to %s up, monitoring %v (%s)", s.PBX, s.Monitoring, s.Cause)
	}
	return fmt.Sprintf("CSTA link to %s down (%s)", s.PBX, s.Cause)
}

// DeviceState is what the recorder knows of one extension after the PBX's
// CSTA BackInServiceEvent or OutOfServiceEvent for it (spec §3.2.4): Known
// with the phone's address, recording port and model while it is in
// service. Cause is the policy's input, "back-in-service" or "out-of-service".
type DeviceState struct {
	Ext    string     `json:"ext"`
	Known  bool       `json:"known"`
	Device DeviceInfo `json:"device,omitzero"`
	Cause  string     `json:"cause"`
}

func (s DeviceState) String() string {
	if s.Known {
		return fmt.Sprintf("device %s known at %s (%s)", s.Ext, s.Device, s.Cause)
	}
	return fmt.Sprintf("device %s unknown (%s)", s.Ext, s.Cause)
}

// RecordingStarted is a recording file opened for a session: one per call
// (static mapping keeps the session across calls, not the file). Its
// RecordingClosed follows when the file is final.
type RecordingStarted struct {
	Recording string `json:"recording"` // as the trace names it: "<callID>-<ext>"
	Ext       string `json:"ext"`
	CallID    string `json:"call_id"` // CSTA callID
	Mapping   string `json:"mapping"`
}

func (s RecordingStarted) String() string {
	return fmt.Sprintf("recording %s started (%s mapping)", s.Recording, s.Mapping)
}

// InviteSent is an INVITE the recorder sends a phone for a recording
// session (spec §3.2): the first of a session (also the recovery INVITE of
// spec §3.2.2, a new session under a new Call-ID), the second one with the
// same SDP session id under a new Call-ID when the first is not answered
// in time (spec §3.2.1), or the re-INVITE in the dialog as session
// refresher (spec §3.2.2).
type InviteSent struct {
	Session   string         `json:"session"`
	Ext       string         `json:"ext"`
	Phone     netip.AddrPort `json:"phone"` // the phone's recording SIP address
	SIPCallID string         `json:"sip_call_id"`
	Cause     string         `json:"cause"` // InviteNewSession, InviteRetransmission or InviteRefresher
}

// InviteSent causes.
const (
	InviteNewSession     = "new session"
	InviteRetransmission = "retransmission"    // spec §3.2.1
	InviteRefresher      = "session refresher" // spec §3.2.2
)

// inviteCause is an INVITE's cause in the §3.2.1 race: the first or the
// second with the same session id.
func inviteCause(first bool) string {
	if first {
		return InviteNewSession
	}
	return InviteRetransmission
}

func (s InviteSent) String() string {
	return fmt.Sprintf("INVITE %s at %s for recording session %s (%s)", s.Ext, s.Phone, s.Session, s.Cause)
}

// CallEstablished is a call of a monitored extension as the recorder
// learnt it over CSTA (EstablishedEvent) once its policy has decided on it
// (spec §3.1): recording starts now, or waits for the record key (start on
// demand, spec §3.3).
type CallEstablished struct {
	Ext     string `json:"ext"`
	CallID  string `json:"call_id"`
	Calling string `json:"calling"`
	Called  string `json:"called"`
}

func (s CallEstablished) String() string {
	return fmt.Sprintf("call %s of %s established (%s → %s)", s.CallID, s.Ext, s.Calling, s.Called)
}

// RecordKeyServed is a record-key request the recorder answered (spec
// §3.3), refused ones included.
type RecordKeyServed struct {
	From   netip.AddrPort `json:"from"`
	Scheme string         `json:"scheme"` // http or https
	Form   string         `json:"form"`   // GET, XML or SOAP
	Ext    string         `json:"ext"`    // the extension it is about; "" when unreadable
	Status int            `json:"status"`
	Cause  string         `json:"cause"` // the answer's text
}

func (s RecordKeyServed) String() string {
	return fmt.Sprintf("record key %s %s from %s for %q: %d (%s)", s.Scheme, s.Form, s.From, s.Ext, s.Status, s.Cause)
}
