package recorder

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
)

// The CSTA client (spec §3.1: "the extensions that shall have the voice
// recording possibilities must be monitored via the CSTA interface"). It
// owns the TCP link: connect, MonitorStart for each extension, SystemStatus
// keep-alive both ways, reconnect with backoff. What the PBX reports goes to
// the recorder's loop as a cstaEvent naming the monitored extension, so the
// loop never sees crossRefIDs.

const (
	reconnectFirst = 100 * time.Millisecond
	reconnectMax   = 5 * time.Second
)

// cstaEvent is a PBX event for the loop. ext is the monitored extension the
// event's monitor belongs to (for BackInService/OutOfService: the device).
type cstaEvent struct {
	ext string
	msg csta.Message
}

// runCSTA keeps a CSTA link up until ctx ends. Every failure is reported in
// the trace and followed by a reconnect; it never gives up.
func (r *Recorder) runCSTA(ctx context.Context) {
	defer close(r.cstaDone)
	wait := reconnectFirst
	for {
		up, err := r.cstaLink(ctx)
		if ctx.Err() != nil {
			return
		}
		if up {
			wait = reconnectFirst // the link worked; start the backoff afresh
		}
		r.net.Errorf(r.node.Name(), r.cfg.CSTA, "CSTA link: %v; reconnecting in %s", err, wait)
		if up {
			r.node.Publish(CSTALinkState{PBX: r.cfg.CSTA.String(), Cause: err.Error()})
		}
		t := r.node.Clock().NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, reconnectMax)
	}
}

type received struct {
	invokeID int
	msg      csta.Message
}

// cstaLink runs one connection until it fails or ctx ends. up reports
// whether the connection was made.
func (r *Recorder) cstaLink(ctx context.Context) (up bool, err error) {
	nc, err := r.node.Dial(r.cfg.CSTA)
	if err != nil {
		return false, err
	}
	link := csta.NewConn(nc)
	if r.cfg.CSTAPassword != "" { // the switch asks for an application session first (docs/wire.md)
		if _, err := csta.StartSession(link, "reclab-recorder", r.cfg.CSTAPassword, sim.SocketDeadline(r.cfg.CSTAKeepAlive)); err != nil {
			link.Close()
			return false, err
		}
	}
	r.node.Note("CSTA link to %s up", r.cfg.CSTA)

	msgs := make(chan received, 64)
	readErr := make(chan error, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			id, m, err := link.Recv()
			if csta.Recoverable(err) {
				// One bad frame; the link goes on (design.md "CSTA").
				r.net.Errorf(r.node.Name(), r.cfg.CSTA, "CSTA frame %04d refused: %v", id, err)
				continue
			}
			if err != nil {
				readErr <- err
				return
			}
			select {
			case msgs <- received{id, m}:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		link.Close()
		<-readerDone
	}()

	// MonitorStart for every extension at once; the answers come by invokeID.
	pending := map[int]string{}     // invokeID → extension
	monitors := map[string]string{} // crossRefID → extension
	for _, ext := range r.cfg.Monitored {
		id := link.NextInvokeID()
		if err := link.Send(id, csta.MonitorStart{Device: ext}); err != nil {
			return true, err
		}
		pending[id] = ext
	}
	if len(pending) == 0 {
		r.publishLink(pending, monitors, "no extension to monitor")
	}

	keepAlive := r.node.Clock().NewTicker(r.cfg.CSTAKeepAlive)
	defer keepAlive.Stop()
	statusID := 0 // invokeID of our unanswered SystemStatus, 0 for none
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case err := <-readErr:
			return true, fmt.Errorf("lost: %w", err)
		case <-keepAlive.C:
			if statusID != 0 {
				return true, fmt.Errorf("SystemStatus %04d unanswered for %s; dropping the link", statusID, r.cfg.CSTAKeepAlive)
			}
			statusID = link.NextInvokeID()
			if err := link.Send(statusID, csta.SystemStatus{Status: csta.StatusNormal}); err != nil {
				return true, err
			}
		case in := <-msgs:
			if err := r.cstaReceived(link, in, pending, monitors, &statusID); err != nil {
				return true, err
			}
		}
	}
}

// cstaReceived handles one message of the link; an error ends the link.
func (r *Recorder) cstaReceived(link *csta.Conn, in received, pending map[int]string, monitors map[string]string, statusID *int) error {
	node := r.node.Name()
	switch m := in.msg.(type) {
	case csta.MonitorStartResponse:
		ext, ok := pending[in.invokeID]
		if !ok {
			r.net.Errorf(node, r.cfg.CSTA, "CSTA MonitorStartResponse %04d answers no MonitorStart of ours", in.invokeID)
			return nil
		}
		delete(pending, in.invokeID)
		monitors[m.CrossRefID] = ext
		r.node.Note("monitoring %s (crossRefID %s)", ext, m.CrossRefID)
		r.publishLink(pending, monitors, "MonitorStartResponse "+ext)
	case csta.ErrorResponse:
		switch ext, ok := pending[in.invokeID]; {
		case ok:
			delete(pending, in.invokeID)
			r.net.Errorf(node, r.cfg.CSTA, "CSTA MonitorStart %s refused: %s/%s", ext, m.Category, m.Value)
			r.publishLink(pending, monitors, fmt.Sprintf("MonitorStart %s refused: %s/%s", ext, m.Category, m.Value))
		case in.invokeID == *statusID:
			*statusID = 0 // answered, if negatively: the PBX is alive
			r.net.Errorf(node, r.cfg.CSTA, "CSTA SystemStatus refused: %s/%s", m.Category, m.Value)
		default:
			r.net.Errorf(node, r.cfg.CSTA, "CSTA error %04d: %s/%s", in.invokeID, m.Category, m.Value)
		}
	case csta.SystemStatus:
		if err := link.Send(in.invokeID, csta.SystemStatusResponse{}); err != nil {
			return err
		}
	case csta.SystemStatusResponse:
		if in.invokeID == *statusID {
			*statusID = 0
		}
	case csta.MonitorStopResponse:
	case csta.BackInServiceEvent:
		r.post(cstaEvent{ext: m.Device, msg: m})
	case csta.OutOfServiceEvent:
		r.post(cstaEvent{ext: m.Device, msg: m})
	case csta.CallEvent:
		f := m.CallFields()
		ext, ok := monitors[f.CrossRefID]
		if !ok {
			r.net.Errorf(node, r.cfg.CSTA, "CSTA %s for crossRefID %q, which is none of our monitors", m.Kind(), f.CrossRefID)
			return nil
		}
		r.post(cstaEvent{ext: ext, msg: m})
	default:
		if csta.IsEvent(m) {
			return nil // events the recorder has no use for
		}
		r.net.Errorf(node, r.cfg.CSTA, "CSTA %s %04d unexpected", m.Kind(), in.invokeID)
	}
	return nil
}

// publishLink publishes the link's state once every MonitorStart is
// answered (CSTALinkState): from then on every call of a monitored
// extension that is established reaches the recorder.
func (r *Recorder) publishLink(pending map[int]string, monitors map[string]string, cause string) {
	if len(pending) > 0 {
		return
	}
	st := CSTALinkState{Up: true, PBX: r.cfg.CSTA.String(), Cause: cause}
	for _, ext := range monitors {
		st.Monitoring = append(st.Monitoring, ext)
	}
	slices.Sort(st.Monitoring)
	r.node.Publish(st)
}
