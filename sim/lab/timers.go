package lab

import "time"

// Timers are the protocol timers a topology can shorten so that a story
// about a 30-second keep-alive runs in a few seconds. Zero keeps each
// node's default. (The recording keep-alive is RecorderSpec.KeepAlive and
// the registration period Topology.RegisterExpiry; SIP T1 is a process
// global, sip.SetTimers, set by whoever runs the lab.)
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
