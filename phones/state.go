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
