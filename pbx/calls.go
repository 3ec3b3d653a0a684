package pbx

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/pbx/csta"
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
}

func (p *PBX) newCallID() string {
	p.nextCall++
	return csta.FormatCallID(p.nextCall)
}

func (p *PBX) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	src := srcOf(req)
	if to := req.To(); to != nil && to.Params.Has("tag") {
		// The phones do not re-INVITE the PBX; say so instead of guessing.
		p.respond(req, tx, 501, "Not Implemented: re-INVITE")
		return
	}
	from := req.From()
	if from == nil || from.Address.User == "" {
		p.respond(req, tx, 400, "Bad Request: From has no user")
		return
	}
	caller, callee := from.Address.User, req.Recipient.User
	p.mu.Lock()
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
	a, err := p.dlgSrv.ReadInvite(req, tx)
	if err != nil {
		p.node.Network().Errorf(p.node.Name(), src, "INVITE %s → %s: %v", caller, callee, err)
		p.respond(req, tx, 400, "Bad Request")
		return
	}
	p.mu.Lock()
	c := &call{id: p.newCallID(), from: caller, to: callee, a: a, aID: a.InviteRequest.CallID().Value()}
	p.calls[c.aID] = c
	p.mu.Unlock()
	p.node.Note("call %s: %s → %s", c.id, caller, callee)
	p.csta.callEvent(c, evServiceInitiated)
	p.csta.callEvent(c, evOriginated)

	// B-leg: INVITE to the called phone's contact, the caller's SDP unchanged.
	uri := sip.Uri{User: callee, Host: calleeReg.Contact.Addr().String(), Port: int(calleeReg.Contact.Port())}
	breq := sip.NewRequest(sip.INVITE, uri)
	host := p.sip.Addr.Addr().String()
	breq.AppendHeader(&sip.FromHeader{DisplayName: caller, Address: sip.Uri{User: caller, Host: host}, Params: tagParams()})
	breq.AppendHeader(&sip.ToHeader{Address: sip.Uri{User: callee, Host: host}})
	breq.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	breq.SetBody(req.Body())
	ctx, cancel := context.WithCancel(p.ctx)
	b, err := p.dlgCli.WriteInvite(ctx, breq)
	if err != nil {
		cancel()
		p.node.Network().Errorf(p.node.Name(), calleeReg.Contact, "INVITE to %s: %v", callee, err)
		a.Respond(503, "Service Unavailable", nil)
		p.clear(c, csta.CauseDestNotObtainable)
		return
	}
	p.mu.Lock()
	c.b = b
	c.bID = breq.CallID().Value()
	p.calls[c.bID] = c
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
				p.csta.callEvent(c, evDelivered)
			}
		}
		return nil
	}})
	if err != nil {
		code, reason := 480, "Temporarily Unavailable"
		var rerr *sipgo.ErrDialogResponse
		if errors.As(err, &rerr) {
			code, reason = rerr.Res.StatusCode, rerr.Res.Reason
		}
		if a.Context().Err() == nil {
			a.Respond(code, reason, nil)
		}
		p.node.Note("call %s: %s did not answer: %d %s (%v)", c.id, callee, code, reason, err)
		p.clear(c, csta.CauseCallCancelled)
		return
	}
	if err := b.Ack(ctx); err != nil {
		p.node.Network().Errorf(p.node.Name(), calleeReg.Contact, "ACK to %s: %v", callee, err)
	}
	if err := a.RespondSDP(b.InviteResponse.Body()); err != nil {
		p.node.Network().Errorf(p.node.Name(), src, "200 OK to %s: %v", caller, err)
		p.hangup(c, "", csta.CauseNormalClearing)
		return
	}
	p.mu.Lock()
	c.answered = true
	p.mu.Unlock()
	p.node.Note("call %s: %s answered", c.id, callee)
	p.csta.callEvent(c, evEstablished)

}

func (p *PBX) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if err := p.dlgSrv.ReadAck(req, tx); err != nil && !errors.Is(err, sipgo.ErrDialogDoesNotExists) {
		p.node.Network().Errorf(p.node.Name(), srcOf(req), "ACK: %v", err)
	}
}

func (p *PBX) onBye(req *sip.Request, tx sip.ServerTransaction) {
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
		err = p.dlgSrv.ReadBye(req, tx)
	} else {
		err = p.dlgCli.ReadBye(req, tx)
	}
	if err != nil {
		p.node.Network().Errorf(p.node.Name(), srcOf(req), "BYE: %v", err)
		p.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	p.hangup(c, id, csta.CauseNormalClearing)
}

// hangup ends c; byeFrom is the Call-ID of the leg that sent BYE ("" when
// the PBX itself ends the call): the other leg gets a BYE.
func (p *PBX) hangup(c *call, byeFrom, cause string) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if byeFrom != c.aID && c.a != nil {
		if err := c.a.Bye(ctx); err != nil {
			p.node.Network().Errorf(p.node.Name(), netip.AddrPort{}, "BYE to %s: %v", c.from, err)
		}
	}
	if byeFrom != c.bID && c.b != nil {
		if err := c.b.Bye(ctx); err != nil {
			p.node.Network().Errorf(p.node.Name(), netip.AddrPort{}, "BYE to %s: %v", c.to, err)
		}
	}
	p.node.Note("call %s: cleared (%s)", c.id, describeBye(c, byeFrom))
	p.clear(c, cause)
}

func describeBye(c *call, byeFrom string) string {
	switch byeFrom {
	case c.aID:
		return c.from + " hung up"
	case c.bID:
		return c.to + " hung up"
	}
	return "by the PBX"
}

// clear forgets c and sends ConnectionCleared once.
func (p *PBX) clear(c *call, cause string) {
	p.mu.Lock()
	if c.cleared {
		p.mu.Unlock()
		return
	}
	c.cleared = true
	delete(p.calls, c.aID)
	delete(p.calls, c.bID)
	p.mu.Unlock()
	p.csta.callEvent(c, evCleared, cause)
}

// Calls returns a short description of each call in progress.
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
	return out
}
