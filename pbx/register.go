package pbx

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
)

// onRegister is the registrar's driver: parseRegister reads the request on
// sipgo's goroutine, and the loop decides (auth, Registrar), answers (a
// datagram, never a wait) and tells CSTA (docs/wire.md "Registration").
func (p *PBX) onRegister(r *run, req *sip.Request, tx sip.ServerTransaction) {
	rr, err := parseRegister(req, p.cfg.MaxExpiry)
	if err != nil {
		p.reject(req, tx, 400, "Bad Request", err)
		return
	}
	// sipgo ends the transaction when the handler returns: wait for the
	// answer. A stopping PBX answers nothing: a restarted server never saw
	// this REGISTER.
	r.do(func() { p.register(r, req, tx, rr) })
}

// register applies one REGISTER; on the loop.
func (p *PBX) register(r *run, req *sip.Request, tx sip.ServerTransaction, rr registerRequest) {
	src := srcOf(req)
	if p.auth != nil && !p.authorize(req, tx, rr, src) {
		return
	}
	if rr.Wildcard {
		// Contact: * removes the binding, if it is the sender's.
		rr.Contact = src
		if b, ok := p.reg.Lookup(rr.Ext); ok && b.Contact.Addr() == src.Addr() {
			rr.Contact = b.Contact
		}
	}
	reg := Registration{Ext: rr.Ext, Contact: rr.Contact, Model: rr.Model, RecordingPort: rr.RecordingPort,
		Expires: p.node.Network().Now() + rr.Expires}
	if h := req.CallID(); h != nil {
		reg.CallID = h.Value()
	}
	known := p.reg.Known(rr.Ext)
	out, prev := p.reg.Register(reg, rr.Expires)

	secs := strconv.Itoa(int(rr.Expires / time.Second))
	switch out {
	case RegRefused:
		if !known {
			p.node.Note("REGISTER %s from %s refused: not in the directory", rr.Ext, src)
			p.respond(req, tx, 404, "Not Found")
			return
		}
		// spec §3.2.3, docs/wire.md: the phone that was logged off may not
		// take the number back by refreshing.
		p.node.Note("REGISTER %s from %s refused: logged off by another registration", rr.Ext, rr.Contact)
		p.respond(req, tx, 403, "Forbidden: logged off by another registration")
		return
	case RegNotFound:
		p.respond(req, tx, 200, "OK")
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Expires", secs))
	if out != RegRemoved {
		// RFC 3261 §10.3 step 8: the 200 lists the binding with its expiry.
		c := &sip.ContactHeader{Address: sip.Uri{User: rr.Ext, Host: rr.Contact.Addr().String(), Port: int(rr.Contact.Port())}}
		c.Params = sip.NewParams()
		c.Params.Add("expires", secs)
		res.AppendHeader(c)
	}
	p.send(req, tx, res)
	switch out {
	case RegNew:
		p.node.Note("%s registered from %s (model %s, recording port %d, %ss)", rr.Ext, rr.Contact, rr.Model, rr.RecordingPort, secs)
		r.csta.backInService(reg, out.String())
	case RegRestarted:
		p.node.Note("%s registered again from %s after a restart (new Call-ID)", rr.Ext, rr.Contact)
		r.csta.backInService(reg, out.String())
	case RegRefresh:
		if prev.Contact != reg.Contact || prev.Model != reg.Model || prev.RecordingPort != reg.RecordingPort {
			// The same phone with a new port or model (a 6700 after a
			// configuration update, spec §3.2.5): the recorder must know.
			p.node.Note("%s re-registered from %s (was %s) as model %s, recording port %d", rr.Ext, rr.Contact, prev.Contact, rr.Model, rr.RecordingPort)
			r.csta.backInService(reg, out.String())
		}
	case RegMoved:
		// spec §3.2.3: the first phone is logged off; CSTA tells the recorder
		// the extension now has phone B's address.
		p.node.Note("%s moved from %s to %s: logging %s off", rr.Ext, prev.Contact, rr.Contact, prev.Contact)
		r.csta.outOfService(prev, out.String())
		r.csta.backInService(reg, out.String())
		p.logOff(r, prev) // a NOTIFY, or a URQ to a RAS phone (gatekeeper.go)
	case RegRemoved:
		p.node.Note("%s unregistered from %s", rr.Ext, rr.Contact)
		r.csta.outOfService(prev, out.String())
	}
}

// notifyLogOff tells a phone its registration was taken over (docs/wire.md
// "Registration": an unsolicited RFC 3680 reg-event NOTIFY).
func (p *PBX) notifyLogOff(r *run, old Registration) {
	aor := sip.Uri{User: old.Ext, Host: r.sip.Addr.Addr().String()}
	contact := contactURI(old)
	body := fmt.Sprintf(`<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="partial">
  <registration aor="%s" id="%s" state="terminated">
    <contact id="%s" state="terminated" event="deactivated"><uri>%s</uri></contact>
  </registration>
</reginfo>
`, aor.String(), old.Ext, old.Ext, contact.String())
	res, err := p.notify(r, old, "reg", "terminated;reason=deactivated", "application/reginfo+xml", []byte(body))
	if err != nil {
		p.node.Network().Errorf(p.node.Name(), old.Contact, "NOTIFY log-off to %s: %v", old.Ext, err)
		return
	}
	if res.StatusCode != 200 {
		p.node.Note("NOTIFY log-off to %s at %s answered %d %s", old.Ext, old.Contact, res.StatusCode, res.Reason)
	}
}

// authorize is the registrar's security (issue: nobody takes an
// extension): the REGISTER must carry the extension's own digest
// credentials (RFC 3261 §22.4; every REGISTER is challenged, a known
// extension or not, so the answers tell an attacker nothing about the
// directory), and it binds only the address it came from: a Contact that
// is not the source would file a third party's audio under this extension.
// It answers what it refuses; true lets the REGISTER on.
func (p *PBX) authorize(req *sip.Request, tx sip.ServerTransaction, rr registerRequest, src netip.AddrPort) bool {
	now := p.node.Network().Now()
	var header string
	if h := req.GetHeader("Authorization"); h != nil {
		header = h.Value()
	}
	verdict, why := p.auth.check(now, string(req.Method), header, rr.Ext, p.cfg.Passwords[rr.Ext])
	switch verdict {
	case authOK:
	case authMissing, authStale:
		p.challenge(req, tx, now, verdict == authStale)
		return false
	default:
		p.node.Network().Errorf(p.node.Name(), src, "REGISTER %s refused: %s", rr.Ext, why)
		p.challenge(req, tx, now, false)
		return false
	}
	if !rr.Wildcard && rr.Contact != src {
		p.node.Network().Errorf(p.node.Name(), src, "REGISTER %s refused: Contact %s is not the address it came from", rr.Ext, rr.Contact)
		p.respond(req, tx, 403, "Forbidden: Contact is not the source address")
		return false
	}
	return true
}

// challenge answers 401 with a fresh nonce, one WWW-Authenticate per
// algorithm (RFC 8760 §2.4).
func (p *PBX) challenge(req *sip.Request, tx sip.ServerTransaction, now time.Duration, stale bool) {
	res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
	for _, c := range p.auth.challenges(now, stale) {
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", c))
	}
	p.send(req, tx, res)
}
