package phones

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/reclab/reclab/sim"
)

// The registration driver: it feeds the Registration core what happened
// and performs what it returns (registration.go). Timers go on the lab
// clock; SIP goes through the phone's PBX-side stack.

// regStep steps the core with ev for the power cycle pw (a stale cycle's
// event changes nothing) and performs the actions.
func (p *Phone) regStep(pw *powerCycle, ev RegEvent) {
	var acts []RegAction
	var recSteps []recStep
	p.do(func() {
		if p.pw == pw || ev.Kind == RegPowerOff {
			acts, recSteps = p.regApplyOnLoop(pw, p.reg.Step(ev))
		}
	})
	p.regPerform(pw, acts, recSteps)
}

// regApplyOnLoop does on the loop what the actions change in the phone
// (timers, the recording core, typed state) and returns the rest to
// perform off the loop, with the recording steps a lost registration made.
func (p *Phone) regApplyOnLoop(pw *powerCycle, acts []RegAction) ([]RegAction, []recStep) {
	var rest []RegAction
	var recSteps []recStep
	for _, a := range acts {
		switch a.Kind {
		case RegArm:
			if t := p.regTimers[a.Timer]; t != nil {
				t.Stop()
			}
			timer, gen := a.Timer, a.Gen
			p.regTimers[a.Timer] = p.node.Clock().AfterFunc(a.After, func() {
				p.regStep(pw, RegEvent{Kind: RegTimerFired, Timer: timer, Gen: gen})
			})
		case RegCancel:
			if t := p.regTimers[a.Timer]; t != nil {
				t.Stop()
				p.regTimers[a.Timer] = nil
			}
		case RegBecameRegistered:
			p.node.Publish(RegistrationState{Phone: p.Name(), Ext: p.ext, Registered: true,
				Cause: fmt.Sprintf("200 OK, expires %ds", int(a.Granted/time.Second))})
			p.recStepOnLoop(RecEvent{Kind: RecRegistered})
			rest = append(rest, a)
		case RegLostRegistration:
			p.node.Publish(RegistrationState{Phone: p.Name(), Ext: p.ext, Cause: a.Reason})
			if p.pw == nil { // power off: the recording core has its own event
				continue
			}
			recSteps = append(recSteps, p.recStepOnLoop(RecEvent{Kind: RecLoggedOff})...)
			rest = append(rest, a)
		default:
			rest = append(rest, a)
		}
	}
	return rest, recSteps
}

// regPerform sends what the core asked for, in order, and feeds each answer
// back to it; each request has its own answer timeout. A lost
// registration's BYE to the recorder goes out before the un-REGISTER that
// follows it (spec §3.2).
func (p *Phone) regPerform(pw *powerCycle, acts []RegAction, recSteps []recStep) {
	for _, a := range acts {
		ctx, cancel := sim.WithTimeout(context.Background(), p.node.Clock(), p.answerTimeout())
		switch a.Kind {
		case RegNote:
			p.node.Note("%s", a.Reason)
		case RegBecameRegistered:
			p.node.Note("registered as %s (expires %ds)", p.Ext(), int(a.Granted/time.Second))
		case RegLostRegistration:
			p.node.Note("logged off: %s", a.Reason)
			bctx, cancel := sim.WithTimeout(context.Background(), p.node.Clock(), byeTimeout)
			if err := p.performRec(bctx, pw, recSteps, nil); err != nil {
				p.problem(netip.AddrPort{}, "%v", err)
			}
			cancel()
		case RegSendRegister:
			granted, err := p.sendRegister(ctx, pw, a)
			cancel()
			if err != nil { // a refresh or a retry (the owner's Register says its own)
				p.node.Note("registration as %s failed: %v", p.Ext(), strings.TrimPrefix(err.Error(), "phones: "+p.Ext()+" "))
				p.node.Publish(RegisterFailed{Phone: p.Name(), Ext: p.ext, Cause: strings.TrimPrefix(err.Error(), "phones: "+p.Ext()+" ")})
			}
			p.regStep(pw, registerAnswer(granted, err))
		case RegSendUnregister:
			_, err := p.sendRegister(ctx, pw, a)
			cancel()
			reason := ""
			if err != nil {
				reason = strings.TrimPrefix(err.Error(), "phones: "+p.Ext()+" ")
				p.node.Publish(RegisterFailed{Phone: p.Name(), Ext: p.ext, Unregister: true, Cause: reason})
			}
			p.regStep(pw, RegEvent{Kind: RegUnregisterDone, Reason: reason})
		case RegSendOptions:
			err := p.sendOptions(ctx, pw)
			cancel()
			if err != nil {
				p.regStep(pw, RegEvent{Kind: RegOptionsUnanswered, Reason: err.Error()})
			} else {
				p.regStep(pw, RegEvent{Kind: RegOptionsAnswered})
			}
		}
		cancel()
	}
}

// registerAnswer is what a REGISTER's outcome is to the core.
func registerAnswer(granted time.Duration, err error) RegEvent {
	var refused *registerRefused
	switch {
	case err == nil:
		return RegEvent{Kind: RegRegisterOK, Granted: granted}
	case errors.As(err, &refused):
		return RegEvent{Kind: RegRegisterRefused, Status: refused.status}
	}
	return RegEvent{Kind: RegRegisterUnanswered, Reason: err.Error()}
}

// Register sends REGISTER to the PBX (docs/wire.md) and waits for the final
// response. On 200 the phone is registered and refreshes at half the
// granted expiry. Any other answer is an error naming it, e.g.
// "phones: 1001 register: 403 Forbidden".
func (p *Phone) Register(ctx context.Context) error {
	var pw *powerCycle
	var a RegAction
	ok := false
	p.do(func() {
		pw = p.pw
		a, ok = p.reg.Register()
	})
	if pw == nil || !ok {
		return p.errorf("is powered off")
	}
	granted, err := p.sendRegister(ctx, pw, a)
	if err != nil {
		p.node.Note("registration as %s failed: %v", p.Ext(), strings.TrimPrefix(err.Error(), "phones: "+p.Ext()+" "))
		p.node.Publish(RegisterFailed{Phone: p.Name(), Ext: p.ext, Cause: strings.TrimPrefix(err.Error(), "phones: "+p.Ext()+" ")})
	}
	p.regStep(pw, registerAnswer(granted, err))
	if err != nil {
		return err
	}
	if cur, _ := p.powered(); cur != pw {
		return p.errorf("register: powered off meanwhile")
	}
	return nil
}

// registerOrKeepTrying is Register for the phone itself (after an update
// order, spec §3.2.5): on failure it goes on trying every RegisterRetry.
func (p *Phone) registerOrKeepTrying(ctx context.Context, pw *powerCycle) {
	if err := p.Register(ctx); err != nil {
		p.regStep(pw, RegEvent{Kind: RegKeepTrying})
	}
}

// Unregister sends BYE to the recorder if a recording session is offered
// or up (spec §3.2: "if an INVITE but no BYE has been received"), then
// REGISTER with Expires: 0.
func (p *Phone) Unregister(ctx context.Context) error {
	var pw *powerCycle
	var unreg RegAction
	var rest []RegAction
	var recSteps []recStep
	ok := false
	p.do(func() {
		if pw = p.pw; pw == nil {
			return
		}
		var acts []RegAction
		if acts, ok = p.reg.Unregister("log-off"); !ok {
			return
		}
		// The core says lost, then un-REGISTER: take the un-REGISTER here so
		// its answer comes back to the caller.
		if n := len(acts); n > 0 && acts[n-1].Kind == RegSendUnregister {
			unreg, acts = acts[n-1], acts[:n-1]
		}
		rest, recSteps = p.regApplyOnLoop(pw, acts)
	})
	switch {
	case pw == nil:
		return p.errorf("is powered off")
	case !ok:
		return p.errorf("is not registered")
	}
	p.node.Note("logging off %s", p.Ext())
	var errBye error
	for _, a := range rest {
		if a.Kind == RegLostRegistration {
			errBye = p.performRec(ctx, pw, recSteps, nil)
		}
	}
	_, errReg := p.sendRegister(ctx, pw, unreg)
	p.regStep(pw, RegEvent{Kind: RegUnregisterDone})
	if errReg == nil {
		p.node.Note("unregistered %s", p.Ext())
	}
	return errors.Join(errBye, errReg)
}

// loseRegistration is a forced log-off by the PBX (spec §3.2.3): the phone
// sends BYE to the recorder if a session is up, and nothing to the PBX.
func (p *Phone) loseRegistration(pw *powerCycle, why string) {
	p.regStep(pw, RegEvent{Kind: RegForcedOff, Reason: why})
}

// answerTimeout bounds each keep-alive OPTIONS and each REGISTER of a
// refresh or a retry: the keep-alive interval, at least a second.
func (p *Phone) answerTimeout() time.Duration { return max(p.opts.KeepAlive, time.Second) }

// sendOptions sends one keep-alive OPTIONS to the PBX and waits for any
// final answer.
func (p *Phone) sendOptions(ctx context.Context, pw *powerCycle) error {
	if pw.ras != nil {
		return p.rasKeepAlive(ctx, pw) // a lightweight RRQ to the gatekeeper (ras.go)
	}
	pbx := p.opts.PBX
	ext := p.Ext()
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: pbx.Addr().String(), Port: uriPort(pbx)})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: pbx.Addr().String()}}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", Host: pbx.Addr().String()}})
	req.AppendHeader(pw.pbx.Contact(ext))
	req.SetDestination(pbx.String())
	_, err := pw.pbx.Client.Do(ctx, req)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", p.answerTimeout())
	}
	return err
}

// registerRefused is a final non-2xx answer to REGISTER.
type registerRefused struct{ status string }

func (e *registerRefused) Error() string { return e.status }

// sendRegister sends the REGISTER the core made (docs/wire.md) and returns
// the granted expiry; a RegSendUnregister's has Expires 0.
func (p *Phone) sendRegister(ctx context.Context, pw *powerCycle, a RegAction) (time.Duration, error) {
	if pw.ras != nil {
		return p.rasRegister(ctx, pw, a) // GRQ/RRQ, lightweight RRQ or URQ (ras.go)
	}
	expiry := a.Expiry
	if a.Kind == RegSendUnregister {
		expiry = 0
	}
	ext := p.Ext()
	pbx := p.opts.PBX
	aor := sip.Uri{Scheme: "sip", User: ext, Host: pbx.Addr().String()}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: pbx.Addr().String(), Port: uriPort(pbx)})
	from := &sip.FromHeader{Address: aor}
	from.Params.Add("tag", p.regTag)
	cid := sip.CallIDHeader(a.CallID)
	exp := sip.ExpiresHeader(uint32(expiry / time.Second))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: a.CSeq, MethodName: sip.REGISTER})
	req.AppendHeader(pw.pbx.Contact(ext))
	req.AppendHeader(&exp)
	req.AppendHeader(sip.NewHeader("User-Agent", p.UserAgent()))
	req.SetDestination(pbx.String())

	what := "register"
	if expiry == 0 {
		what = "unregister"
	}
	res, err := pw.pbx.Client.Do(ctx, req)
	if err == nil && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) {
		// RFC 3261 §22.2: answer the challenge with the line's credentials
		// (sip line1 auth name / password). sipgo sends the request again
		// with the next CSeq; the core counts it.
		var auth sipgo.DigestAuth
		p.do(func() {
			p.reg.TakeCSeq()
			auth = sipgo.DigestAuth{Username: p.cfg.AuthName, Password: p.cfg.Password}
		})
		if auth.Username == "" {
			auth.Username = ext
		}
		res, err = pw.pbx.Client.DoDigestAuth(ctx, req, res, auth)
	}
	if err != nil {
		return 0, p.errorf("%s: %w", what, err)
	}
	if res.StatusCode != sip.StatusOK {
		return 0, p.errorf("%s: %w", what, &registerRefused{status: fmt.Sprintf("%d %s", res.StatusCode, res.Reason)})
	}
	return grantedExpiry(res, expiry), nil
}

// newRegCallID is a boot cycle's REGISTER Call-ID (RFC 3261 §10.2.4).
func (p *Phone) newRegCallID() string {
	return fmt.Sprintf("%016x@%s", rand.Uint64(), p.node.Addr())
}

// grantedExpiry reads the expiry the registrar granted: the Contact's
// expires parameter, else the Expires header, else what was asked.
func grantedExpiry(res *sip.Response, asked time.Duration) time.Duration {
	if c := res.Contact(); c != nil {
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// uriPort leaves the port out of a URI when it is SIP's default.
func uriPort(ap netip.AddrPort) int {
	if ap.Port() == 5060 {
		return 0
	}
	return int(ap.Port())
}
