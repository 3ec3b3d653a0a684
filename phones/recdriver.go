package phones

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// The recording-request driver: it feeds the RecSession core the
// recorder's requests and performs what it returns (recsession.go).

// recIncoming is the request a recording event came with.
type recIncoming struct {
	req      *sip.Request
	tx       sip.ServerTransaction
	src      netip.AddrPort
	callID   string
	inDialog bool
	offer    media.RecordingOffer
}

// recStep is one action of the session with what the driver found for it
// on the loop.
type recStep struct {
	act     RecAction
	dlg     *recDialog // RecSendBye, RecForget
	talking bool       // RecStartFork, RecStopFork: a call is up
}

// allowedOnLoop is spec §3.2: the recorder must be in "recording allowed
// ip". An empty list allows nobody.
func (p *Phone) allowedOnLoop(ip netip.Addr) bool {
	return slices.Contains(p.cfg.RecordingAllowed, ip.Unmap())
}

// recRequest feeds one recording request to the session and performs
// what it decides.
func (p *Phone) recRequest(pw *powerCycle, kind RecEventKind, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	in := &recIncoming{req: req, tx: tx, src: src, callID: req.CallID().Value()}
	ev := RecEvent{Kind: kind, CallID: in.callID, Source: src}
	if kind == RecInvite {
		in.inDialog = hasToTag(req)
		ev.InDialog = in.inDialog
		if !in.inDialog {
			ev.Offer, ev.OfferErr = media.ParseRecordingOffer(req.Body())
			in.offer = ev.Offer
		}
	}
	var steps []recStep
	var ackDlg *recDialog
	refused, code := "", 0
	stale := false
	p.do(func() {
		if stale = p.pw != pw; stale {
			return
		}
		ev.Allowed = p.allowedOnLoop(src.Addr())
		if d := p.recDialogs[in.callID]; d != nil && ev.Allowed && (kind != RecInvite || in.inDialog) {
			// A request in a recording dialog must be the dialog's (RFC 3261
			// §12.2.2): a forged BYE from the recorder's address but another
			// port, with invented tags, stopped forking before.
			id, _ := sip.DialogIDFromRequestUAS(req)
			var cseq uint32
			if c := req.CSeq(); c != nil {
				cseq = c.SeqNo
			}
			if code, refused = d.admit(req.Method, id, cseq, src); code != 0 {
				return
			}
		}
		steps = p.recStepOnLoop(ev)
		p.publishUnansweredOnLoop(ev, steps)
		if kind == RecAck && ev.Allowed {
			ackDlg = p.recDialogs[in.callID]
		}
	})
	if stale {
		return
	}
	if code != 0 {
		p.problem(src, "recording %s", refused)
		if kind != RecAck {
			respond(tx, req, code, refusalReason[code])
		}
		return
	}
	ctx, cancel := sim.WithTimeout(context.Background(), p.node.Clock(), byeTimeout)
	defer cancel()
	if err := p.performRec(ctx, pw, steps, in); err != nil {
		p.problem(src, "%v", err)
	}
	if ackDlg != nil {
		// Let the dialog see its ACK, which ends RespondSDP's 2xx
		// retransmissions; an ACK of a re-INVITE fails the CSeq check
		// harmlessly.
		ackDlg.dlg.ReadAck(req, tx)
	}
}

// recEvent feeds an event that came with no request (an ACK timeout).
func (p *Phone) recEvent(pw *powerCycle, ev RecEvent) {
	var steps []recStep
	stale := false
	p.do(func() {
		if stale = p.pw != pw; !stale {
			steps = p.recStepOnLoop(ev)
		}
	})
	if stale {
		return
	}
	ctx, cancel := sim.WithTimeout(context.Background(), p.node.Clock(), byeTimeout)
	defer cancel()
	if err := p.performRec(ctx, pw, steps, nil); err != nil {
		p.problem(netip.AddrPort{}, "%v", err)
	}
}

// applyRecOnLoop does the state part of the session's actions on the loop:
// fork targets and the dialog table. The rest is left to performRec.
// recStepOnLoop steps the recording core with ev, applies what must happen
// on the loop and publishes the session's state if it changed.
func (p *Phone) recStepOnLoop(ev RecEvent) []recStep {
	before := p.rec.State()
	steps := p.applyRecOnLoop(p.rec.Step(ev))
	if after := p.rec.State(); after != before {
		st := RecordingState{Phone: p.Name(), Ext: p.ext, State: after, Cause: ev.Kind.String()}
		if ft := p.fork.Load(); after == RecForking && ft != nil {
			st.TX, st.RX = ft.tx, ft.rx
		}
		p.node.Publish(st)
	}
	return steps
}

func (p *Phone) applyRecOnLoop(acts []RecAction) []recStep {
	steps := make([]recStep, len(acts))
	for i, a := range acts {
		steps[i].act = a
		switch a.Kind {
		case RecStartFork:
			ft := newForkTargets(a.TX, a.RX)
			if err := ft.withKeys(a.TXKey, a.RXKey); err != nil {
				p.problem(netip.AddrPort{}, "recording session: the recorder's SRTP keys: %v", err)
			} else if ft.txSRTP != nil {
				// The lab knows the forks' keys too (the decrypted pcap).
				book := p.node.Network().SRTP()
				book.LearnKey(ft.txFork.SSRC(), a.TXKey)
				book.LearnKey(ft.rxFork.SSRC(), a.RXKey)
			}
			p.fork.Store(ft)
			p.learnSRTPOnLoop(p.leg)
			p.recSessions++
			steps[i].talking = p.talkingOnLoop()
		case RecStopFork:
			p.fork.Store(nil)
			steps[i].talking = p.talkingOnLoop()
		case RecSendBye, RecForget:
			steps[i].dlg = p.recDialogs[a.CallID]
			delete(p.recDialogs, a.CallID)
		}
	}
	return steps
}

// performRec does the rest of the actions, in order, off the loop:
// notes, responses, BYEs. It returns the error of a BYE the phone sent.
func (p *Phone) performRec(ctx context.Context, pw *powerCycle, steps []recStep, in *recIncoming) error {
	var errs []error
	src := netip.AddrPort{}
	if in != nil {
		src = in.src
	}
	for _, s := range steps {
		a := s.act
		switch a.Kind {
		case RecNote:
			p.node.Note("%s", a.Text)
		case RecProblem:
			p.problem(src, "%s", a.Text)
		case RecStartFork:
			if s.talking {
				p.node.Note("forking to recorder tx %s / rx %s", a.TX, a.RX)
			} else {
				p.node.Note("recording session up: forking to recorder tx %s / rx %s from the next call", a.TX, a.RX)
			}
		case RecStopFork:
			if s.talking {
				p.node.Note("forking to the recorder stopped")
			}
		case RecForget:
			if s.dlg != nil {
				s.dlg.tx.Terminate() // stops 200 OK retransmissions
			}
		case RecSendBye:
			if s.dlg == nil {
				continue // 200 OK not sent yet: nothing to end
			}
			s.dlg.tx.Terminate() // RFC 3261 §15: no BYE before ACK unless the INVITE transaction is over
			if err := s.dlg.dlg.Bye(ctx); err != nil {
				errs = append(errs, p.errorf("BYE to the recorder: %w", err))
			} else {
				p.node.Note("recording session ended with BYE to the recorder")
			}
		case RecRespond:
			if in != nil {
				p.recRespond(pw, a, in)
			}
		}
	}
	return errors.Join(errs...)
}

// recRespond answers a recording request. A 200 OK with Answer to a new
// INVITE creates the dialog and blocks (on sipgo's goroutine for this
// request) until the ACK, retransmitting the 200 OK meanwhile.
func (p *Phone) recRespond(pw *powerCycle, a RecAction, in *recIncoming) {
	if !a.Answer {
		respond(in.tx, in.req, a.Code, a.Reason)
		return
	}
	if in.inDialog {
		// Spec §3.2.2 session refresher: the same answer again.
		var d *recDialog
		p.do(func() { d = p.recDialogs[in.callID] })
		if d == nil {
			respond(in.tx, in.req, 481, "Call/Transaction Does Not Exist")
			return
		}
		res := sip.NewSDPResponseFromRequest(in.req, d.answer)
		res.AppendHeader(&pw.recUA.ContactHDR)
		in.tx.Respond(res)
		return
	}
	drop := func(format string, args ...any) {
		p.problem(in.src, format, args...)
		p.recEvent(pw, RecEvent{Kind: RecAckTimeout, CallID: in.callID})
	}
	body, err := p.recordingAnswer(in.offer)
	if err != nil {
		respond(in.tx, in.req, 488, "Not Acceptable Here")
		drop("recording INVITE: %v", err)
		return
	}
	dlg, err := pw.recUA.ReadInvite(in.req, in.tx)
	if err != nil {
		respond(in.tx, in.req, 400, "Bad Request")
		drop("recording INVITE: %v", err)
		return
	}
	current := false
	p.do(func() {
		current = p.pw == pw && p.rec.State() == RecOffered && p.rec.CallID() == in.callID
		if current {
			p.recDialogs[in.callID] = newRecDialog(dlg, in.tx, body, in.src)
		}
	})
	if !current {
		return // replaced or powered off in the meantime
	}
	// The recording stack's methods, UPDATE among them (RFC 3311 §5.1: a
	// UA that takes UPDATE says so), and no option tag it would need.
	allow, supported := sip.NewHeader("Allow", pw.rec.Allow), sip.NewHeader("Supported", "")
	if err := dlg.Respond(sip.StatusOK, "OK", body, sip.NewHeader("Content-Type", "application/sdp"), allow, supported); err != nil {
		// Never ACKed, or we ended the transaction (replaced, BYE, power
		// off); the session ignores the timeout in the latter cases.
		p.recEvent(pw, RecEvent{Kind: RecAckTimeout, CallID: in.callID})
	}
}

// recordingAnswer is the phone's 200 OK body: two sendonly streams from the
// call RTP socket (the copies leave from it) in the call's codec if it is
// up and offered, else PCMA, else the first offered.
func (p *Phone) recordingAnswer(offer media.RecordingOffer) ([]byte, error) {
	codecs := offer.Codecs
	if len(codecs) == 0 {
		codecs = []media.Codec{media.PCMA, media.PCMU} // RecordingOffer: empty means PCMA, PCMU
	}
	var callCodec media.Codec
	have := false
	p.do(func() {
		if p.talkingOnLoop() && p.leg != nil {
			callCodec, have = p.leg.far.Codec, true
		}
	})
	codec := codecs[0]
	switch {
	case have && slices.Contains(codecs, callCodec):
		codec = callCodec
	case slices.Contains(codecs, media.PCMA):
		codec = media.PCMA
	}
	port := p.opts.RTPPort
	return media.BuildRecordingAnswer(offer, rand.Uint64()>>1, p.node.Addr(), port, port, codec)
}
