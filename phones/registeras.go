package phones

import (
	"context"
	"fmt"
	"strings"
)

// RegisterAs is a user logging in on this phone (B) with the extension of
// another phone (A), as when someone sits at another desk: B logs its own
// extension off (BYE to the recorder if a session is up, spec §3.2), takes
// ext as its user — a change of `sip line1 user name`, which is a major
// change, so the phone restarts as on an update order (MajorChanges) — and
// registers ext from its own address. The PBX then logs A off with the
// NOTIFY of docs/wire.md (spec §3.2.3: A sends BYE to the recorder), tells
// the recorder over CSTA that ext is at B's address, and the next recording
// INVITE for ext comes to B, which answers it as ext.
//
// B must be a SIP phone (6xxx) to take a live extension: its REGISTER
// proves ext's password. A DBC phone registers over RAS, which carries no
// credentials in the lab, so the gatekeeper refuses an extension live at
// another endpoint (RRJ duplicateAlias, docs/wire.md) and RegisterAs
// returns that refusal.
//
// The phone must be powered and not on a call. The configuration file on
// disk is not rewritten: an update order later reads it again.
func (p *Phone) RegisterAs(ctx context.Context, ext, password string) error {
	if ext == "" || strings.Trim(ext, "0123456789") != "" {
		return p.errorf("register as: bad extension %q: want digits, e.g. 1001", ext)
	}
	pw, err := p.powered()
	if err != nil {
		return err
	}
	if !p.beginUpdate() {
		return p.errorf("register as %s: an update order is running; try again when it is done", ext)
	}
	defer p.endUpdate()
	var cur string
	var registered, busy bool
	var next Config
	p.do(func() {
		cur, registered, busy = p.ext, p.reg.Registered(), p.call.State() != CallIdle
		next, err = ownConfig(&p.cfg, p.model, p.opts.PBX)
	})
	switch {
	case err != nil:
		return err
	case ext == cur:
		return p.errorf("register as %s: that is already this phone's extension", ext)
	case busy:
		return p.errorf("register as %s: the phone is on a call; hang up first", ext)
	}
	// The user logs in: the extension and its credentials, which the PBX
	// checks (RFC 3261 §22).
	next.User, next.AuthName, next.Password = ext, ext, password
	if err := next.Validate(p.model); err != nil {
		return p.errorf("register as %s: %w", ext, err)
	}
	p.node.Note("a user logs in with extension %s in place of %s (spec §3.2.3)", ext, cur)
	if registered {
		if err := p.Unregister(ctx); err != nil {
			return err
		}
	}
	if now, _ := p.powered(); now != pw {
		return p.errorf("register as %s: powered off meanwhile", ext)
	}
	if err := p.restartWith(&next, fmt.Sprintf("%s %s → %s", cfgUser, cur, ext)); err != nil {
		return p.errorf("register as %s: %w", ext, err)
	}
	return p.Register(ctx)
}
