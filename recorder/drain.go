package recorder

import "time"

// The drain grace (wire.md "Recording session"). A phone forks until it
// gets the recorder's BYE (spec §3.2), or until its call ends; the copies it
// sent just before are still on the wire when the BYE's 200 OK, the phone's
// own BYE or the CSTA ConnectionClearedEvent reaches the recorder. So a file
// past its end stays open for a grace before it closes:
//
//	grace = 2 × RTT + drainMargin, within [drainMin, drainMax]
//
// where RTT is the larger of the session's latest answered SIP transaction
// (INVITE, UPDATE, re-INVITE, BYE → 200 OK) and the time from its latest
// ACK to the first forked copy: the latter is a round trip across both links
// that matter (recorder → phone over SIP, phone → recorder over RTP), so a
// slow media path counts even when signalling is fast.
const (
	drainMargin = 20 * time.Millisecond
	drainMin    = 40 * time.Millisecond
	drainMax    = 2 * time.Second
)

// drainGrace is how long s's file past its end stays open.
func drainGrace(sipRTT, forkRTT time.Duration) time.Duration {
	rtt := max(sipRTT, forkRTT)
	return min(max(2*rtt+drainMargin, drainMin), drainMax)
}

// armDrain keeps call's file open for the grace, then feeds InDrained.
func (r *Recorder) armDrain(s *session, call Call) {
	grace := drainGrace(s.sipRTT, time.Duration(s.sink.forkRTT.Load()))
	r.node.Note("recording %s of %s: open %s more for what the phone forked before it stopped (round trip SIP %s, ACK to first copy %s)",
		call.ID, s.ext, grace, s.sipRTT.Round(time.Millisecond), time.Duration(s.sink.forkRTT.Load()).Round(time.Millisecond))
	if s.drain != nil {
		s.drain.Stop()
	}
	s.drain = r.node.Clock().AfterFunc(grace, func() {
		r.post(sessionEvent{s: s, in: Input{Kind: InDrained, Call: call}})
	})
}
