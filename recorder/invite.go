package recorder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// The driver of the spec §3.2.1 INVITE race (InviteRace, invite_race.go),
// on the loop: the race lives in an inviteRun that the loop alone steps.
// Each INVITE transaction runs on a goroutine of its own (sipgo's Invite
// and WaitAnswer block on the network) and posts its final answer to the
// loop; the retransmission and give-up timers come from the lab clock and
// post to the loop too. The loop steps the race and performs its actions:
// it sends, gives up, hands the winning dialog to the session's core.

// inviteRun is one INVITE of a session with its possible retransmission
// under a second Call-ID (spec §3.2.1). Loop-owned, but for what attempt
// reads (set before the first attempt starts, never changed).
type inviteRun struct {
	s           *session
	race        *InviteRace
	firstCallID string
	ctx         context.Context // the attempts' parent; cancelled once the race is over
	cancel      context.CancelCauseFunc
	giveUp      *sim.Timer
	retransmit  *sim.Timer // nil when no second INVITE may follow

	// Read by the attempts' goroutines.
	r       *Recorder
	dialogs *sipgo.DialogClientCache
	target  sip.Uri
	body    []byte

	attempts map[string]context.CancelCauseFunc    // by Call-ID: give up an INVITE
	answered map[string]*sipgo.DialogClientSession // by Call-ID: 200 OK dialogs
	rtts     map[string]time.Duration              // INVITE sent → final answer, by Call-ID (drain.go)
}

// inviteEvent is what happens to an inviteRun: a timer fell due or an
// INVITE got its final answer (res).
type inviteEvent struct {
	inv  *inviteRun
	kind RaceInputKind // RaceRetransmitDue, RaceGiveUp; ignored with res
	res  *inviteResult
}

type inviteResult struct {
	rtt    time.Duration // INVITE sent → final answer
	callID string
	dt     *sipgo.DialogClientSession // nil when the INVITE could not be sent
	err    error
}

// sendInvite sends the recording INVITE (design.md "The recording session",
// wire.md), on the loop. When no answer came within Config.InviteRetransmit
// it sends the INVITE once more with the same SDP (same o= session id)
// under a new Call-ID (spec §3.2.1); the first 200 OK to either is the one
// ACKed, and the other INVITE is given up.
func (r *Recorder) sendInvite(s *session, call Call) {
	body, err := media.BuildRecordingOffer(media.RecordingOffer{
		SessionID: s.sdpID, SessionVersion: s.sdpID, Origin: r.node.Addr(),
		TX: s.tx.LocalAddrPort(), RX: s.rx.LocalAddrPort(),
		TXKey: s.offerTXKey, RXKey: s.offerRXKey, // KeysSDP only (srtp.go)
		SAVP: r.forksSAVP(call),
	})
	if err != nil {
		go r.post(sessionEvent{s: s, in: Input{Kind: InRejected, Reason: err.Error()}})
		return
	}
	s.offer = body
	if call.ID != "" {
		r.node.Note("INVITE %s at %s for call %s", s.ext, r.phoneAddr(s), call.ID)
	} else {
		r.node.Note("INVITE %s at %s (static mapping, no call yet)", s.ext, r.phoneAddr(s))
	}
	timeout := r.answerTimeout()
	race, first := NewInviteRace(s.sipCallID, s.sdpID, r.cfg.InviteRetransmit, timeout)
	inv := &inviteRun{
		s:           s,
		race:        race,
		firstCallID: s.sipCallID,
		r:           r,
		dialogs:     r.dialogs.Load(),
		target:      sip.Uri{Scheme: "sip", User: s.ext, Host: s.dev.IP.String(), Port: s.dev.RecordingPort},
		body:        body,
		attempts:    map[string]context.CancelCauseFunc{},
		answered:    map[string]*sipgo.DialogClientSession{},
		rtts:        map[string]time.Duration{},
	}
	inv.ctx, inv.cancel = context.WithCancelCause(r.ctx)
	// On timeout give up without CANCEL: sipgo would first wait for a
	// provisional response, which a phone that ignores us never sends.
	inv.giveUp = r.node.Clock().AfterFunc(timeout, func() { r.post(inviteEvent{inv: inv, kind: RaceGiveUp}) })
	if race.Retransmits() {
		inv.retransmit = r.node.Clock().AfterFunc(r.cfg.InviteRetransmit, func() { r.post(inviteEvent{inv: inv, kind: RaceRetransmitDue}) })
	}
	r.performRace(inv, first)
}

// onInviteEvent steps the race of ev; on the loop.
func (r *Recorder) onInviteEvent(ev inviteEvent) {
	inv := ev.inv
	if inv.race.Over() {
		return // a timer that fell due as the race ended; nothing is out
	}
	var in RaceInput
	switch res := ev.res; {
	case res == nil && ev.kind == RaceRetransmitDue:
		in = RaceInput{Kind: RaceRetransmitDue, CallID: r.newSIPCallID()}
	case res == nil:
		in = RaceInput{Kind: ev.kind}
	case res.err == nil:
		inv.rtts[res.callID] = res.rtt
		inv.answered[res.callID] = res.dt
		in = RaceInput{Kind: RaceAnswered, CallID: res.callID}
	default:
		inv.rtts[res.callID] = res.rtt
		if res.dt != nil {
			res.dt.Close()
		}
		in = inviteFailure(*res)
	}
	r.performRace(inv, inv.race.Step(in))
}

// performRace does what the race asks, in order, then lets the run go
// once the race is over.
func (r *Recorder) performRace(inv *inviteRun, acts []RaceAction) {
	s := inv.s
	for _, a := range acts {
		switch a.Kind {
		case RaceSend:
			r.node.Publish(InviteSent{Session: s.name, Ext: s.ext, Phone: r.phoneAddr(s), SIPCallID: a.CallID, Cause: inviteCause(a.CallID == inv.firstCallID)})
			actx, acancel := context.WithCancelCause(inv.ctx)
			inv.attempts[a.CallID] = acancel
			go inv.attempt(actx, a.CallID)
		case RaceCancel:
			inv.attempts[a.CallID](sipgo.WaitAnswerForceCancelErr)
		case RaceNote:
			r.node.Note("%s", a.Reason)
		case RaceError:
			r.net.Errorf(r.node.Name(), r.phoneAddr(s), "recording session %s: %s", s.name, a.Reason)
		case RaceWon:
			dt := inv.answered[a.CallID]
			ans, err := media.ParseRecordingAnswerMedia(dt.InviteResponse.Body())
			if err != nil {
				r.handle(sessionEvent{s: s, in: Input{Kind: InBadAnswer, Reason: err.Error()}, dialog: dt, sipCallID: a.CallID, rtt: inv.rtts[a.CallID]})
			} else {
				r.handle(sessionEvent{s: s, in: Input{Kind: InAnswered}, dialog: dt, answer: ans, sipCallID: a.CallID, rtt: inv.rtts[a.CallID]})
			}
		case RaceExtra:
			// ACK and BYE wait for the network: off the loop.
			go func(dt *sipgo.DialogClientSession) {
				bctx, bcancel := sim.WithTimeout(context.Background(), r.node.Clock(), r.answerTimeout())
				defer bcancel()
				dt.Ack(bctx)
				dt.Bye(bctx)
				dt.Close()
			}(inv.answered[a.CallID])
		case RaceLost:
			r.handle(sessionEvent{s: s, in: Input{Kind: InRejected, Reason: a.Reason}})
		}
	}
	if inv.race.Over() {
		inv.giveUp.Stop()
		if inv.retransmit != nil {
			inv.retransmit.Stop()
		}
		inv.cancel(nil)
	}
}

// attempt sends one INVITE with callID and waits for its final answer, on
// its own goroutine; the answer goes to the loop.
func (inv *inviteRun) attempt(ctx context.Context, callID string) {
	r := inv.r
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: sipUser, Host: r.node.Addr().String()}}
	from.Params = sip.NewParams()
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: inv.target.User, Host: inv.target.Host}}
	cid := sip.CallIDHeader(callID)
	sent := r.net.Now()
	dt, err := inv.dialogs.Invite(ctx, inv.target, inv.body, from, to, &cid,
		sip.NewHeader("Content-Type", "application/sdp"), sip.NewHeader("User-Agent", userAgent))
	if err == nil {
		err = dt.WaitAnswer(ctx, sipgo.AnswerOptions{})
	}
	r.post(inviteEvent{inv: inv, res: &inviteResult{callID: callID, dt: dt, err: err, rtt: r.net.Now() - sent}})
}

// inviteFailure is what a failed INVITE is to the race.
func inviteFailure(res inviteResult) RaceInput {
	in := RaceInput{Kind: RaceFailed, CallID: res.callID, Reason: res.err.Error(), Cancelled: errors.Is(res.err, context.Canceled)}
	var resp *sipgo.ErrDialogResponse
	if errors.As(res.err, &resp) {
		in.Reason, in.Response = fmt.Sprintf("phone answered %d %s", resp.Res.StatusCode, resp.Res.Reason), true
	}
	return in
}
