package phones

import (
	"fmt"
	"time"
)

// Registration is the phone's registration with the PBX and its check of
// the gatekeeper (spec §3.2.6), as a pure core in etcd-raft's shape: the
// phone's driver feeds it what happened (RegEvent) and performs what it
// returns (RegAction): send a REGISTER or an OPTIONS, arm or cancel a timer,
// tell the rest of the phone that it is now registered or logged off. It has
// no sockets, goroutines or clock; timers are durations the driver puts on
// the lab clock, and every timer it arms carries a generation so that one
// firing after its time (a stale refresh, a keep-alive of a previous
// registration) is ignored here rather than by flags in the driver.
//
// Its transcripts are testdata/registration/*.txt.
type Registration struct {
	state     RegState
	keepAlive time.Duration // OPTIONS interval; 0: no keep-alive
	retry     time.Duration // REGISTER retry interval after the gatekeeper was lost
	expiry    time.Duration // what the phone asks for
	callID    string        // one REGISTER Call-ID per boot cycle (RFC 3261 §10.2.4)
	cseq      uint32
	gen       [regTimers]uint64 // the generation of each timer's last arming
	retrying  bool              // an un-REGISTER is out for a lost gatekeeper: retry after it
}

// RegState is where the registration stands.
type RegState uint8

const (
	// RegOff: powered off; nothing is sent.
	RegOff RegState = iota
	// RegIdle: powered on, not registered, nothing pending.
	RegIdle
	// RegRegistered: the PBX took the REGISTER; refresh and keep-alive run.
	RegRegistered
	// RegRetrying: the registrar or gatekeeper was lost; REGISTER again
	// every retry interval until it answers (spec §3.2.6).
	RegRetrying
)

var regStateNames = [...]string{"off", "idle", "registered", "retrying"}

func (s RegState) String() string {
	if int(s) < len(regStateNames) {
		return regStateNames[s]
	}
	return fmt.Sprintf("RegState(%d)", uint8(s))
}

// RegTimer names the core's timers.
type RegTimer uint8

const (
	// TimerRefresh: re-REGISTER at half the granted expiry (docs/wire.md).
	TimerRefresh RegTimer = iota
	// TimerKeepAlive: the next OPTIONS to the PBX (spec §3.2.6).
	TimerKeepAlive
	// TimerRetry: the next REGISTER after the gatekeeper was lost.
	TimerRetry
	regTimers
)

var regTimerNames = [...]string{"refresh", "keep-alive", "retry"}

func (t RegTimer) String() string {
	if int(t) < len(regTimerNames) {
		return regTimerNames[t]
	}
	return fmt.Sprintf("RegTimer(%d)", uint8(t))
}

// RegEventKind says what happened.
type RegEventKind uint8

const (
	// RegPowerOn: a new boot cycle; CallID is its REGISTER Call-ID.
	RegPowerOn RegEventKind = iota
	// RegPowerOff: the power was cut: nothing more is sent (spec §3.2.4).
	RegPowerOff
	// RegRegisterOK: a REGISTER got 200 OK; Granted is the expiry given.
	RegRegisterOK
	// RegRegisterRefused: a REGISTER got a final non-2xx answer (Status).
	RegRegisterRefused
	// RegRegisterUnanswered: a REGISTER got no answer in time (Reason).
	RegRegisterUnanswered
	// RegTimerFired: Timer of generation Gen is due.
	RegTimerFired
	// RegOptionsAnswered: the PBX answered the keep-alive OPTIONS.
	RegOptionsAnswered
	// RegOptionsUnanswered: it did not (Reason).
	RegOptionsUnanswered
	// RegLogOff: the phone logs off (Reason: its own log-off, an update
	// order of spec §3.2.5): un-REGISTER, and no retry.
	RegLogOff
	// RegForcedOff: the PBX logged the phone off (NOTIFY, spec §3.2.3):
	// no un-REGISTER, no retry.
	RegForcedOff
	// RegUnregisterDone: the un-REGISTER was answered, or not (Reason).
	RegUnregisterDone
	// RegKeepTrying: a REGISTER the phone's owner sent failed and the phone
	// is to go on trying (after an update order, spec §3.2.5).
	RegKeepTrying
)

var regEventNames = [...]string{"power-on", "power-off", "register-ok", "register-refused",
	"register-unanswered", "timer", "options-answered", "options-unanswered", "log-off",
	"forced-off", "unregister-done", "keep-trying"}

func (k RegEventKind) String() string {
	if int(k) < len(regEventNames) {
		return regEventNames[k]
	}
	return fmt.Sprintf("RegEventKind(%d)", uint8(k))
}

// RegEvent is one input to Registration.Step.
type RegEvent struct {
	Kind    RegEventKind
	CallID  string        // RegPowerOn
	Granted time.Duration // RegRegisterOK
	Status  string        // RegRegisterRefused, e.g. "403 Forbidden"
	Reason  string        // why, in words
	Timer   RegTimer      // RegTimerFired
	Gen     uint64        // RegTimerFired
}

// RegActionKind says what the driver must do.
type RegActionKind uint8

const (
	// RegSendRegister: send REGISTER with CallID, CSeq, Expiry and report
	// the answer (RegRegisterOK, RegRegisterRefused, RegRegisterUnanswered).
	RegSendRegister RegActionKind = iota
	// RegSendUnregister: REGISTER with Expires 0; report RegUnregisterDone.
	RegSendUnregister
	// RegSendOptions: the keep-alive OPTIONS; report RegOptionsAnswered or
	// RegOptionsUnanswered.
	RegSendOptions
	// RegArm: arm Timer (generation Gen) to fire After from now, replacing
	// its previous arming.
	RegArm
	// RegCancel: stop Timer.
	RegCancel
	// RegBecameRegistered: the phone is registered (Granted): the rest of
	// the phone may take recording INVITEs again (spec §3.2).
	RegBecameRegistered
	// RegLostRegistration: the phone is logged off (Reason): it sends BYE
	// to the recorder if a session is up, before any un-REGISTER (spec
	// §3.2: "The telephone sends BYE to the logger when the telephone makes
	// an un-registration").
	RegLostRegistration
	// RegNote: a line for the trace.
	RegNote
)

var regActionNames = [...]string{"send-register", "send-unregister", "send-options", "arm", "cancel",
	"registered", "lost", "note"}

func (k RegActionKind) String() string {
	if int(k) < len(regActionNames) {
		return regActionNames[k]
	}
	return fmt.Sprintf("RegActionKind(%d)", uint8(k))
}

// RegAction is one thing for the driver to do, in order.
type RegAction struct {
	Kind    RegActionKind
	CallID  string        // RegSendRegister, RegSendUnregister
	CSeq    uint32        // RegSendRegister, RegSendUnregister
	Expiry  time.Duration // RegSendRegister
	Timer   RegTimer      // RegArm, RegCancel
	Gen     uint64        // RegArm
	After   time.Duration // RegArm
	Granted time.Duration // RegBecameRegistered
	Reason  string        // RegLostRegistration; RegNote's text
}

func (a RegAction) String() string {
	switch a.Kind {
	case RegSendRegister:
		return fmt.Sprintf("send REGISTER cseq %d expires %s", a.CSeq, a.Expiry)
	case RegSendUnregister:
		return fmt.Sprintf("send REGISTER cseq %d expires 0", a.CSeq)
	case RegSendOptions:
		return "send OPTIONS"
	case RegArm:
		return fmt.Sprintf("arm %s %s #%d", a.Timer, a.After, a.Gen)
	case RegCancel:
		return fmt.Sprintf("cancel %s", a.Timer)
	case RegBecameRegistered:
		return fmt.Sprintf("registered, expires %s", a.Granted)
	case RegLostRegistration:
		return "lost registration: " + a.Reason
	case RegNote:
		return "note: " + a.Reason
	}
	return a.Kind.String()
}

// NewRegistration is a powered-off phone's registration. expiry is what it
// asks the registrar for, keepAlive its OPTIONS interval (0: none) and
// retry how often it registers again after losing the gatekeeper.
func NewRegistration(expiry, keepAlive, retry time.Duration) *Registration {
	return &Registration{expiry: expiry, keepAlive: keepAlive, retry: retry}
}

// State is where the registration stands.
func (r *Registration) State() RegState { return r.state }

// Registered reports whether the PBX holds the phone's binding.
func (r *Registration) Registered() bool { return r.state == RegRegistered }

// Register is what the phone's owner asks for: the REGISTER to send now.
// It is refused (ok false) when the phone is powered off.
func (r *Registration) Register() (RegAction, bool) {
	if r.state == RegOff {
		return RegAction{}, false
	}
	return r.sendRegister(), true
}

// Unregister is the phone's own log-off: the actions, or ok false when the
// phone is not registered.
func (r *Registration) Unregister(reason string) ([]RegAction, bool) {
	if r.state != RegRegistered {
		return nil, false
	}
	return r.Step(RegEvent{Kind: RegLogOff, Reason: reason}), true
}

// Step takes one event and returns what to do, in order.
func (r *Registration) Step(ev RegEvent) []RegAction {
	switch ev.Kind {
	case RegPowerOn:
		// RFC 3261 §10.2.4: one Call-ID per boot cycle; a new one tells the
		// registrar the phone started again (spec §3.2.4, §3.2.5).
		r.state, r.callID, r.cseq, r.retrying = RegIdle, ev.CallID, 0, false
		return nil
	case RegPowerOff:
		// Spec §3.2.4: power cut, nothing is sent; the timers go.
		was := r.state
		r.state, r.retrying = RegOff, false
		acts := r.cancelAll()
		if was == RegRegistered {
			acts = append(acts, RegAction{Kind: RegLostRegistration, Reason: "power off"})
		}
		return acts
	}
	if r.state == RegOff {
		return nil // a late answer or timer of a cycle that is over
	}
	switch ev.Kind {
	case RegRegisterOK:
		if r.state == RegRegistered { // a refresh: the keep-alive goes on as it was
			return []RegAction{
				r.arm(TimerRefresh, ev.Granted/2),
				{Kind: RegNote, Reason: fmt.Sprintf("registration refreshed (expires %ds)", int(ev.Granted/time.Second))},
			}
		}
		r.state, r.retrying = RegRegistered, false
		acts := []RegAction{
			{Kind: RegCancel, Timer: TimerRetry},
			{Kind: RegBecameRegistered, Granted: ev.Granted},
			r.arm(TimerRefresh, ev.Granted/2), // docs/wire.md: refresh at half the granted expiry
		}
		return r.armKeepAlive(acts)
	case RegRegisterRefused:
		switch r.state {
		case RegRegistered: // a refused refresh: the PBX no longer has us
			return r.lose(RegIdle, "registration refresh refused: "+ev.Status)
		case RegRetrying:
			return []RegAction{r.arm(TimerRetry, r.retry)}
		}
		return nil // the owner's own REGISTER: its caller hears the answer
	case RegRegisterUnanswered:
		switch r.state {
		case RegRegistered:
			return r.gatekeeperLost("registrar does not answer the refresh (" + ev.Reason + ")")
		case RegRetrying:
			return []RegAction{r.arm(TimerRetry, r.retry)}
		}
		return nil
	case RegKeepTrying:
		if r.state == RegRegistered {
			return nil
		}
		r.state = RegRetrying
		return []RegAction{r.arm(TimerRetry, r.retry)}
	case RegTimerFired:
		if ev.Timer >= regTimers || ev.Gen != r.gen[ev.Timer] {
			return nil // re-armed or cancelled since: stale
		}
		switch {
		case ev.Timer == TimerRefresh && r.state == RegRegistered:
			return []RegAction{r.sendRegister()}
		case ev.Timer == TimerKeepAlive && r.state == RegRegistered:
			return []RegAction{{Kind: RegSendOptions}}
		case ev.Timer == TimerRetry && r.state == RegRetrying:
			return []RegAction{r.sendRegister()}
		}
		return nil
	case RegOptionsAnswered:
		if r.state != RegRegistered {
			return nil
		}
		return r.armKeepAlive(nil)
	case RegOptionsUnanswered:
		if r.state != RegRegistered {
			return nil
		}
		return r.gatekeeperLost("PBX does not answer the keep-alive OPTIONS (" + ev.Reason + ")")
	case RegLogOff:
		if r.state != RegRegistered {
			return nil
		}
		acts := r.lose(RegIdle, ev.Reason)
		return append(acts, r.sendUnregister())
	case RegForcedOff:
		if r.state != RegRegistered {
			return nil
		}
		return r.lose(RegIdle, ev.Reason)
	case RegUnregisterDone:
		if !r.retrying {
			return nil
		}
		r.retrying = false
		var acts []RegAction
		if ev.Reason != "" {
			acts = append(acts, RegAction{Kind: RegNote, Reason: fmt.Sprintf("un-REGISTER unanswered (%s); registering again every %s", ev.Reason, r.retry)})
		}
		return append(acts, r.arm(TimerRetry, r.retry))
	}
	return nil
}

// gatekeeperLost is spec §3.2.6: "The telephone will try to unregister and
// it will send a BYE message to the recording system if there is an active
// SIP session. Then the telephone will try to register": logged off (the
// driver sends the BYE), an un-REGISTER nobody may answer, then REGISTER
// every retry interval until the PBX answers.
func (r *Registration) gatekeeperLost(why string) []RegAction {
	acts := r.lose(RegRetrying, why+" (spec §3.2.6)")
	r.retrying = true
	return append(acts, r.sendUnregister())
}

func (r *Registration) lose(next RegState, why string) []RegAction {
	r.state = next
	acts := r.cancelAll()
	return append(acts, RegAction{Kind: RegLostRegistration, Reason: why})
}

func (r *Registration) cancelAll() []RegAction {
	acts := make([]RegAction, 0, regTimers+1)
	for t := range regTimers {
		r.gen[t]++ // whatever is still armed is stale now
		acts = append(acts, RegAction{Kind: RegCancel, Timer: t})
	}
	return acts
}

func (r *Registration) arm(t RegTimer, after time.Duration) RegAction {
	r.gen[t]++
	return RegAction{Kind: RegArm, Timer: t, Gen: r.gen[t], After: after}
}

// armKeepAlive appends the next keep-alive's arming, if the phone has one.
func (r *Registration) armKeepAlive(acts []RegAction) []RegAction {
	if r.keepAlive <= 0 {
		return acts
	}
	return append(acts, r.arm(TimerKeepAlive, r.keepAlive))
}

func (r *Registration) sendRegister() RegAction {
	r.cseq++
	return RegAction{Kind: RegSendRegister, CallID: r.callID, CSeq: r.cseq, Expiry: r.expiry}
}

func (r *Registration) sendUnregister() RegAction {
	r.cseq++
	return RegAction{Kind: RegSendUnregister, CallID: r.callID, CSeq: r.cseq}
}

// SetExpiry changes what the phone asks for from its next REGISTER on (a
// new configuration file, spec §3.2.5).
func (r *Registration) SetExpiry(d time.Duration) { r.expiry = d }

// TakeCSeq is the CSeq of a REGISTER the driver sends again within one
// action: the answer to a digest challenge (RFC 3261 §22.2: the same
// Call-ID, the next CSeq).
func (r *Registration) TakeCSeq() uint32 {
	r.cseq++
	return r.cseq
}
