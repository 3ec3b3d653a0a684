package pbx

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
)

// call is one B2BUA call: the A-leg (the caller's INVITE to the PBX) and
// the B-leg (the PBX's INVITE to the called phone). SDP passes through
// unchanged, so media flows phone to phone.
type call struct {
	id       string // 24-digit CSTA callID
	from, to string // calling and called extension
	a        *sipgo.DialogServerSession
	b        *sipgo.DialogClientSession
	aID, bID string // SIP Call-IDs
	answered bool
	cleared  bool

	// cancelled is set when the caller's CANCEL ended the A-leg's INVITE
	// transaction (487 went out), possibly after the B-leg answered.
	cancelled atomic.Bool
	// relayed is closed once the A-leg's INVITE is settled: B's 200 OK
	// relayed and acknowledged (or given up on), or the call failed before.
	// A BYE to the caller waits for it (RFC 3261 §15: no BYE before the
	// 2xx's ACK), so a callee that hangs up at once cannot overtake the
	// 200 OK on its way to the caller.
	relayed chan struct{}
}

func (p *PBX) newCallID() string {
	p.nextCall++
	return csta.FormatCallID(p.nextCall)
}

func (p *PBX) onInvite(r *run, req *sip.Request, tx sip.ServerTransaction) {
	src := srcOf(req)
	if to := req.To(); to != nil && to.Params.Has("tag") {
		// The phones do not re-INVITE the PBX; say so instead of guessing.
		p.respond(req, tx, 501, "Not Implemented: re-INVITE")
		return
	}
	from := req.From()
	if from == nil || from.Address.User == "" {
		p.reject(req, tx, 400, "Bad Request", &badRequest{method: "INVITE", header: "From", problem: "has no user (the calling extension)"})
		return
	}
	caller, callee := from.Address.User, req.Recipient.User
	p.mu.Lock()
	if !p.live(r) {
		p.mu.Unlock()
		return
	}
	callerReg, callerOK := p.reg.Lookup(caller)
	calleeReg, calleeOK := p.reg.Lookup(callee)
	known := p.reg.Known(callee)
	p.mu.Unlock()
	switch {
	case !callerOK || callerReg.Contact.Addr() != src.Addr():
		p.node.Note("INVITE from %s at %s refused: not registered there", caller, src)
		p.respond(req, tx, 403, "Forbidden: not registered")
		return
	case !known:
		p.node.Note("call %s → %s: no such number", caller, callee)
		p.respond(req, tx, 404, "Not Found")
		return
	case !calleeOK:
		p.node.Note("call %s → %s: %s is not registered", caller, callee, callee)
		p.respond(req, tx, 480, "Temporarily Unavailable")
		return
	}
	// RFC 3261 §17.2.1: the B-leg's answer takes a round trip to the
	// callee, so the A-leg gets 100 Trying now, whatever the callee's
	// distance; left to sipgo's 200 ms timer it would come or not with the
	// network's latency and the machine's load.
	if err := tx.Respond(sip.NewResponseFromRequest(req, sip.StatusTrying, "Trying", nil)); err != nil {
		p.node.Network().Errorf(p.node.Name(), src, "100 Trying to %s: %v", caller, err)
	}
	a, err := r.dlgSrv.ReadInvite(req, tx)
	if err != nil {
		p.reject(req, tx, 400, "Bad Request", fmt.Errorf("pbx: INVITE %s → %s: %w", caller, callee, err))
		return
	}
	p.mu.Lock()
	if !p.live(r) {
		p.mu.Unlock()
		return
	}
	c := &call{id: p.newCallID(), from: caller, to: callee, a: a, aID: a.InviteRequest.CallID().Value(), relayed: make(chan struct{})}
	p.calls[c.aID] = c
	p.mu.Unlock()
	settled := sync.OnceFunc(func() { close(c.relayed) })
	defer settled()
	// sipgo calls this only while the transaction is still proceeding, i.e.
	// when the CANCEL took effect and 487 went out (RFC 3261 §9.2); a CANCEL
	// after our 200 OK changes nothing and the caller must BYE instead. It
	// refuses a transaction already cancelled (or ended): no 200 OK can go.
	if !tx.OnCancel(func(*sip.Request) { c.cancelled.Store(true) }) {
		c.cancelled.Store(true)
	}
	p.node.Note("call %s: %s → %s", c.id, caller, callee)
	r.csta.callEvent(c, evServiceInitiated, "", "")
	r.csta.callEvent(c, evOriginated, "", "")

	// B-leg: INVITE to the called phone's contact, the caller's SDP unchanged.
	breq := sip.NewRequest(sip.INVITE, contactURI(calleeReg))
	host := r.sip.Addr.Addr().String()
	breq.AppendHeader(&sip.FromHeader{DisplayName: caller, Address: sip.Uri{User: caller, Host: host}, Params: tagParams()})
	breq.AppendHeader(&sip.ToHeader{Address: sip.Uri{User: callee, Host: host}})
	breq.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	breq.SetBody(req.Body())
	ctx, cancel := context.WithCancel(r.ctx)
	b, err := r.dlgCli.WriteInvite(ctx, breq)
	if err != nil {
		cancel()
		p.node.Network().Errorf(p.node.Name(), calleeReg.Contact, "INVITE to %s: %v", callee, err)
		a.Respond(503, "Service Unavailable", nil)
		p.clear(r, c, csta.CauseDestNotObtainable, "")
		return
	}
	p.mu.Lock()
	c.b = b
	c.bID = breq.CallID().Value()
	if p.live(r) {
		p.calls[c.bID] = c
	}
	p.mu.Unlock()

	// sipgo ends a server transaction when its handler returns, so the
	// A-leg's handler waits here until the B-leg has a final answer.
	defer cancel()
	// The caller may CANCEL: sipgo answers 487 and ends the A-leg's
	// context; cancelling ours makes WaitAnswer send CANCEL on the B-leg.
	go func() {
		select {
		case <-a.Context().Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	delivered := false
	err = b.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.StatusCode == 180 || res.StatusCode == 183 {
			if err := a.Respond(180, "Ringing", nil); err != nil {
				p.node.Network().Errorf(p.node.Name(), src, "180 Ringing to %s: %v", caller, err)
				return err
			}
			if !delivered {
				delivered = true
				r.csta.callEvent(c, evDelivered, "", "")
			}
		}
		return nil
	}})
	if err != nil {
		if r.ctx.Err() != nil {
			return // the PBX stopped: calls are forgotten, nobody is told
		}
		if a.Context().Err() != nil {
			// The caller sent CANCEL: sipgo answered it 487, and cancelling
			// ctx made WaitAnswer send CANCEL on the B-leg.
			p.node.Note("call %s: %s cancelled before %s answered", c.id, caller, callee)
			p.clear(r, c, csta.CauseCallCancelled, caller)
			return
		}
		code, reason := 480, "Temporarily Unavailable"
		var rerr *sipgo.ErrDialogResponse
		if errors.As(err, &rerr) {
			code, reason = rerr.Res.StatusCode, rerr.Res.Reason
		}
		a.Respond(code, reason, nil)
		p.node.Note("call %s: %s did not answer: %d %s (%v)", c.id, callee, code, reason, err)
		p.clear(r, c, causeOfRefusal(code), callee)
		return
	}
	// Established goes out before the 200 OK is relayed, so no BYE of the
	// caller's can overtake it (the monitors see the steps in order).
	p.mu.Lock()
	c.answered = true
	beforeRelay := p.beforeRelay
	p.mu.Unlock()
	p.node.Note("call %s: %s answered", c.id, callee)
	r.csta.callEvent(c, evEstablished, "", "")
	if err := b.Ack(ctx); err != nil {
		p.node.Network().Errorf(p.node.Name(), calleeReg.Contact, "ACK to %s: %v", callee, err)
	}
	if beforeRelay != nil {
		beforeRelay()
	}
	if !c.cancelled.Load() {
		// RespondSDP returns once the caller's ACK came (RFC 3261 §13.3.1.4).
		err = a.RespondSDP(b.InviteResponse.Body())
		settled()
		if err == nil {
			return
		}
	}
	switch {
	case r.ctx.Err() != nil:
		return // the PBX stopped
	case c.cancelled.Load():
		// The caller's CANCEL crossed B's 200 OK and took effect first (the
		// caller has its 487; sipgo does not end the dialog when that
		// happens as the 200 OK is being sent): B's leg is up and gets a BYE.
		p.node.Note("call %s: %s cancelled as %s answered", c.id, caller, callee)
		p.hangup(r, c, c.aID, csta.CauseCallCancelled)
	case a.Context().Err() != nil:
		// The dialog ended: the caller's BYE came before (or instead of)
		// its ACK and onBye ends the call. The dialog's context, not its
		// state, says so: an ACK handled just after the BYE sets the state
		// back to confirmed.
	default:
		// No ACK for the 200 OK (RFC 3261 §13.3.1.4: the session SHOULD be
		// ended with a BYE) or the 200 OK could not be sent.
		p.node.Network().Errorf(p.node.Name(), src, "200 OK to %s: %v", caller, err)
		p.hangup(r, c, "", csta.CauseNormalClearing)
	}
}

// causeOfRefusal is the ECMA-323 cause of a call the called phone refused
// with a final SIP status.
func causeOfRefusal(code int) string {
	switch code {
	case 486, 600:
		return csta.CauseBusy
	case 408, 480:
		return csta.CauseCallNotAnswered
	case 487:
		return csta.CauseCallCancelled
	}
	return csta.CauseDestNotObtainable
}

func (p *PBX) onAck(r *run, req *sip.Request, tx sip.ServerTransaction) {
	if err := r.dlgSrv.ReadAck(req, tx); err != nil && !errors.Is(err, sipgo.ErrDialogDoesNotExists) {
		p.node.Network().Errorf(p.node.Name(), srcOf(req), "ACK: %v", err)
	}
}

func (p *PBX) onBye(r *run, req *sip.Request, tx sip.ServerTransaction) {
	id := ""
	if h := req.CallID(); h != nil {
		id = h.Value()
	}
	p.mu.Lock()
	c := p.calls[id]
	p.mu.Unlock()
	if c == nil {
		p.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	var err error
	if id == c.aID {
		err = r.dlgSrv.ReadBye(req, tx)
	} else {
		err = r.dlgCli.ReadBye(req, tx)
	}
	if err != nil {
		p.reject(req, tx, 481, "Call/Transaction Does Not Exist", fmt.Errorf("pbx: BYE for call %s: %w", c.id, err))
		return
	}
	p.hangup(r, c, id, csta.CauseNormalClearing)
}

// hangup ends c; byeFrom is the Call-ID of the leg that sent BYE ("" when
// the PBX itself ends the call): the other leg gets a BYE.
func (p *PBX) hangup(r *run, c *call, byeFrom, cause string) {
	if !p.forget(r, c) {
		return // already ended by the other side or the PBX
	}
	ctx, cancel := sim.WithTimeout(r.ctx, p.node.Clock(), requestTimeout)
	defer cancel()
	if byeFrom != c.aID && c.a != nil && p.aLegUp(r, c) {
		if err := c.a.Bye(ctx); err != nil {
			p.node.Network().Errorf(p.node.Name(), netip.AddrPort{}, "BYE to %s: %v", c.from, err)
		}
	}
	if byeFrom != c.bID && c.b != nil {
		if err := c.b.Bye(ctx); err != nil {
			p.node.Network().Errorf(p.node.Name(), netip.AddrPort{}, "BYE to %s: %v", c.to, err)
		}
	}
	releasing := c.releasing(byeFrom)
	who := "the PBX"
	if releasing != "" {
		who = releasing
	}
	p.node.Note("call %s: cleared by %s", c.id, who)
	r.csta.callEvent(c, evCleared, cause, releasing)
}

// aLegUp waits until c's A-leg INVITE is settled and reports whether the
// caller's dialog is up, so that a BYE to the caller is neither sent before
// the 200 OK nor into a dialog that a CANCEL or the caller's BYE ended.
func (p *PBX) aLegUp(r *run, c *call) bool {
	select {
	case <-c.relayed:
	case <-r.ctx.Done():
		return false
	}
	return !c.cancelled.Load() && c.a.Context().Err() == nil
}

// releasing is the extension whose leg sent BYE, "" for the PBX.
func (c *call) releasing(byeFrom string) string {
	switch byeFrom {
	case c.aID:
		return c.from
	case c.bID:
		return c.to
	}
	return ""
}

// clear forgets c and sends ConnectionCleared once, naming releasing (the
// party that hung up, "" when the PBX ended the call) as releasingDevice.
func (p *PBX) clear(r *run, c *call, cause, releasing string) {
	if p.forget(r, c) {
		r.csta.callEvent(c, evCleared, cause, releasing)
	}
}

// forget takes c out of the call table; only the first caller gets true,
// so a call is ended (BYEs, ConnectionCleared) once.
func (p *PBX) forget(r *run, c *call) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.cleared {
		return false
	}
	c.cleared = true
	if p.live(r) {
		delete(p.calls, c.aID)
		delete(p.calls, c.bID)
	}
	return true
}

// Calls describes each call in progress, one line each ("<callID>
// 1001→1002 ringing|talking"), ordered by callID.
func (p *PBX) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for id, c := range p.calls {
		if id != c.aID {
			continue
		}
		state := "ringing"
		if c.answered {
			state = "talking"
		}
		out = append(out, fmt.Sprintf("%s %s→%s %s", c.id, c.from, c.to, state))
	}
	sort.Strings(out)
	return out
}
