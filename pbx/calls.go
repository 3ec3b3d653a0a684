package pbx

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// The driver of the B2BUA core (b2bua.go): sipgo's handlers and the B-leg's
// answers become CallEvents, which the PBX's loop steps (loop.go); the
// core's CallActions are performed here. An action that answers the request
// an event came from (refuse, accept, read-bye, and the notes of a refusal)
// is performed by the handler that posted it, which waits for the loop's
// reply; every other action goes to its call's worker, one goroutine per
// call that performs them in the order the core gave them, so a BYE that
// waits for its answer holds up only its own call and never the loop. What
// a worker learns (the B-leg's INVITE written, the callee's answers, the
// caller's ACK) it posts back to the loop as the next event.

// callLegs is the driver's side of one call: the sipgo dialogs the core's
// actions act on, and the queue of its worker.
type callLegs struct {
	r      *run
	aID    string         // the A-leg's Call-ID: the call's key in CallEvents
	caller netip.AddrPort // where the A-leg's INVITE came from
	a      *sipgo.DialogServerSession

	// Set and used by the worker (and the B-leg's WaitAnswer it starts).
	b       *sipgo.DialogClientSession
	bctx    context.Context
	cancelB context.CancelFunc

	queue      *inbox[CallAction]
	settled    chan struct{} // closed by ActReleaseA: the A-leg's handler returns
	settleOnce sync.Once
}

// stepCall steps the call core with ev and hands each action to its call's
// worker, in the core's order; on the loop. It returns the actions the
// poster performs itself (those without a call, and ActReadBye).
func (p *PBX) stepCall(ev CallEvent) []CallAction {
	var own []CallAction
	for _, a := range p.b2b.Step(ev) {
		if a.Call == nil || a.Kind == ActReadBye {
			own = append(own, a)
			continue
		}
		a.Call.legs.queue.put(a)
	}
	return own
}

// postCall posts ev to the loop without waiting: for events whose actions
// all belong to the call's worker.
func (p *PBX) postCall(r *run, ev CallEvent) {
	r.post(func() { p.stepCall(ev) })
}

// askCall posts ev and waits for the actions the poster performs itself;
// none once the PBX stopped.
func (p *PBX) askCall(r *run, ev CallEvent) []CallAction {
	var own []CallAction
	r.do(func() { own = p.stepCall(ev) })
	return own
}

// noteOwn performs the notes among a handler's own actions.
func (p *PBX) noteOwn(a CallAction) {
	if a.Kind == ActNote {
		p.node.Note("%s", a.Text)
	}
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
	aID := ""
	if h := req.CallID(); h != nil {
		aID = h.Value()
	}
	var accept *CallAction
	for _, a := range p.askCall(r, CallEvent{Kind: CallInvite, Call: aID, Caller: caller, Callee: callee, Src: src}) {
		switch a.Kind {
		case ActRefuse:
			p.respond(req, tx, a.Code, a.Reason)
			return
		case ActAccept:
			accept = &a
		}
		p.noteOwn(a)
	}
	if accept == nil {
		return // the PBX is stopping
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
	l := &callLegs{r: r, aID: aID, caller: src, a: a, queue: newInbox[CallAction](), settled: make(chan struct{})}
	r.wg.Go(func() { p.callWorker(l) })
	p.postCall(r, CallEvent{Kind: CallOpened, Call: aID, Caller: caller, Callee: callee, Src: src, Reg: accept.Reg, Legs: l})
	// sipgo calls this only while the transaction is still proceeding, i.e.
	// when the CANCEL took effect and 487 went out (RFC 3261 §9.2). It
	// refuses a transaction already cancelled (or ended).
	cancelled := func(*sip.Request) { p.postCall(r, CallEvent{Kind: CallCancel, Call: aID}) }
	if !tx.OnCancel(cancelled) {
		cancelled(nil)
	}
	// Once settled, the A-leg's dialog ends only by a BYE, which the core hears as such.
	stopWatch := context.AfterFunc(a.Context(), func() { p.postCall(r, CallEvent{Kind: CallAGone, Call: aID}) })
	defer stopWatch()
	// sipgo ends a server transaction when its handler returns, so the
	// A-leg's handler waits here until the core settles the A-leg.
	select {
	case <-l.settled:
	case <-r.ctx.Done():
	}
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
	src := srcOf(req)
	for _, a := range p.askCall(r, CallEvent{Kind: CallBye, Dialog: id, Src: src}) {
		switch a.Kind {
		case ActRefuse:
			if a.Text != "" {
				p.node.Network().Errorf(p.node.Name(), src, "%s; answered %d", a.Text, a.Code)
			}
			p.respond(req, tx, a.Code, a.Reason)
		case ActReadBye:
			// RFC 3261 §12.2.2: sipgo's dialog checks the tags (481 if
			// they are not the leg's) and, on the A-leg, that the CSeq is
			// not below the caller's INVITE (500: out of order); the
			// caller sends nothing else in the dialog before its BYE. On
			// the B-leg the callee's sequence is empty until its first
			// request (§12.1.2), and a BYE ends it.
			var err error
			if a.Leg == LegA {
				err = r.dlgSrv.ReadBye(req, tx)
			} else {
				err = r.dlgCli.ReadBye(req, tx)
			}
			if errors.Is(err, sipgo.ErrDialogInvalidCseq) {
				p.reject(req, tx, 500, "Server Internal Error", fmt.Errorf("pbx: BYE for call %s: CSeq %d is below the caller's INVITE (RFC 3261 §12.2.2)", a.Call.id, req.CSeq().SeqNo))
				return
			}
			if err != nil {
				p.reject(req, tx, 481, "Call/Transaction Does Not Exist", fmt.Errorf("pbx: BYE for call %s: %w", a.Call.id, err))
				return
			}
			p.postCall(r, CallEvent{Kind: CallByeRead, Call: a.Call.aID, Leg: a.Leg})
		}
	}
}

// callWorker performs one call's actions in order until the call is done
// or the PBX stops.
func (p *PBX) callWorker(l *callLegs) {
	defer l.release()
	for {
		acts, ok := l.queue.wait(l.r.ctx.Done())
		if !ok {
			return // the PBX stopped: calls are forgotten, nobody is told
		}
		for _, a := range acts {
			if l.r.ctx.Err() != nil {
				return
			}
			if a.Kind == ActDone {
				return
			}
			p.perform(l, a)
		}
	}
}

// release lets the A-leg's handler return and ends the B-leg's context.
func (l *callLegs) release() {
	l.settleOnce.Do(func() {
		close(l.settled)
		if l.cancelB != nil {
			l.cancelB()
		}
	})
}

// perform does one action of the call core on l's call.
func (p *PBX) perform(l *callLegs, a CallAction) {
	r, c := l.r, a.Call
	switch a.Kind {
	case ActNote:
		p.node.Note("%s", a.Text)
	case ActError:
		peer := l.caller
		if a.Leg == LegB {
			peer = c.callee.Contact
		}
		p.node.Network().Errorf(p.node.Name(), peer, "%s", a.Text)
	case ActCSTA:
		// The monitors are the loop's. The worker waits until the event is
		// queued for them, so it goes out after what the worker did before
		// (a BYE's answer) and before what it does next (the B-leg's INVITE).
		var keys []csta.MediaKey
		if a.Event == evEstablished && l.b != nil && l.b.InviteResponse != nil {
			keys = callMediaKeys(c, l.a.InviteRequest.Body(), l.b.InviteResponse.Body())
		}
		r.do(func() {
			if a.Event == evEstablished {
				c.media = keys
			}
			r.csta.callEvent(c, a.Event, a.Cause, a.Releasing)
		})
	case ActInviteB:
		p.inviteB(l, c, a.Reg)
	case ActCancelB:
		// WaitAnswer sends CANCEL on the B-leg when its context ends.
		if l.cancelB != nil {
			l.cancelB()
		}
	case ActRespondA:
		if err := l.a.Respond(a.Code, a.Reason, nil); err != nil && a.Code < 200 {
			p.node.Network().Errorf(p.node.Name(), l.caller, "%d %s to %s: %v", a.Code, a.Reason, c.from, err)
		}
	case ActAckB:
		if err := l.b.Ack(l.bctx); err != nil {
			p.node.Network().Errorf(p.node.Name(), c.callee.Contact, "ACK to %s: %v", c.to, err)
		}
		p.mu.Lock()
		beforeRelay := p.beforeRelay
		p.mu.Unlock()
		if beforeRelay != nil {
			beforeRelay()
		}
		p.postCall(r, CallEvent{Kind: CallBAcked, Call: l.aID})
	case ActRelayAnswer:
		// RespondSDP returns once the caller's ACK came (RFC 3261 §13.3.1.4).
		err := l.a.RespondSDP(l.b.InviteResponse.Body())
		switch {
		case r.ctx.Err() != nil:
			// the PBX stopped
		case err == nil:
			p.postCall(r, CallEvent{Kind: CallAAcked, Call: l.aID})
		default:
			// The dialog's context, not its state, says whether it ended:
			// an ACK handled just after the BYE sets the state back to
			// confirmed.
			p.postCall(r, CallEvent{Kind: CallARelayFailed, Call: l.aID, Err: err.Error(), AGone: l.a.Context().Err() != nil})
		}
	case ActReleaseA:
		l.release()
	case ActByeA:
		p.bye(r, c.from, l.a.Bye)
	case ActByeB:
		if l.b != nil {
			p.bye(r, c.to, l.b.Bye)
		}
	}
}

// callMediaKeys reads the SRTP keys of a call from the SDP the B2BUA
// relays: the caller's offer (the key it sends with) and the callee's
// answer (RFC 4568 §6.1). Spec §1.3: the PBX gives them to the recorder in
// the EstablishedEvent (docs/wire.md "SRTP"). A plain call has none.
func callMediaKeys(c *call, offer, answer []byte) []csta.MediaKey {
	var keys []csta.MediaKey
	for _, side := range []struct {
		dev  string
		body []byte
	}{{c.from, offer}, {c.to, answer}} {
		m, err := media.ParseCall(side.body)
		if err != nil || !m.Secure {
			continue
		}
		keys = append(keys, csta.MediaKey{Device: side.dev, SSRC: m.SSRC, Suite: m.Key.Suite.String(), Key: m.Key.Key, Salt: m.Key.Salt})
	}
	return keys
}

// bye sends one leg's BYE and waits for its answer.
func (p *PBX) bye(r *run, ext string, send func(context.Context) error) {
	ctx, cancel := sim.WithTimeout(r.ctx, p.node.Clock(), requestTimeout)
	defer cancel()
	if err := send(ctx); err != nil {
		p.node.Network().Errorf(p.node.Name(), netip.AddrPort{}, "BYE to %s: %v", ext, err)
	}
}

// inviteB sends the B-leg's INVITE to the called phone's contact with the
// caller's SDP unchanged, and reports the callee's answers as they come.
func (p *PBX) inviteB(l *callLegs, c *call, to Registration) {
	r := l.r
	breq := sip.NewRequest(sip.INVITE, contactURI(to))
	host := r.sip.Addr.Addr().String()
	breq.AppendHeader(&sip.FromHeader{DisplayName: c.from, Address: sip.Uri{User: c.from, Host: host}, Params: tagParams()})
	breq.AppendHeader(&sip.ToHeader{Address: sip.Uri{User: c.to, Host: host}})
	breq.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	breq.SetBody(l.a.InviteRequest.Body())
	l.bctx, l.cancelB = context.WithCancel(r.ctx)
	b, err := r.dlgCli.WriteInvite(l.bctx, breq)
	if err != nil {
		l.cancelB()
		p.node.Network().Errorf(p.node.Name(), to.Contact, "INVITE to %s: %v", c.to, err)
		p.postCall(r, CallEvent{Kind: CallBWriteFailed, Call: l.aID})
		return
	}
	l.b = b
	p.postCall(r, CallEvent{Kind: CallBWritten, Call: l.aID, Dialog: breq.CallID().Value()})
	ctx := l.bctx
	r.wg.Go(func() {
		err := b.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
			if res.IsProvisional() {
				p.postCall(r, CallEvent{Kind: CallBProvisional, Call: l.aID, Code: res.StatusCode})
			}
			return nil
		}})
		switch {
		case r.ctx.Err() != nil:
			return // the PBX stopped
		case err == nil:
			p.postCall(r, CallEvent{Kind: CallBAnswered, Call: l.aID})
			return
		}
		code, reason := 480, "Temporarily Unavailable"
		var rerr *sipgo.ErrDialogResponse
		if errors.As(err, &rerr) {
			code, reason = rerr.Res.StatusCode, rerr.Res.Reason
		}
		p.postCall(r, CallEvent{Kind: CallBRefused, Call: l.aID, Code: code, Reason: reason, Err: err.Error(),
			AGone: l.a.Context().Err() != nil})
	})
}

// Calls describes each call in progress, one line each ("<callID>
// 1001→1002 ringing|talking"), ordered by callID.
func (p *PBX) Calls() []string {
	var out []string
	if r := p.current(); r != nil {
		r.do(func() { out = p.b2b.Lines() })
	}
	return out
}
