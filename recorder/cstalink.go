package recorder

import (
	"context"
	"time"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
)

// The CSTA client's driver (spec §3.1). The decisions are CSTAMonitors'
// (cstamonitors.go); this goroutine owns the core and the TCP link: it
// dials, sends, reads (through one reader goroutine per connection), times
// the keep-alive and the reconnect on the lab clock, and feeds the
// outcomes to the core. What the PBX reports about a monitored extension
// goes to the recorder's loop as a cstaEvent naming it, so the loop never
// sees crossRefIDs.

// cstaEvent is a PBX event for the loop. ext is the monitored extension the
// event's monitor belongs to (for BackInService/OutOfService: the device).
type cstaEvent struct {
	ext string
	msg csta.Message
}

// cstaConn is one connection to the PBX and its reader.
type cstaConn struct {
	link       *csta.Conn
	in         chan CSTAEvent // what the reader read: CSTAReceived, CSTAFrameRefused, CSTALost
	closed     chan struct{}  // closed by close: the reader stops handing over
	readerDone chan struct{}
}

func (c *cstaConn) read() {
	defer close(c.readerDone)
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
		case c.in <- ev:
		case <-c.closed:
			return
		}
		if ev.Kind == CSTALost {
			return
		}
	}
}

func (c *cstaConn) close() {
	c.link.Close()
	close(c.closed)
	<-c.readerDone
}

// runCSTA keeps a CSTA link up until ctx ends. Every failure is reported in
// the trace and followed by a reconnect; it never gives up.
func (r *Recorder) runCSTA(ctx context.Context) {
	defer close(r.cstaDone)
	core := NewCSTAMonitors(r.cfg.CSTA.String(), r.cfg.Monitored, r.cfg.CSTAKeepAlive)
	var (
		conn      *cstaConn
		keepAlive *sim.Ticker
		reconnect *sim.Timer
	)
	defer func() {
		if conn != nil {
			conn.close()
		}
		if keepAlive != nil {
			keepAlive.Stop()
		}
		if reconnect != nil {
			reconnect.Stop()
		}
	}()
	// perform does the actions in order; an outcome that is the core's next
	// event (a dial's, a failed send's) is stepped at once.
	var perform func([]CSTAAction)
	step := func(ev CSTAEvent) { perform(core.Step(r.net.Now(), ev)) }
	perform = func(acts []CSTAAction) {
		for _, a := range acts {
			switch a.Kind {
			case CSTADial:
				nc, err := r.node.Dial(r.cfg.CSTA)
				if err != nil {
					step(CSTAEvent{Kind: CSTADialFailed, Err: err.Error()})
					continue
				}
				conn = &cstaConn{link: csta.NewConn(nc), in: make(chan CSTAEvent, 64), closed: make(chan struct{}), readerDone: make(chan struct{})}
				go conn.read()
				step(CSTAEvent{Kind: CSTAConnected})
			case CSTASend:
				if !core.Connected() {
					continue // an earlier send of this step lost the link
				}
				if err := conn.link.Send(a.InvokeID, a.Msg); err != nil {
					step(CSTAEvent{Kind: CSTASendFailed, Err: err.Error()})
				}
			case CSTAStartKeepAlive:
				if core.Connected() {
					keepAlive = r.node.Clock().NewTicker(a.After)
				}
			case CSTADeliver:
				r.post(cstaEvent{ext: a.Ext, msg: a.Msg})
			case CSTAPublish:
				r.node.Publish(a.Link)
			case CSTANote:
				r.node.Note("%s", a.Text)
			case CSTAError:
				r.net.Errorf(r.node.Name(), r.cfg.CSTA, "%s", a.Text)
			case CSTAClose:
				if keepAlive != nil {
					keepAlive.Stop()
					keepAlive = nil
				}
				if conn != nil {
					conn.close()
					conn = nil
				}
			case CSTAReconnect:
				reconnect = r.node.Clock().NewTimer(a.After)
			}
		}
	}
	step(CSTAEvent{Kind: CSTAStart})
	for {
		var in <-chan CSTAEvent
		if conn != nil {
			in = conn.in
		}
		var tick, redial <-chan time.Time
		if keepAlive != nil {
			tick = keepAlive.C
		}
		if reconnect != nil {
			redial = reconnect.C
		}
		select {
		case <-ctx.Done():
			return
		case ev := <-in:
			step(ev)
		case <-tick:
			step(CSTAEvent{Kind: CSTAKeepAliveDue})
		case <-redial:
			reconnect = nil
			step(CSTAEvent{Kind: CSTAReconnectDue})
		}
	}
}
