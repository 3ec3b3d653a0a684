package pbx

import (
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// Registration is one extension's binding to a phone.
type Registration struct {
	Ext           string
	Contact       netip.AddrPort // where the phone's SIP stack listens
	Model         string         // from the phone's User-Agent
	RecordingPort int            // 7300 or the contact port, by the model table
	Expires       time.Duration  // lab clock time at which the binding lapses
}

// RecordingAddr is where a recorder sends its INVITE (spec §3.2).
func (r Registration) RecordingAddr() netip.AddrPort {
	return netip.AddrPortFrom(r.Contact.Addr(), uint16(r.RecordingPort))
}

// RegisterOutcome is what the registrar decided about one REGISTER.
type RegisterOutcome uint8

const (
	RegNew      RegisterOutcome = iota // a new binding: BackInService
	RegRefresh                         // same phone refreshed its binding: no CSTA
	RegMoved                           // another phone took the extension: log the old one off (spec §3.2.3)
	RegRemoved                         // Expires: 0: OutOfService
	RegRefused                         // the extension is not in the directory, or a logged-off phone refreshes
	RegNotFound                        // un-REGISTER of a binding that does not exist
)

var outcomeNames = [...]string{"new", "refresh", "moved", "removed", "refused", "not-found"}

func (o RegisterOutcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", o)
}

// Registrar is the pure registration table: REGISTERs go in with the lab
// time, outcomes come out. It opens no socket and reads no clock.
type Registrar struct {
	directory map[string]bool
	bindings  map[string]Registration
	// evicted remembers phones logged off by another registration so that
	// their later refresh is refused instead of stealing the number back.
	evicted map[string]netip.AddrPort
}

// NewRegistrar knows the extensions in directory.
func NewRegistrar(directory []string) *Registrar {
	r := &Registrar{directory: map[string]bool{}, bindings: map[string]Registration{}, evicted: map[string]netip.AddrPort{}}
	for _, e := range directory {
		r.directory[e] = true
	}
	return r
}

// Known reports whether ext is in the directory.
func (r *Registrar) Known(ext string) bool { return r.directory[ext] }

// Lookup returns the current binding of ext.
func (r *Registrar) Lookup(ext string) (Registration, bool) {
	b, ok := r.bindings[ext]
	return b, ok
}

// Register applies one REGISTER. reg.Expires is the absolute lab time of
// expiry; expires 0 means un-REGISTER. prev is the binding that was replaced
// or removed, if any.
func (r *Registrar) Register(reg Registration, expires time.Duration) (out RegisterOutcome, prev Registration) {
	if !r.directory[reg.Ext] {
		return RegRefused, Registration{}
	}
	old, had := r.bindings[reg.Ext]
	if expires == 0 {
		if !had || old.Contact != reg.Contact {
			return RegNotFound, Registration{}
		}
		delete(r.bindings, reg.Ext)
		return RegRemoved, old
	}
	if ev, ok := r.evicted[reg.Ext]; ok && ev == reg.Contact && had && old.Contact != reg.Contact {
		// spec §3.2.3: the phone that was logged off may not take the number back by refreshing.
		return RegRefused, Registration{}
	}
	r.bindings[reg.Ext] = reg
	switch {
	case !had:
		delete(r.evicted, reg.Ext)
		return RegNew, Registration{}
	case old.Contact == reg.Contact:
		return RegRefresh, old
	default:
		r.evicted[reg.Ext] = old.Contact
		return RegMoved, old
	}
}

// Expire removes bindings whose time has passed and returns them.
func (r *Registrar) Expire(now time.Duration) []Registration {
	var gone []Registration
	for ext, b := range r.bindings {
		if b.Expires <= now {
			gone = append(gone, b)
			delete(r.bindings, ext)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].Ext < gone[j].Ext })
	return gone
}

// Bindings lists every registration, by extension.
func (r *Registrar) Bindings() []Registration {
	out := make([]Registration, 0, len(r.bindings))
	for _, b := range r.bindings {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ext < out[j].Ext })
	return out
}

// Clear forgets every binding (a PBX restart, spec §3.2.6).
func (r *Registrar) Clear() {
	r.bindings = map[string]Registration{}
	r.evicted = map[string]netip.AddrPort{}
}
