package phones

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// The phone's SIP handlers: what arrives on its stacks goes to the call,
// the recording session or the registration.

// stackRole says which requests a SIP stack takes.
type stackRole struct {
	calls     bool // the PBX-side stack: calls, NOTIFY
	recording bool // takes the recorder's INVITE, ACK, UPDATE, BYE
}

func (p *Phone) serve(s *sipgo.Server, pw *powerCycle, role stackRole) {
	handle := func(f func(*powerCycle, stackRole, *sip.Request, sip.ServerTransaction, netip.AddrPort)) sipgo.RequestHandler {
		return func(req *sip.Request, tx sip.ServerTransaction) {
			if !pw.wait() {
				return
			}
			src := sourceOf(req.Source())
			if req.CallID() == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil {
				p.problem(src, "%s without Call-ID, From, To or CSeq", req.Method)
				if !req.IsAck() {
					respond(tx, req, 400, "Bad Request")
				}
				return
			}
			f(pw, role, req, tx, src)
		}
	}
	s.OnInvite(handle(p.onInvite))
	s.OnAck(handle(p.onAck))
	s.OnBye(handle(p.onBye))
	s.OnUpdate(handle(p.onUpdate))
	s.OnCancel(handle(func(_ *powerCycle, _ stackRole, req *sip.Request, tx sip.ServerTransaction, _ netip.AddrPort) {
		// A CANCEL matching a pending INVITE is handled by sipgo's
		// transaction layer; this one matches nothing (RFC 3261 §9.2).
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}))
	s.OnOptions(handle(func(_ *powerCycle, _ stackRole, req *sip.Request, tx sip.ServerTransaction, _ netip.AddrPort) {
		respond(tx, req, 200, "OK")
	}))
	if role.calls {
		s.OnNotify(handle(p.onNotify))
	}
}

func (p *Phone) onInvite(pw *powerCycle, role stackRole, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	// Calls come from the PBX (docs/wire.md). On the 6700/6800/6900 one
	// stack takes both, so anything else is a recording INVITE there (and
	// subject to the allowed list); the PBX-side stack of a 442x/743x/744x
	// refuses it and names the port the recorder should have used.
	fromPBX := src.Addr() == p.opts.PBX.Addr()
	switch {
	case role.calls && fromPBX:
		if hasToTag(req) {
			respond(tx, req, 488, "Not Acceptable Here") // no re-INVITE for calls in the lab
			return
		}
		p.incomingCall(pw, req, tx, src)
	case role.recording:
		p.recRequest(pw, RecInvite, req, tx, src)
	default:
		p.node.Note("refused INVITE from %s on the SIP port: calls come from the PBX, recording goes to %s", src, p.RecordingAddr())
		respond(tx, req, 403, "Forbidden")
	}
}

func (p *Phone) onAck(pw *powerCycle, role stackRole, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	if role.calls {
		if err := pw.dlgSrv.ReadAck(req, tx); err == nil || !errors.Is(err, sipgo.ErrDialogDoesNotExists) {
			return
		}
	}
	if role.recording {
		p.recRequest(pw, RecAck, req, tx, src)
	}
}

func (p *Phone) onBye(pw *powerCycle, role stackRole, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	if role.calls {
		if d, server := callDialog(pw, req); d != nil {
			if !p.admitInCall(d, server, req, tx, src) {
				return
			}
			var err error
			if server {
				err = pw.dlgSrv.ReadBye(req, tx)
			} else {
				err = pw.dlgCli.ReadBye(req, tx)
			}
			if err != nil {
				p.problem(src, "BYE: %v", err)
				respond(tx, req, 400, "Bad Request")
				return
			}
			p.callStep(CallEvent{Kind: CallRemoteBye, CallID: req.CallID().Value()}, src)
			return
		}
	}
	p.recRequestOr481(pw, role, RecBye, req, tx, src)
}

func (p *Phone) onUpdate(pw *powerCycle, role stackRole, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	if role.calls {
		if d, server := callDialog(pw, req); d != nil {
			if p.admitInCall(d, server, req, tx, src) {
				respond(tx, req, 200, "OK") // nothing to change: the lab's calls keep their media
			}
			return
		}
	}
	p.recRequestOr481(pw, role, RecUpdate, req, tx, src)
}

// callDialog is the call dialog an in-dialog request names by Call-ID and
// both tags (RFC 3261 §12.2.2), nil if none; server is true when the phone
// answered the call's INVITE.
func callDialog(pw *powerCycle, req *sip.Request) (d *sipgo.Dialog, server bool) {
	if s, err := pw.dlgSrv.MatchDialogRequest(req); err == nil {
		return &s.Dialog, true
	}
	if c, err := pw.dlgCli.MatchRequestDialog(req); err == nil {
		return &c.Dialog, false
	}
	return nil, false
}

// admitInCall checks an in-dialog request of a call beyond its tags: calls
// come from the PBX's SIP address and port only (docs/wire.md), so another
// source gets 403 (issue 11 item 3: a Call-ID and tags are no secret on
// the lab's network); a CSeq below the last one the PBX sent is out of
// order and gets 500 (RFC 3261 §12.2.2). A refused request changes nothing.
// The CSeq is checked where the phone answered the INVITE (server): the
// PBX's sequence starts at that INVITE's. Where the phone sent it, the
// PBX's sequence is empty until its first request (§12.1.2), and sipgo
// seeds it with the phone's own INVITE's number, which is no bound.
func (p *Phone) admitInCall(d *sipgo.Dialog, server bool, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) bool {
	if src != p.opts.PBX {
		p.problem(src, "%s in call %s refused: calls come from the PBX at %s", req.Method, req.CallID().Value(), p.opts.PBX)
		respond(tx, req, 403, "Forbidden")
		return false
	}
	if !server {
		return true
	}
	if err := d.ReadRequest(req, tx); err != nil {
		p.problem(src, "%s in call %s refused: CSeq %d is below the dialog's (RFC 3261 §12.2.2)", req.Method, req.CallID().Value(), req.CSeq().SeqNo)
		respond(tx, req, 500, "Server Internal Error")
		return false
	}
	return true
}

// recRequestOr481 hands an in-dialog request that matched no call to the
// recording session on a stack that takes recording; elsewhere there is no
// such dialog (RFC 3261 §12.2.2).
func (p *Phone) recRequestOr481(pw *powerCycle, role stackRole, kind RecEventKind, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	if role.recording {
		p.recRequest(pw, kind, req, tx, src)
		return
	}
	respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

// onNotify takes the PBX's forced log-off (docs/wire.md, spec §3.2.3):
// NOTIFY Event: reg with the subscription or the contact terminated.
func (p *Phone) onNotify(pw *powerCycle, _ stackRole, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	if src != p.opts.PBX {
		// Only the PBX's own SIP address and port may log the phone off or
		// order an update (spec §3.2.3, §3.2.5).
		p.node.Note("refused NOTIFY from %s: not the PBX at %s", src, p.opts.PBX)
		respond(tx, req, 403, "Forbidden")
		return
	}
	event := ""
	if h := req.GetHeader("Event"); h != nil {
		event, _, _ = strings.Cut(h.Value(), ";")
		event = strings.ToLower(strings.TrimSpace(event))
	}
	if event == "check-sync" {
		// Spec §3.2.5: the PBX orders the phone to unregister and read its
		// configuration (docs/wire.md).
		respond(tx, req, 200, "OK")
		go p.checkSync(pw)
		return
	}
	if event != "reg" {
		respond(tx, req, 489, "Bad Event")
		return
	}
	subState, reason := "", "deactivated"
	if h := req.GetHeader("Subscription-State"); h != nil {
		v := strings.ToLower(h.Value())
		subState, _, _ = strings.Cut(v, ";")
		subState = strings.TrimSpace(subState)
		if _, r, ok := strings.Cut(v, "reason="); ok {
			reason, _, _ = strings.Cut(r, ";")
			reason = strings.TrimSpace(reason)
		}
	}
	// RFC 3680: the body says which registration or contact ended; only
	// the phone's own are its business.
	terminated := subState == "terminated"
	if body := req.Body(); len(body) > 0 {
		off, err := regInfoLogsOff(body, p.Ext(), p.SIPAddr())
		if err != nil {
			p.problem(src, "NOTIFY reg: %v", err)
			respond(tx, req, 400, "Bad Request")
			return
		}
		terminated = terminated || off
	}
	respond(tx, req, 200, "OK")
	if terminated {
		p.loseRegistration(pw, fmt.Sprintf("forced log-off by the PBX (%s) (spec §3.2.3)", reason))
	}
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	tag, ok := to.Params.Get("tag")
	return ok && tag != ""
}

// sourceOf parses sipgo's "ip:port" source; invalid on garbage.
func sourceOf(s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
