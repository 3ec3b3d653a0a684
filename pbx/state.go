package pbx

import (
	"fmt"
	"net/netip"
)

// The PBX's typed states, published on the trace (sim.KindState): what the
// TUI, the stories and the tests act on. The notes beside them say the same
// for people.

// BindingState is the PBX's registration of one extension (RFC 3261
// §10.3), published with the CSTA event that tells its monitoring clients:
// Registered with the phone's contact, or no longer (unregistered, expired,
// taken by another phone, spec §3.2.3). Cause is the REGISTER's outcome
// ("new", "restarted", "refresh", "moved", "removed") or "expired".
type BindingState struct {
	Ext        string         `json:"ext"`
	Registered bool           `json:"registered"`
	Contact    netip.AddrPort `json:"contact"`
	Model      string         `json:"model"`
	Cause      string         `json:"cause"`
}

func (s BindingState) String() string {
	if s.Registered {
		return fmt.Sprintf("binding %s → %s (%s, %s)", s.Ext, s.Contact, s.Model, s.Cause)
	}
	return fmt.Sprintf("binding %s at %s gone (%s)", s.Ext, s.Contact, s.Cause)
}

// ServiceState is whether the PBX is up. Down, it has forgotten every
// registration and call (spec §3.2.6); no BindingState says so one by one.
type ServiceState struct {
	Up    bool   `json:"up"`
	Cause string `json:"cause"`
}

func (s ServiceState) String() string {
	up := "down"
	if s.Up {
		up = "up"
	}
	return fmt.Sprintf("PBX %s (%s)", up, s.Cause)
}
