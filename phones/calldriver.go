package phones

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// The call driver: it feeds the Call core what happened and performs what
// it returns (call.go). What blocks (WriteInvite, WaitAnswer, a BYE, the
// INVITE server transaction waiting for its ACK) runs on a goroutine of its
// own and comes back to the core as an event.

// callLeg is what the driver holds for the core's call number n: dialogs,
// the RTP socket and pump, and the goroutines that wait on the network.
// Fields are the loop's.
type callLeg struct {
	n      uint64
	pw     *powerCycle
	cliDlg *sipgo.DialogClientSession // outgoing
	srvDlg *sipgo.DialogServerSession // incoming
	cancel context.CancelFunc         // outgoing: cancels WaitAnswer, which sends CANCEL
	rtp    *sim.PacketConn
	far    media.CallMedia // the far end's media once known
	pump   *mediaPump
	// sec is our side of an SRTP call (spec §1.3): the key we send with and
	// our SSRC, in our SDP; zero for plain RTP.
	sec media.SecureMedia

	// invite carries the core's responses to the incoming INVITE, in
	// order, to the sipgo handler that holds its transaction.
	invite chan CallAction
	done   chan struct{} // closed when the core releases the call
	byeErr error         // our BYE's outcome, for HangUp
}

// callStep steps the call core with ev and performs what it decides;
// problems are reported from src (else the PBX). It posts to the loop.
func (p *Phone) callStep(ev CallEvent, src netip.AddrPort) []CallAction {
	var acts []CallAction
	p.do(func() { acts = p.callStepOnLoop(ev, src) })
	return acts
}

// callStepOnLoop is callStep on the loop. Nothing it performs blocks: what
// would runs on a goroutine that steps the core again with the outcome.
func (p *Phone) callStepOnLoop(ev CallEvent, src netip.AddrPort) []CallAction {
	if !src.IsValid() {
		src = p.opts.PBX
	}
	acts := p.call.Step(p.node.Network().Now(), ev)
	for _, a := range acts {
		p.callPerformOnLoop(a, src)
	}
	return acts
}

// legOnLoop is the driver's side of call n, made at the core's first
// action for it.
func (p *Phone) legOnLoop(n uint64) *callLeg {
	if p.leg == nil || p.leg.n != n {
		p.leg = &callLeg{n: n, pw: p.pw, invite: make(chan CallAction, 4), done: make(chan struct{})}
	}
	return p.leg
}

func (p *Phone) callPerformOnLoop(a CallAction, src netip.AddrPort) {
	if a.Kind == CallRefuse || a.Call == 0 {
		// A refusal, or an answer to an INVITE that starts no call: the
		// caller in hand (Dial, Answer, HangUp, the INVITE handler) does it.
		switch a.Kind {
		case CallNote:
			p.node.Note("%s", a.Text)
		case CallProblem:
			p.problem(src, "%s", a.Text)
		}
		return
	}
	leg := p.legOnLoop(a.Call)
	switch a.Kind {
	case CallPublish:
		p.node.Publish(CallChanged{Phone: p.Name(), Ext: p.ext, State: a.State, Remote: a.Remote, Cause: a.Cause})
	case CallNote:
		p.node.Note("%s", a.Text)
	case CallProblem:
		p.problem(src, "%s", a.Text)
	case CallSendInvite:
		// Dial sends it on its caller's goroutine, which hears the outcome.
	case CallAwaitAnswer:
		ctx, cancel := context.WithCancel(context.Background())
		leg.cancel = cancel
		go p.awaitAnswer(ctx, leg, leg.cliDlg)
	case CallSendCancel:
		if leg.cancel != nil {
			leg.cancel() // WaitAnswer sends CANCEL (RFC 3261 §9.1)
		}
	case CallSendAck:
		// An ACK is one datagram written, with no transaction to wait on
		// (RFC 3261 §17.1.1.3), so it goes from the loop: in order before
		// a BYE that follows it.
		if err := leg.cliDlg.Ack(context.Background()); err != nil {
			p.problem(p.opts.PBX, "call to %s: ACK: %v", p.call.Remote(), err)
		}
	case CallSendBye:
		go p.sendBye(leg, leg.cliDlg, leg.srvDlg)
	case CallRespond:
		// The core answers an INVITE at most three times (180, then 200 or
		// 603, then 488 if no answer fits), so the queue never fills; a
		// full one would mean the handler is gone, and the loop must not wait.
		select {
		case leg.invite <- a:
		default:
			p.problem(src, "call: response %d %s dropped: the INVITE's handler is gone", a.Code, a.Reason)
		}
	case CallStartMedia:
		p.startMediaOnLoop(leg)
	case CallStopMedia:
		pump, conn := leg.pump, leg.rtp
		leg.pump, leg.rtp = nil, nil
		if pump != nil {
			pump.halt() // waits for its goroutines, so the forkers are free for the next call
		} else if conn != nil {
			conn.Close()
		}
	case CallRelease:
		if leg.cliDlg != nil {
			leg.cliDlg.Close()
		}
		if leg.srvDlg != nil {
			leg.srvDlg.Close()
		}
		if leg.cancel != nil {
			leg.cancel()
		}
		close(leg.done)
		p.leg = nil
		if a.WasTalking && p.fork.Load() != nil {
			p.node.Note("forking paused: no call (the recording session stays up)")
		}
	}
}

// refusal is the text of a refused user action, if the core refused it.
func refusal(acts []CallAction) (string, bool) {
	if len(acts) > 0 && acts[0].Kind == CallRefuse {
		return acts[0].Text, true
	}
	return "", false
}

// startMediaOnLoop starts the RTP of the call that is up.
func (p *Phone) startMediaOnLoop(leg *callLeg) {
	if leg.rtp == nil {
		return
	}
	far := leg.far
	// We send unless the far end said it will not receive (RFC 3264 §6.1),
	// or the lab runs without media (Options.NoMedia).
	send := far.Direction != media.SendOnly && far.Direction != media.Inactive && !p.opts.NoMedia
	local := leg.rtp.LocalAddrPort()
	mp := mediaParams{
		conn:   leg.rtp,
		remote: far.Remote,
		codec:  far.Codec,
		send:   send,
		toneHz: p.opts.ToneHz,
		fork:   &p.fork,
		count:  &p.count,
		now:    p.node.Network().Now,
		clock:  p.node.Clock(),
		bad: func(src netip.AddrPort, err error) {
			p.problem(src, "RTP on %s: %v", local, err)
		},
	}
	what := "RTP"
	if leg.sec.Key.Valid() && far.Secure {
		mp.ssrc, mp.txKey, mp.rxKey = leg.sec.SSRC, leg.sec.Key, far.Key
		what = "SRTP " + leg.sec.Key.Suite.String()
	}
	pump, err := newMediaPump(mp)
	if err != nil {
		p.problem(netip.AddrPort{}, "call with %s: %v", p.call.Remote(), err)
		return
	}
	leg.pump = pump
	p.learnSRTPOnLoop(leg)
	leg.pump.start()
	p.node.Note("talking with %s (%s, %s %s → %s)", p.call.Remote(), far.Codec, what, local, far.Remote)
	if fork := p.fork.Load(); fork != nil {
		p.node.Note("forking to recorder tx %s / rx %s%s", fork.tx, fork.rx, forkHow(fork, leg))
	}
}

// callSuite is the suite the call in leg runs, SuiteNone for plain RTP.
func (leg *callLeg) callSuite() media.CryptoSuite {
	if leg == nil || leg.pump == nil || leg.pump.txSRTP == nil {
		return media.SuiteNone
	}
	return leg.sec.Key.Suite
}

// forkHow says in a note how the forks of leg's call go (spec §1.3).
func forkHow(f *forkTargets, leg *callLeg) string {
	switch {
	case f.txSRTP != nil:
		return fmt.Sprintf(" (SRTP %s with the recorder's keys)", f.txSRTP.Key().Suite)
	case leg.callSuite().Valid():
		return fmt.Sprintf(" (the call's SRTP %s packets as they are)", leg.callSuite())
	}
	return ""
}

// learnSRTPOnLoop tells the lab which of our flows carry SRTP and with
// which keys (sim.SRTPBook: the trace marks them, the decrypted pcap uses
// them): the call's stream, and the copies to the recorder.
func (p *Phone) learnSRTPOnLoop(leg *callLeg) {
	if leg == nil || leg.pump == nil || leg.rtp == nil {
		return
	}
	book := p.node.Network().SRTP()
	local := leg.rtp.LocalAddrPort()
	suite := leg.callSuite()
	if suite.Valid() {
		book.LearnKey(leg.sec.SSRC, leg.sec.Key)
		if leg.far.SSRC != 0 {
			book.LearnKey(leg.far.SSRC, leg.far.Key)
		}
	}
	book.MarkFlow(local, leg.far.Remote, suite)
	if f := p.fork.Load(); f != nil {
		book.MarkFlow(local, f.tx, f.suite(suite))
		book.MarkFlow(local, f.rx, f.suite(suite))
	}
}

// callSecure makes our side of an SRTP call in suite: a fresh key with tag
// and a fresh SSRC (spec §1.3, RFC 4568).
func (p *Phone) callSecure(tag int, suite media.CryptoSuite) (media.SecureMedia, error) {
	key, err := media.NewSDESKey(tag, suite)
	if err != nil {
		return media.SecureMedia{}, err
	}
	ssrc := rand.Uint32()
	for ssrc == 0 {
		ssrc = rand.Uint32()
	}
	return media.SecureMedia{Key: key, SSRC: ssrc, CNAME: p.ext + "@" + p.node.Addr().String()}, nil
}

// srtpSuiteOnLoop is the suite our calls offer, SuiteNone when "sip srtp
// mode" is 0.
func (p *Phone) srtpSuiteOnLoop() media.CryptoSuite {
	if p.cfg.SRTPMode == 0 {
		return media.SuiteNone
	}
	s, err := media.ParseCryptoSuite(p.cfg.SRTPSuite)
	if err != nil || !s.Valid() {
		return media.AESCM128HMACSHA180 // the default (Validate refused anything else)
	}
	return s
}

// srtpRefusal says why "sip srtp mode" refuses a call's SDP (offer or
// answer), "" when it takes it (spec §1.3).
func srtpRefusal(mode int, m media.CallMedia) string {
	switch {
	case m.Secure && mode == 0:
		return "RTP/SAVP, and SRTP is off on this phone (sip srtp mode: 0)"
	case !m.Secure && mode == 2:
		return "plain RTP/AVP, and this phone takes SRTP only (sip srtp mode: 2)"
	}
	return ""
}

// Dial calls number through the PBX: INVITE sip:<number>@<pbx> with the
// phone's SDP offer (docs/wire.md). It returns once the INVITE is sent; the
// answer is handled in the background (State, Notes). A refusal such as
// 404 or 480 ends the call, goes to the trace as an error and to
// State().CallError.
func (p *Phone) Dial(ctx context.Context, number string) error {
	if number == "" || strings.Trim(number, "0123456789*#") != "" {
		return p.errorf("dial: bad number %q", number)
	}
	var pw *powerCycle
	var acts []CallAction
	var leg *callLeg
	p.do(func() {
		if pw = p.pw; pw == nil {
			return
		}
		acts = p.callStepOnLoop(CallEvent{Kind: CallDial, Remote: number, Registered: p.reg.Registered()}, netip.AddrPort{})
		leg = p.leg
	})
	if pw == nil {
		return p.errorf("is powered off")
	}
	if why, refused := refusal(acts); refused {
		return p.errorf("%s", why)
	}

	fail := func(err error) error {
		p.callStep(CallEvent{Kind: CallInviteFailed, Call: leg.n, Err: err.Error()}, netip.AddrPort{})
		return err
	}
	conn, err := p.node.ListenPacket(p.opts.RTPPort)
	if err != nil {
		return fail(p.errorf("dial %s: rtp: %w", number, err))
	}
	if !p.setLeg(leg, func() { leg.rtp = conn }) {
		conn.Close()
		return p.errorf("dial %s: powered off meanwhile", number)
	}
	var suite media.CryptoSuite
	p.do(func() { suite = p.srtpSuiteOnLoop() })
	codecs := []media.Codec{media.PCMA, media.PCMU}
	var offer []byte
	if suite.Valid() {
		// Spec §1.3: the call's media encrypted, the key in the SDP (RFC 4568).
		var sec media.SecureMedia
		if sec, err = p.callSecure(1, suite); err == nil {
			p.setLeg(leg, func() { leg.sec = sec })
			offer, err = media.CallOfferSRTP(rand.Uint64()>>1, p.node.Addr(), p.opts.RTPPort, codecs, sec)
		}
	} else {
		offer, err = media.CallOffer(rand.Uint64()>>1, p.node.Addr(), p.opts.RTPPort, codecs)
	}
	if err != nil {
		return fail(p.errorf("dial %s: %w", number, err))
	}
	pbx := p.opts.PBX
	ext, ua := p.Ext(), p.UserAgent()
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: number, Host: pbx.Addr().String(), Port: uriPort(pbx)})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: pbx.Addr().String()}}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: number, Host: pbx.Addr().String()}})
	req.AppendHeader(pw.pbx.Contact(ext))
	req.AppendHeader(sip.NewHeader("User-Agent", ua))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	req.SetDestination(pbx.String())
	p.node.Note("dialing %s", number)
	dlg, err := pw.dlgCli.WriteInvite(ctx, req)
	if err != nil {
		return fail(p.errorf("dial %s: %w", number, err))
	}
	if !p.setLeg(leg, func() { leg.cliDlg = dlg }) {
		return nil // powered off meanwhile: the stack that sent it is closed
	}
	p.callStep(CallEvent{Kind: CallInviteSent, Call: leg.n, CallID: req.CallID().Value()}, netip.AddrPort{})
	return nil
}

// setLeg runs set on the loop if leg is still the call in progress.
func (p *Phone) setLeg(leg *callLeg, set func()) bool {
	ok := false
	p.do(func() {
		if ok = p.leg == leg; ok {
			set()
		}
	})
	return ok
}

// awaitAnswer follows an outgoing INVITE to its final response and tells
// the core.
func (p *Phone) awaitAnswer(ctx context.Context, leg *callLeg, dlg *sipgo.DialogClientSession) {
	ev := CallEvent{Call: leg.n}
	err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		if r.IsProvisional() {
			p.callStep(CallEvent{Kind: CallProvisional, Call: leg.n, Code: r.StatusCode}, netip.AddrPort{})
		}
		return nil
	}})
	if leg.pw.isOff() {
		return // the stack closed under it (spec §3.2.4)
	}
	res := dlg.InviteResponse
	var refused *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &refused):
		res = refused.Res
	case err != nil && (res == nil || res.IsProvisional()):
		// No final answer at all, or none after our CANCEL.
		ev.Kind, ev.Err = CallNoAnswer, err.Error()
		p.callStep(ev, netip.AddrPort{})
		return
	}
	// A final response: WaitAnswer's own, or one that crossed our CANCEL
	// (inviteCancel keeps it in InviteResponse).
	ev.Kind, ev.Code, ev.Reason = CallFinal, res.StatusCode, res.Reason
	if res.IsSuccess() {
		answer, perr := media.ParseCall(res.Body())
		if perr != nil {
			ev.Err = perr.Error()
		}
		p.setLeg(leg, func() {
			leg.far = answer
			if perr != nil {
				return
			}
			offered := leg.sec.Key.Valid()
			switch why := srtpRefusal(p.cfg.SRTPMode, answer); {
			case why != "":
				ev.Err = "the answer is " + why
			case answer.Secure && !offered:
				ev.Err = "the answer is RTP/SAVP to our plain RTP/AVP offer"
			case answer.Secure && (answer.Key.Suite != leg.sec.Key.Suite || answer.Key.Tag != leg.sec.Key.Tag):
				ev.Err = fmt.Sprintf("the answer's a=crypto %d %s answers no offered key (%d %s)", answer.Key.Tag, answer.Key.Suite, leg.sec.Key.Tag, leg.sec.Key.Suite)
			case !answer.Secure && offered:
				leg.sec = media.SecureMedia{} // SRTP preferred, plain RTP taken (sip srtp mode: 1)
			}
		})
	}
	p.callStep(ev, sourceOf(res.Source()))
}

// sendBye ends the call's dialog with BYE and tells the core.
func (p *Phone) sendBye(leg *callLeg, cli *sipgo.DialogClientSession, srv *sipgo.DialogServerSession) {
	ctx, cancel := sim.WithTimeout(context.Background(), p.node.Clock(), byeTimeout)
	defer cancel()
	var err error
	switch {
	case cli != nil:
		err = cli.Bye(ctx)
	case srv != nil:
		err = srv.Bye(ctx)
	}
	ev := CallEvent{Kind: CallByeDone, Call: leg.n}
	if err != nil {
		ev.Err = err.Error()
	}
	p.setLeg(leg, func() { leg.byeErr = err })
	p.callStep(ev, netip.AddrPort{})
}

// Answer answers the ringing call: 200 OK with the SDP answer. The call is
// talking once the PBX's ACK arrives.
func (p *Phone) Answer() error {
	acts := p.callStep(CallEvent{Kind: CallAnswer}, netip.AddrPort{})
	if why, refused := refusal(acts); refused {
		return p.errorf("%s", why)
	}
	return nil
}

// HangUp ends the call: CANCEL while dialing, 603 Decline while ringing,
// BYE once talking. It returns when the call is over.
func (p *Phone) HangUp(ctx context.Context) error {
	var leg *callLeg
	var acts []CallAction
	p.do(func() {
		leg = p.leg
		acts = p.callStepOnLoop(CallEvent{Kind: CallHangUp}, netip.AddrPort{})
	})
	if why, refused := refusal(acts); refused || leg == nil {
		return p.errorf("%s", why)
	}
	select {
	case <-leg.done:
	case <-ctx.Done():
		return p.errorf("hang up: %w", ctx.Err())
	}
	var err error
	p.do(func() { err = leg.byeErr })
	if err != nil {
		return p.errorf("hang up: BYE: %w", err)
	}
	return nil
}

// incomingCall serves an INVITE from the PBX. It runs on sipgo's goroutine
// for the request, which the INVITE transaction needs alive until the
// final response: the core's responses come to it on the call's invite
// queue (180 Ringing, then 200 OK on Answer or 603 on HangUp), and it
// reports their outcome and a CANCEL from the PBX back to the core.
func (p *Phone) incomingCall(pw *powerCycle, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	remote := req.From().Address.User
	offer, err := media.ParseCall(req.Body())
	ev := CallEvent{Kind: CallIncoming, Remote: remote, CallID: req.CallID().Value()}
	if err != nil {
		ev.Err = err.Error()
	}
	var acts []CallAction
	var leg *callLeg
	p.do(func() {
		if p.pw != pw {
			return
		}
		ev.Registered = p.reg.Registered()
		if why := srtpRefusal(p.cfg.SRTPMode, offer); err == nil && why != "" {
			ev.Err = "offer is " + why
		}
		acts = p.callStepOnLoop(ev, src)
		if len(acts) > 0 && acts[0].Call != 0 {
			leg = p.leg
		}
	})
	for _, a := range acts {
		if a.Kind == CallRespond && a.Call == 0 {
			respond(tx, req, a.Code, a.Reason) // refused: no call
		}
	}
	if leg != nil {
		p.serveInvite(leg, remote, req, tx, src, offer)
	}
}

// serveInvite performs the core's responses to the call's INVITE until the
// transaction is over or the call is.
func (p *Phone) serveInvite(leg *callLeg, remote string, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort, offer media.CallMedia) {
	pw := leg.pw
	step := func(kind CallEventKind, err error) {
		ev := CallEvent{Kind: kind, Call: leg.n}
		if err != nil {
			ev.Err = err.Error()
		}
		p.callStep(ev, src)
	}
	var dlg *sipgo.DialogServerSession
	var cancelled <-chan struct{} // the PBX's CANCEL, once the dialog exists
	for {
		var a CallAction
		select {
		case a = <-leg.invite: // what is queued goes first, in order
		default:
			select {
			case a = <-leg.invite:
			case <-cancelled:
				cancelled = nil
				step(CallCancelled, nil)
				continue
			case <-leg.done:
				return // over, and nothing queued to answer with
			case <-pw.off:
				return
			}
		}
		switch {
		case a.Code == 180:
			var err error
			if dlg, err = pw.dlgSrv.ReadInvite(req, tx); err != nil {
				p.problem(src, "call INVITE from %s: %v", remote, err)
				respond(tx, req, 400, "Bad Request")
				step(CallSetupFailed, nil)
				return
			}
			conn, err := p.node.ListenPacket(p.opts.RTPPort)
			if err != nil {
				p.problem(netip.AddrPort{}, "call from %s: rtp: %v", remote, err)
				respond(tx, dlg.InviteRequest, 500, "Server Internal Error")
				step(CallSetupFailed, nil)
				return
			}
			if !p.setLeg(leg, func() { leg.srvDlg, leg.rtp, leg.far = dlg, conn, offer }) {
				conn.Close()
				continue // over meanwhile: its final response, if any, is queued
			}
			if err := dlg.Respond(180, "Ringing", nil); err != nil {
				step(CallSetupFailed, err)
				return
			}
			step(CallRingSent, nil)
			cancelled = dlg.Context().Done()
		case a.Answer:
			var body []byte
			var err error
			if offer.Secure {
				// Spec §1.3: our own key, of the offered suite and tag (RFC 4568 §7.1.1).
				var sec media.SecureMedia
				if sec, err = p.callSecure(offer.Key.Tag, offer.Key.Suite); err == nil {
					p.setLeg(leg, func() { leg.sec = sec })
					body, err = media.CallAnswerSRTP(offer, rand.Uint64()>>1, p.node.Addr(), p.opts.RTPPort, sec)
				}
			} else {
				body, err = media.CallAnswer(offer, rand.Uint64()>>1, p.node.Addr(), p.opts.RTPPort)
			}
			if err != nil {
				step(CallAnswerFailed, err) // the core answers 488
				continue
			}
			// RespondSDP retransmits the 200 OK until the ACK (RFC 3261 §13.3.1.4).
			if err := dlg.RespondSDP(body); err != nil {
				if !pw.isOff() {
					step(CallAckTimeout, err)
				}
				return
			}
			step(CallAcked, nil)
			return
		default:
			// A final refusal (603, 488). Straight to the transaction, not
			// dlg.Respond, which would hold us until the ACK: the
			// transaction outlives this handler and absorbs the ACK and
			// retransmissions itself (RFC 3261 §17.2.1).
			r := req
			if dlg != nil {
				r = dlg.InviteRequest
			}
			respond(tx, r, a.Code, a.Reason)
			return
		}
	}
}

// talkingOnLoop reports whether the phone has a call up.
func (p *Phone) talkingOnLoop() bool { return p.call.Talking() }
