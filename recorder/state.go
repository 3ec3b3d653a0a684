package recorder

import "fmt"

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
