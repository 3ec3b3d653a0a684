package lab

import (
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Timers are the protocol timers a topology can shorten so that a story
// about a 30-second keep-alive runs in a few seconds. Zero keeps each
// node's default. (The recording keep-alive is RecorderSpec.KeepAlive and
// the registration period Topology.RegisterExpiry; SIP T1 is a process
// global: SetSIPTimers.)
type Timers struct {
	RegisterRetry time.Duration // a phone whose registrar went quiet retries this often (spec §3.2.6)
	CSTAKeepAlive time.Duration // SystemStatus both ways between PBX and recorder
	StreamIdle    time.Duration // an RTP stream this long quiet is reported stopped
	// PhoneKeepAlive: a registered phone sends OPTIONS to the PBX this often
	// and logs off when none is answered (spec §3.2.6).
	PhoneKeepAlive time.Duration
	// AnswerTimeout: the recorder's INVITE, UPDATE, re-INVITE and BYE count
	// as unanswered after this (spec §3.2.2); default max(KeepAlive, 1s).
	AnswerTimeout time.Duration
	// InviteRetransmit: the recorder sends a second INVITE with the same
	// session id after this (spec §3.2.1); default half of AnswerTimeout.
	InviteRetransmit time.Duration
}

var (
	sipT1Mu sync.Mutex
	sipT1   = sip.T1
)

// SetSIPTimers sets sipgo's transaction timers, which are process-wide
// (sip.SetTimers): T1 (0 is RFC 3261 §17.1.1.1's 500 ms), T2 = 8·T1 and
// T4 = 10·T1. Whoever runs labs calls it before a lab starts; labs of one
// process share it, so runs that need different values run one after another.
func SetSIPTimers(t1 time.Duration) {
	if t1 == 0 {
		t1 = 500 * time.Millisecond
	}
	sipT1Mu.Lock()
	defer sipT1Mu.Unlock()
	if t1 != sipT1 {
		sip.SetTimers(t1, 8*t1, 10*t1)
		sipT1 = t1
	}
}
