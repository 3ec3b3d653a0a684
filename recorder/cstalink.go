package recorder

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
)

// The CSTA client's driver (spec §3.1), on the recorder's loop. The
// decisions are CSTAMonitors' (cstamonitors.go); the loop steps it and
// performs its actions. What waits on the network runs off the loop and
// posts its outcome: the dial on a goroutine of its own, the reading on
// one reader goroutine per connection. The keep-alive ticks on a lab-clock
// ticker the loop selects on, the reconnect is a lab-clock timer that
// posts. Sends are one Write each into the connection (the lab's impairments
// hold delayed bytes without blocking the writer), so the loop does them.
// What the PBX reports about a monitored extension goes to the recording
// policy under that extension, so the loop's policy never sees crossRefIDs.

// cstaClient is the loop's CSTA state.
type cstaClient struct {
	core      *CSTAMonitors
	conn      *cstaConn   // the current connection, nil while down
	keepAlive *sim.Ticker // while connected
	redial    *sim.Timer
	stopped   bool           // the link was stopped (Close, or Start's ctx ended)
	helpers   sync.WaitGroup // dial and reader goroutines; Close waits for them
}

// cstaEvent is a PBX event for the policy. ext is the monitored extension
// the event's monitor belongs to (for BackInService/OutOfService: the
// device).
type cstaEvent struct {
	ext string
	msg csta.Message
}

// Events of the CSTA driver for the loop.
type (
	cstaLinkEvent struct { // what a connection's reader read
		conn *cstaConn
		ev   CSTAEvent
	}
	cstaDialed struct {
		nc   *sim.Conn
		link *csta.Conn // on nc, its ECMA-354 session started if one is asked for
		err  error
	}
	cstaStart     struct{} // the loop's first event
	cstaRedialDue struct{}
	cstaStop      struct{} // end the link for good
)

// cstaConn is one connection to the PBX.
type cstaConn struct {
	link   *csta.Conn
	closed chan struct{} // closed by close: the reader stops handing over
}

func (c *cstaConn) close() {
	c.link.Close()
	close(c.closed)
}

// startCSTA starts the link; ctx ending stops it. Before the loop runs.
func (r *Recorder) startCSTA(ctx context.Context) {
	r.csta.core = NewCSTAMonitors(r.cfg.CSTA.String(), r.cfg.Monitored, r.cfg.CSTAKeepAlive)
	r.post(cstaStart{})
	go func() {
		<-ctx.Done()
		r.post(cstaStop{})
	}()
}

// onCSTALink handles the driver's events; on the loop.
func (r *Recorder) onCSTALink(ev any) {
	c := &r.csta
	if c.stopped {
		if d, ok := ev.(cstaDialed); ok && d.err == nil {
			d.nc.Close()
		}
		return
	}
	switch ev := ev.(type) {
	case cstaLinkEvent:
		if ev.conn == c.conn { // else a connection already closed
			r.cstaStep(ev.ev)
		}
	case cstaDialed:
		if ev.err != nil {
			r.cstaStep(CSTAEvent{Kind: CSTADialFailed, Err: ev.err.Error()})
			return
		}
		c.conn = &cstaConn{link: ev.link, closed: make(chan struct{})}
		c.helpers.Add(1)
		go r.readCSTA(c.conn)
		r.cstaStep(CSTAEvent{Kind: CSTAConnected})
	case cstaStart:
		r.cstaStep(CSTAEvent{Kind: CSTAStart})
	case cstaRedialDue:
		c.redial = nil
		r.cstaStep(CSTAEvent{Kind: CSTAReconnectDue})
	case cstaStop:
		c.stopped = true
		r.cstaPerform([]CSTAAction{{Kind: CSTAClose}})
		if c.redial != nil {
			c.redial.Stop()
		}
		close(r.cstaDone)
	}
}

// cstaTick is the keep-alive ticker's channel; nil while there is none.
func (r *Recorder) cstaTick() <-chan time.Time {
	if r.csta.keepAlive == nil {
		return nil
	}
	return r.csta.keepAlive.C
}

func (r *Recorder) cstaStep(ev CSTAEvent) {
	r.cstaPerform(r.csta.core.Step(r.net.Now(), ev))
}

// cstaPerform does the core's actions in order; an outcome that is the
// core's next event (a failed send) is stepped at once.
func (r *Recorder) cstaPerform(acts []CSTAAction) {
	c := &r.csta
	for _, a := range acts {
		switch a.Kind {
		case CSTADial:
			c.helpers.Add(1)
			go func() {
				defer c.helpers.Done()
				nc, err := r.node.Dial(r.cfg.CSTA)
				var link *csta.Conn
				if err == nil {
					link, err = r.cstaLinkOn(nc)
				}
				if err == nil {
					if r.cfg.CSTAPassword != "" { // the switch asks for an application session first (docs/wire.md)
						if _, err = csta.StartSession(link, "reclab-recorder", r.cfg.CSTAPassword, sim.SocketDeadline(r.cfg.CSTAKeepAlive)); err != nil {
							nc.Close()
						}
					}
				}
				select {
				case r.events <- cstaDialed{nc: nc, link: link, err: err}:
				case <-r.loopDone:
					if err == nil {
						nc.Close()
					}
				}
			}()
		case CSTASend:
			if c.conn == nil || !c.core.Connected() {
				continue // an earlier send of this step lost the link
			}
			if err := c.conn.link.Send(a.InvokeID, a.Msg); err != nil {
				r.cstaStep(CSTAEvent{Kind: CSTASendFailed, Err: err.Error()})
			}
		case CSTAStartKeepAlive:
			c.keepAlive = r.node.Clock().NewTicker(a.After)
		case CSTADeliver:
			if !r.closing {
				r.onCSTA(cstaEvent{ext: a.Ext, msg: a.Msg})
			}
		case CSTAPublish:
			r.node.Publish(a.Link)
			if !a.Link.Up {
				r.linkLost()
			}
		case CSTANote:
			r.node.Note("%s", a.Text)
		case CSTAError:
			r.net.Errorf(r.node.Name(), r.cfg.CSTA, "%s", a.Text)
		case CSTAClose:
			if c.keepAlive != nil {
				c.keepAlive.Stop()
				c.keepAlive = nil
			}
			if c.conn != nil {
				c.conn.close() // its reader ends by itself
				c.conn = nil
			}
		case CSTAReconnect:
			c.redial = r.node.Clock().AfterFunc(a.After, func() { r.post(cstaRedialDue{}) })
		}
	}
}

// cstaLinkOn makes the CSTA link on a dialled conn: plain, or TLS on it
// (Config.CSTATLS) with the handshake done here, off the loop, so a
// certificate the recorder does not trust is a dial failure naming it.
func (r *Recorder) cstaLinkOn(nc *sim.Conn) (*csta.Conn, error) {
	if r.cfg.CSTATLS == nil {
		return csta.NewConn(nc), nil
	}
	conf := r.cfg.CSTATLS.Clone()
	if conf.ServerName == "" {
		conf.ServerName = r.cfg.CSTA.Addr().String()
	}
	tc := tls.Client(nc, conf)
	tc.SetDeadline(sim.SocketDeadline(r.cfg.CSTAKeepAlive))
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("recorder: CSTA over TLS to %s: %w", r.cfg.CSTA, err)
	}
	tc.SetDeadline(time.Time{})
	return csta.NewConn(tc), nil
}

// readCSTA reads one connection until it fails or is closed, handing what
// it reads to the loop.
func (r *Recorder) readCSTA(c *cstaConn) {
	defer r.csta.helpers.Done()
	for {
		id, m, err := c.link.Recv()
		ev := CSTAEvent{Kind: CSTAReceived, InvokeID: id, Msg: m}
		switch {
		case csta.Recoverable(err):
			ev = CSTAEvent{Kind: CSTAFrameRefused, InvokeID: id, Err: err.Error()}
		case err != nil:
			ev = CSTAEvent{Kind: CSTALost, Err: err.Error()}
		}
		select {
		case r.events <- cstaLinkEvent{conn: c, ev: ev}:
		case <-c.closed:
			return
		case <-r.loopDone:
			return
		}
		if ev.Kind == CSTALost {
			return
		}
	}
}

// linkLost marks every session with a call as unsure: the call's
// ConnectionCleared may be lost with the link, and the PBX does not send it
// again when the link is back (callGone).
func (r *Recorder) linkLost() {
	now := r.net.Now()
	for _, s := range r.sessions {
		if _, ok := s.core.Current(); ok && s.unsureSince == 0 {
			s.unsureSince = now + 1
		}
	}
}

// callGone ends a call whose end the recorder cannot have seen: the CSTA
// link was lost during it (a blackhole, a PBX restart) and the phone has
// forked nothing for a whole keep-alive interval, so its call is over
// (spec §3.2: the phone forks until the recorder's BYE; it stops only
// when its call ends). It is taken as cleared, as a ConnectionCleared
// would have done: in dynamic mapping the session ends with BYE and the
// phone's "rec forking" goes (issue 12); in static mapping the file closes
// and the session stays (spec §3.1). It reports whether it did.
func (r *Recorder) callGone(s *session) bool {
	call, ok := s.core.Current()
	if s.unsureSince == 0 || !ok {
		s.unsureSince = 0
		return false
	}
	now := r.net.Now()
	quietFrom := max(s.sink.last(), s.unsureSince-1)
	if now-quietFrom < r.cfg.KeepAlive {
		return false
	}
	s.unsureSince = 0
	r.node.Note("recording session %s: no media from %s for %s since the CSTA link was lost: %s taken as cleared",
		s.name, s.ext, (now - quietFrom).Round(time.Millisecond), call)
	r.policyStep(PolicyEvent{Kind: PolicyCleared, Ext: s.ext, Call: Call{ID: call.ID}})
	r.callCleared(s.ext, call.ID)
	return r.sessions[s.key] != s || s.core.State() != SessionRecording
}
