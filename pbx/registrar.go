package pbx

import (
	"container/heap"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/phones/model"
)

// Registration is one extension's binding to a phone.
type Registration struct {
	Ext           string
	Contact       netip.AddrPort // where the phone's SIP stack listens
	Model         string         // from the phone's User-Agent
	RecordingPort int            // 7300 or the contact port, by the model table
	Expires       time.Duration  // lab clock time at which the binding lapses
	CallID        string         // the REGISTER's Call-ID: one per boot cycle of the phone (RFC 3261 §10.2.4)
}

// RecordingAddr is where a recorder sends its INVITE (spec §3.2).
func (r Registration) RecordingAddr() netip.AddrPort {
	return netip.AddrPortFrom(r.Contact.Addr(), uint16(r.RecordingPort))
}

// RegisterOutcome is what the registrar decided about one REGISTER.
type RegisterOutcome uint8

const (
	RegNew       RegisterOutcome = iota // a new binding: BackInService
	RegRefresh                          // the same phone (same IP) refreshed its binding
	RegMoved                            // another phone took the extension: log the old one off (spec §3.2.3)
	RegRemoved                          // Expires: 0: OutOfService
	RegRefused                          // the extension is not in the directory, or a logged-off phone refreshes
	RegNotFound                         // un-REGISTER of a binding that does not exist
	RegRestarted                        // the same phone registers with a new Call-ID: it rebooted; BackInService
)

var outcomeNames = [...]string{"new", "refresh", "moved", "removed", "refused", "not-found", "restarted"}

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
	// lapses holds every expiry a REGISTER set, soonest first, so Expire
	// looks only at what is due instead of at every binding; an entry whose
	// binding was refreshed or removed since is dropped when it comes up.
	lapses lapseHeap
}

// lapse is the time a REGISTER set for ext's binding to lapse.
type lapse struct {
	at  time.Duration
	ext string
}

// lapseHeap is a container/heap of lapses, soonest first.
type lapseHeap []lapse

func (h lapseHeap) Len() int           { return len(h) }
func (h lapseHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h lapseHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *lapseHeap) Push(x any)        { *h = append(*h, x.(lapse)) }
func (h *lapseHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
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
	heap.Push(&r.lapses, lapse{at: reg.Expires, ext: reg.Ext})
	switch {
	case !had:
		delete(r.evicted, reg.Ext)
		return RegNew, Registration{}
	case old.Contact.Addr() == reg.Contact.Addr() && old.CallID != reg.CallID:
		// The same phone after a power cycle or restart: a new Call-ID means
		// a new boot (RFC 3261 §10.2.4), so the recorder must hear of it
		// again (spec §3.2.4) even though the old binding had not lapsed.
		return RegRestarted, old
	case old.Contact.Addr() == reg.Contact.Addr():
		// The same phone, perhaps on a new SIP port after a configuration
		// update (spec §3.2.5): not a forced log-off.
		return RegRefresh, old
	default:
		r.evicted[reg.Ext] = old.Contact
		return RegMoved, old
	}
}

// Expire removes bindings whose time has passed and returns them. It costs
// what is due, not the number of bindings.
func (r *Registrar) Expire(now time.Duration) []Registration {
	var gone []Registration
	for len(r.lapses) > 0 && r.lapses[0].at <= now {
		l := heap.Pop(&r.lapses).(lapse)
		if b, ok := r.bindings[l.ext]; ok && b.Expires == l.at {
			gone = append(gone, b)
			delete(r.bindings, l.ext)
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
	r.lapses = nil
}

// registerRequest is what one REGISTER asks of the registrar, read from its
// headers by parseRegister (RFC 3261 §10.2, docs/wire.md "Registration").
type registerRequest struct {
	Ext           string
	Contact       netip.AddrPort // zero when Wildcard
	Wildcard      bool           // Contact: * with Expires: 0: remove the binding (RFC 3261 §10.2.2)
	Model         string         // from the User-Agent, "" when it names none
	RecordingPort int            // spec §3.2: 7300 on 442x/743x/744x, else the contact port
	Expires       time.Duration  // as granted: what was asked, capped at the registrar's maximum
}

// badRequest is a REGISTER (or INVITE) the PBX cannot act on: which header
// and what was wrong with it. The PBX answers 400 and names it in the trace.
type badRequest struct {
	method, header, problem string
}

func (e *badRequest) Error() string {
	return fmt.Sprintf("pbx: %s: %s %s", e.method, e.header, e.problem)
}

// parseExpires reads a delta-seconds value (RFC 3261 §20.19, 32 bits).
func parseExpires(v string) (time.Duration, bool) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	return time.Duration(n) * time.Second, err == nil
}

// modelFromUserAgent reads "Mitel 7434 MAC:… V:…" (docs/wire.md).
func modelFromUserAgent(ua string) string {
	f := strings.Fields(ua)
	if len(f) >= 2 && strings.EqualFold(f[0], "Mitel") {
		return f[1]
	}
	return ""
}

// parseRegister reads one REGISTER. It is pure: no clock, no table. A
// Contact "expires" parameter wins over the Expires header (RFC 3261
// §10.2.1.1); with neither, maxExpiry is granted.
func parseRegister(req *sip.Request, maxExpiry time.Duration) (registerRequest, error) {
	bad := func(header, format string, a ...any) (registerRequest, error) {
		return registerRequest{}, &badRequest{method: "REGISTER", header: header, problem: fmt.Sprintf(format, a...)}
	}
	var rr registerRequest
	to := req.To()
	if to == nil || to.Address.User == "" {
		return bad("To", "has no user (the extension to register)")
	}
	rr.Ext = to.Address.User
	rr.Expires = maxExpiry
	if h := req.GetHeader("Expires"); h != nil {
		d, ok := parseExpires(h.Value())
		if !ok {
			return bad("Expires", "%q is not a number of seconds", h.Value())
		}
		rr.Expires = d
	}
	contact := req.Contact()
	if contact == nil {
		// RFC 3261 §10.2.3 would make this a query of the bindings; no
		// phone of the lab asks that, so it is refused as incomplete.
		return bad("Contact", "is missing")
	}
	if v, ok := contact.Params.Get("expires"); ok {
		d, ok := parseExpires(v)
		if !ok {
			return bad("Contact", "expires=%q is not a number of seconds", v)
		}
		rr.Expires = d
	}
	if rr.Expires > maxExpiry {
		rr.Expires = maxExpiry
	}
	if contact.Address.Wildcard {
		if rr.Expires != 0 {
			return bad("Contact", "* is allowed only with Expires: 0")
		}
		rr.Wildcard = true
		return rr, nil
	}
	addr, err := netip.ParseAddr(contact.Address.Host)
	if err != nil || !addr.Is4() {
		return bad("Contact", "host %q is not an IPv4 address", contact.Address.Host)
	}
	port := contact.Address.Port
	if port == 0 {
		port = 5060
	}
	if port < 0 || port > 65535 {
		return bad("Contact", "port %d is out of range", port)
	}
	rr.Contact = netip.AddrPortFrom(addr, uint16(port))
	if h := req.GetHeader("User-Agent"); h != nil {
		rr.Model = modelFromUserAgent(h.Value())
	}
	rr.RecordingPort = recordingPort(rr.Model, port)
	return rr, nil
}

// recordingPort is where a phone of model takes recording INVITEs (spec
// §3.2): 7300 on the 442x/743x/744x, else its signalling port.
func recordingPort(name string, port int) int {
	if m, err := model.Lookup(name); err == nil {
		if fixed, ok := m.FixedRecordingPort(); ok {
			return fixed
		}
	}
	return port
}
