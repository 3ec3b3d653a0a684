package phones

import "net/netip"

// The phone's loop: one goroutine, started by New, owns the phone's state
// (design.md "Time, loops and state"). Everything that happens to the
// phone reaches it as an event: a closure that runs on the loop, reads and
// changes the state, steps the cores and performs their actions that do
// not block. What blocks on the network (WriteInvite, WaitAnswer, BYE, a
// REGISTER or OPTIONS transaction, an INVITE server transaction waiting
// for its ACK) runs on a goroutine of its own, the caller's or the sipgo
// handler's, and posts its outcome back as the next event. A closure never
// posts to the loop itself (it would wait for itself).
//
// State is answered by the loop, so it is as new as the last note or
// typed state the phone published. What derives from the configuration
// (Ext, UserAgent, SIPAddr, RecordingAddr) is read from a view the loop
// publishes whenever the configuration changes, so that errors and notes
// can name the extension from anywhere.

// phoneView is what the loop publishes for readers off the loop.
type phoneView struct {
	ext, ua          string
	sipAddr, recAddr netip.AddrPort
}

// run is the loop. A phone has no end (a lab removes no phone), so the
// loop has none either: it waits on inbox at no cost.
func (p *Phone) run() {
	for f := range p.inbox {
		f()
	}
}

// do runs f on the loop and returns when it has run. It must not be
// called from the loop.
func (p *Phone) do(f func()) {
	done := make(chan struct{})
	p.inbox <- func() {
		defer close(done)
		f()
	}
	<-done
}

// stateOnLoop is the phone's State but for the RTP counters.
func (p *Phone) stateOnLoop() State {
	return State{
		Powered:           p.pw != nil,
		Registered:        p.reg.Registered(),
		Recording:         p.rec.State(),
		Call:              p.call.State(),
		Remote:            p.call.Remote(),
		CallError:         p.call.Err(),
		Calls:             p.call.Calls(),
		RecordingSessions: p.recSessions,
		SRTP:              p.leg.callSuite(),
	}
}

// publishView publishes what derives from the configuration (on the loop,
// or before it starts).
func (p *Phone) publishView() {
	p.view.Store(&phoneView{
		ext:     p.ext,
		ua:      p.ua,
		sipAddr: p.node.AddrPort(uint16(p.cfg.SIPPort(p.model))),
		recAddr: p.node.AddrPort(uint16(p.cfg.RecordingPort(p.model))),
	})
}
