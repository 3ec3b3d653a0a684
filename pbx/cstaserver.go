package pbx

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
)

// cstaServer is the PBX's CSTA XML interface (ECMA-323 over TCP, design.md
// "CSTA"). Recorders connect, monitor extensions and receive call and
// registration events (spec §3.1: "the extensions that shall have the voice
// recording possibilities must be monitored via the CSTA interface").
//
// Its clients and monitors are the PBX loop's (loop.go): the links' readers
// post their requests to it and queue its answers themselves; the loop sends
// the events, never waiting for a link (deliver).
type cstaServer struct {
	p    *PBX
	r    *run
	ls   []*sim.Listener // CSTA on TCP; with Config.CSTATLS, CSTA over TLS too
	done chan struct{}
	wg   sync.WaitGroup

	// The loop's.
	closed   bool
	clients  map[*cstaClient]bool
	monitors map[string][]monitor // device → monitors
	nextRef  int
}

type cstaClient struct {
	conn *csta.Conn // its NetConn is the link sim handed out
	// out is what the PBX sends the client, in order: responses, events,
	// keep-alives. One writer drains it, so call handling never waits on a
	// client's TCP window; a client that lets it fill is cut (enqueue).
	out      chan queued
	stop     chan struct{} // closed when the client is dropped or the server closes
	stopOnce sync.Once
	refs     map[string]string // the link's monitors: crossRefID → device (the loop's)
	session  appSession        // its ECMA-354 session (cstasession.go); the reader's (serve)
}

type queued struct {
	id int
	m  csta.Message
}

// cstaSendQueue bounds what waits for one client beyond its socket's own
// buffer. A burst of 500 calls set up at once (reclab bench, issue 14)
// makes about 10,000 events in half a second for a recorder monitoring
// every phone, faster than the PBX's one writer per client encodes,
// traces and writes them; at 1,024 the recorder's link was cut in every
// such run (and 75-90% of its sessions never set up) although it read all
// the while. 16,384 holds such a burst (about 400 KB of queue per client);
// a client that really does not read is still cut, a little later.
const cstaSendQueue = 16384

func newCSTAClient(raw net.Conn) *cstaClient {
	return &cstaClient{conn: csta.NewConn(raw), out: make(chan queued, cstaSendQueue), stop: make(chan struct{}), refs: map[string]string{}}
}

// halt stops the client's writer and closes its link.
func (c *cstaClient) halt() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.conn.Close()
}

type monitor struct {
	client *cstaClient
	ref    string
}

// startCSTA listens on the CSTA port and, when the configuration has a TLS
// certificate, on the TLS port (design.md: "CSTA XML 8882/tcp (8883 TLS)").
// TLS runs on sim's traced conn, so the trace and the pcap hold the TLS
// records as they crossed the wire; the lab's key log decrypts them.
func startCSTA(p *PBX, r *run) (*cstaServer, error) {
	s := &cstaServer{p: p, r: r, done: make(chan struct{}), clients: map[*cstaClient]bool{}, monitors: map[string][]monitor{}}
	l, err := p.node.Listen(p.cfg.CSTAPort, sim.ProtoCSTA)
	if err != nil {
		return nil, err
	}
	s.ls = append(s.ls, l)
	if p.cfg.CSTATLS != nil {
		tl, err := p.node.Listen(p.cfg.CSTATLSPort, sim.ProtoCSTA)
		if err != nil {
			l.Close()
			return nil, err
		}
		s.ls = append(s.ls, tl)
	}
	for i, l := range s.ls {
		var conf *tls.Config
		if i == 1 {
			conf = p.cfg.CSTATLS
		}
		s.wg.Add(1)
		go s.accept(l, conf)
	}
	return s, nil
}

// close ends the server; called by Stop once the loop has ended, so the
// clients are Stop's.
func (s *cstaServer) close() {
	if s == nil {
		return
	}
	close(s.done)
	for _, l := range s.ls {
		l.Close()
	}
	s.closed = true
	for c := range s.clients {
		c.halt()
	}
	s.wg.Wait()
}

// accept takes the links of one listener; conf, if set, makes each a TLS
// server on the accepted conn (the handshake runs on the link's first read
// or write, on its own goroutines, so a slow client holds up no other).
func (s *cstaServer) accept(l *sim.Listener, conf *tls.Config) {
	defer s.wg.Done()
	for {
		raw, err := l.Accept()
		if err != nil {
			return
		}
		if from := addrPortOf(raw.RemoteAddr()); !s.allowed(from.Addr()) {
			// CSTA has no login: the link is refused by address, before
			// it can monitor anything (issue 11 item 4).
			s.p.node.Network().Errorf(s.p.node.Name(), from, "CSTA link refused: %s is not among the PBX's allowed CSTA clients %v", from.Addr(), s.p.cfg.CSTAClients)
			raw.Close()
			continue
		}
		link := raw
		if conf != nil {
			link = tls.Server(raw, conf)
		}
		c := newCSTAClient(link)
		added := false
		s.r.do(func() {
			if !s.closed {
				s.clients[c] = true
				added = true
			}
		})
		if !added {
			raw.Close()
			return
		}
		s.p.node.Note("CSTA client connected from %s", raw.RemoteAddr())
		// The switch says it is up as soon as a link opens: clients wait
		// for this SystemStatus before their first request (issue 13).
		c.out <- queued{c.conn.NextInvokeID(), csta.SystemStatus{Status: csta.StatusNormal}}
		s.wg.Add(3)
		go s.serve(c)
		go s.keepAlive(c)
		go s.write(c)
	}
}

// keepAlive sends SystemStatus both ways as design.md says: the PBX side.
func (s *cstaServer) keepAlive(c *cstaClient) {
	defer s.wg.Done()
	t := s.p.node.Clock().NewTicker(s.p.cfg.CSTAKeepAlive)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-c.stop:
			return
		case <-t.C:
			s.r.post(func() { s.deliver(c, c.conn.NextInvokeID(), csta.SystemStatus{Status: csta.StatusNormal}) })
		}
	}
}

func (s *cstaServer) serve(c *cstaClient) {
	defer s.wg.Done()
	defer func() {
		c.halt()
		s.r.post(func() { s.drop(c) })
	}()
	src := addrPortOf(c.conn.NetConn().RemoteAddr())
	for {
		// A link that sends nothing, not even the keep-alive SystemStatus,
		// for three keep-alive periods is dead, and a frame begun and never
		// finished holds nothing open longer (issue 11 item 4).
		c.conn.NetConn().SetReadDeadline(sim.SocketDeadline(3*s.p.cfg.CSTAKeepAlive + time.Second))
		id, m, err := c.conn.Recv()
		if isTimeout(err) {
			s.p.node.Network().Errorf(s.p.node.Name(), src, "CSTA link idle or a frame unfinished for %s: closed", 3*s.p.cfg.CSTAKeepAlive+time.Second)
			s.gone(c, err)
			return
		}
		if err != nil {
			if peerGone(err) {
				s.gone(c, err)
				return
			}
			if csta.Recoverable(err) {
				// design.md: a malformed request closes nothing but itself.
				// docs/wire.md: a well-formed request the PBX does not
				// serve is requestIncompatibleWithObject, a broken one generic.
				s.p.node.Network().Errorf(s.p.node.Name(), src, "CSTA: %v", err)
				value := csta.OperationGeneric
				if errors.Is(err, csta.ErrUnsupported) {
					value = csta.OperationRequestIncompatible
				}
				s.respond(c, respondID(id), csta.ErrorResponse{Category: csta.CategoryOperation, Value: value})
				continue
			}
			s.p.node.Network().Errorf(s.p.node.Name(), src, "CSTA link closed: %v", err)
			return
		}
		if _, answer := m.(csta.SystemStatusResponse); !answer && id == csta.EventInvokeID {
			// design.md "CSTA": requests use 0001–9998; 9999 is the events'.
			s.p.node.Network().Errorf(s.p.node.Name(), src, "CSTA: %s with invokeID 9999 refused: requests use 0001–9998, 9999 is for events", m.Kind())
			s.respond(c, respondID(id), csta.ErrorResponse{Category: csta.CategoryOperation, Value: csta.OperationValueOutOfRange})
			continue
		}
		if s.needsSession(c, m) {
			s.p.node.Network().Errorf(s.p.node.Name(), src, "CSTA: %s refused: the PBX asks for an application session (StartApplicationSession with its password) first", m.Kind())
			s.respond(c, id, csta.ErrorResponse{Category: csta.CategorySecurity, Value: csta.SecurityNoSession})
			continue
		}
		switch m := m.(type) {
		case csta.StartApplicationSession:
			s.startSession(c, id, m)
		case csta.StopApplicationSession:
			s.stopSession(c, id, m)
		case csta.ResetApplicationSessionTimer:
			s.resetSessionTimer(c, id, m)
		case csta.SystemRegister:
			s.systemRegister(c, id)
		case csta.SnapshotDevice:
			s.snapshotDevice(c, id, m)
		case csta.MonitorStart:
			s.monitorStart(c, id, m)
		case csta.MonitorStop:
			s.monitorStop(c, id, m)
		case csta.SystemStatus:
			s.respond(c, id, csta.SystemStatusResponse{})
		case csta.SystemStatusResponse:
		default:
			s.p.node.Network().Errorf(s.p.node.Name(), src, "CSTA: %s is not a request this PBX serves", m.Kind())
			s.respond(c, id, csta.ErrorResponse{Category: csta.CategoryOperation, Value: csta.OperationRequestIncompatible})
		}
	}
}

// respondID is the invokeID to answer a frame whose content was bad; if
// even the id was unreadable, 0001 stands in.
func respondID(id int) int {
	if id <= 0 || id >= csta.EventInvokeID {
		return 1
	}
	return id
}

func (s *cstaServer) monitorStart(c *cstaClient, id int, m csta.MonitorStart) {
	var answer, event csta.Message
	s.r.do(func() { answer, event = s.addMonitor(c, m.Device) })
	if answer == nil {
		return // the PBX stopped
	}
	s.respond(c, id, answer)
	if event != nil {
		s.respond(c, csta.EventInvokeID, event)
	}
}

// addMonitor makes a monitor of device for c, or refuses; the answer, and
// the BackInServiceEvent that follows it for a registered device. On the
// loop.
func (s *cstaServer) addMonitor(c *cstaClient, device string) (answer, event csta.Message) {
	if !s.clients[c] {
		// The link was cut while this request waited: no monitor for it
		// (nobody reads the answer either).
		return csta.ErrorResponse{Category: csta.CategoryOperation, Value: csta.OperationGeneric}, nil
	}
	if !s.p.reg.Known(device) {
		s.p.node.Note("CSTA MonitorStart %s refused: unknown device", device)
		return csta.ErrorResponse{Category: csta.CategoryOperation, Value: csta.OperationInvalidDeviceID}, nil
	}
	if n := len(c.refs); n >= s.p.cfg.MaxMonitors {
		s.p.node.Network().Errorf(s.p.node.Name(), addrPortOf(c.conn.NetConn().RemoteAddr()), "CSTA MonitorStart %s refused: the link holds %d monitors, the most one link may", device, n)
		return csta.ErrorResponse{Category: csta.CategorySystemResourceAvailability, Value: csta.ResourceOverallMonitorLimit}, nil
	}
	s.nextRef++
	ref := strconv.Itoa(s.nextRef)
	s.monitors[device] = append(s.monitors[device], monitor{client: c, ref: ref})
	c.refs[ref] = device
	if reg, ok := s.p.reg.Lookup(device); ok {
		// docs/wire.md: a recorder that starts monitoring a registered
		// device learns its address at once.
		event = csta.BackInServiceEvent{CrossRefID: ref, Device: device, Info: deviceInfo(reg)}
	}
	return csta.MonitorStartResponse{CrossRefID: ref}, event
}

func (s *cstaServer) monitorStop(c *cstaClient, id int, m csta.MonitorStop) {
	found := false
	s.r.do(func() {
		dev, ok := c.refs[m.CrossRefID]
		if !ok {
			return
		}
		delete(c.refs, m.CrossRefID)
		s.monitors[dev] = slices.DeleteFunc(s.monitors[dev], func(x monitor) bool { return x.client == c && x.ref == m.CrossRefID })
		found = true
	})
	if !found {
		s.respond(c, id, csta.ErrorResponse{Category: csta.CategoryOperation, Value: csta.OperationInvalidCrossRefID})
		return
	}
	s.respond(c, id, csta.MonitorStopResponse{})
}

// drop closes c's link and forgets it and its monitors; only the first
// drop of c returns true. On the loop.
func (s *cstaServer) drop(c *cstaClient) bool {
	c.halt()
	if !s.clients[c] {
		return false
	}
	delete(s.clients, c)
	devices := map[string]bool{}
	for _, dev := range c.refs {
		devices[dev] = true
	}
	for dev := range devices {
		s.monitors[dev] = slices.DeleteFunc(s.monitors[dev], func(x monitor) bool { return x.client == c })
	}
	c.refs = map[string]string{}
	return true
}

// send delivers an event to every monitor of device; build fills in the
// monitor's crossRefID. A closed server sends nothing. On the loop.
func (s *cstaServer) send(device string, build func(ref string) csta.Message) {
	if s.closed {
		return
	}
	// deliver may cut a client, and with it its monitors of device.
	ms := append([]monitor(nil), s.monitors[device]...)
	for _, m := range ms {
		s.deliver(m.client, csta.EventInvokeID, build(m.ref))
	}
}

// deliver queues the PBX's own message m (an event, a keep-alive) for c and
// reports whether the link is still usable. It never waits: a client whose
// queue is full does not read, and is cut with an error naming it, so that
// no call of the PBX waits on one CSTA client. On the loop.
func (s *cstaServer) deliver(c *cstaClient, id int, m csta.Message) bool {
	select {
	case <-c.stop:
		return false
	default:
	}
	select {
	case c.out <- queued{id, m}:
		return true
	default:
	}
	s.p.node.Network().Errorf(s.p.node.Name(), addrPortOf(c.conn.NetConn().RemoteAddr()),
		"CSTA client does not read: %d messages wait for it; link cut so that call handling does not wait (%s not sent)", cstaSendQueue, m.Kind())
	s.goneOnLoop(c, errors.New("send queue full"))
	return false
}

// respond queues the answer to c's own request (with its BackInService):
// it waits for room, so a client that floods requests and does not read
// holds up only its own reader, never a call. It reports whether the link
// is still usable.
func (s *cstaServer) respond(c *cstaClient, id int, m csta.Message) bool {
	select {
	case c.out <- queued{id, m}:
		return true
	case <-c.stop:
		return false
	case <-s.done:
		return false
	}
}

// write sends c's queue in order until c is dropped. A peer that is gone,
// or a link the PBX itself is closing, is no error: c is dropped with a
// note (the recorder closes its link at any time, e.g. when a lab shuts
// down).
func (s *cstaServer) write(c *cstaClient) {
	defer s.wg.Done()
	for {
		var q queued
		select {
		case <-c.stop:
			return
		case q = <-c.out:
		}
		// A client that takes no byte for this long does not read: cut, as
		// a full queue is (issue 11 item 4).
		c.conn.NetConn().SetWriteDeadline(sim.SocketDeadline(cstaWriteTimeout))
		err := c.conn.Send(q.id, q.m)
		if isTimeout(err) {
			s.p.node.Network().Errorf(s.p.node.Name(), addrPortOf(c.conn.NetConn().RemoteAddr()),
				"CSTA client does not read: a %s waited %s to be written; link cut", q.m.Kind(), cstaWriteTimeout)
			s.gone(c, err)
			return
		}
		switch {
		case err == nil:
		case peerGone(err):
			s.gone(c, err)
			return
		default:
			s.p.node.Network().Errorf(s.p.node.Name(), addrPortOf(c.conn.NetConn().RemoteAddr()), "CSTA %s: %v", q.m.Kind(), err)
		}
	}
}

// gone drops c, noting once that its link ended (err says how); links the
// stopping PBX closed itself go without a note ("PBX down" says it). It
// halts the link at once and posts the rest to the loop.
func (s *cstaServer) gone(c *cstaClient, err error) {
	c.halt()
	s.r.post(func() { s.goneOnLoop(c, err) })
}

// goneOnLoop is gone, on the loop.
func (s *cstaServer) goneOnLoop(c *cstaClient, err error) {
	if s.drop(c) && !s.closed {
		s.p.node.Note("CSTA client %s gone (%v): dropped", c.conn.NetConn().RemoteAddr(), err)
	}
}

// peerGone reports whether err means the CSTA link is finished without
// anyone being at fault: the peer closed it (EOF, or a write after its
// close: EPIPE, ECONNRESET, also for a link an impairment cut) or the PBX
// closed it itself while stopping or dropping the client (net.ErrClosed).
// It is pure.
func peerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// UnknownModel stands in the CSTA private data for a phone whose REGISTER
// named no Mitel model in its User-Agent (docs/wire.md "CSTA").
const UnknownModel = "unknown"

func deviceInfo(r Registration) *csta.DeviceInfo {
	model := r.Model
	if model == "" {
		model = UnknownModel
	}
	return &csta.DeviceInfo{IP: r.Contact.Addr(), RecordingPort: r.RecordingPort, Model: model}
}

// backInService and outOfService tell the monitoring clients that ext's
// binding changed, and the trace (BindingState); cause is why.
func (s *cstaServer) backInService(r Registration, cause string) {
	s.p.node.Publish(BindingState{Ext: r.Ext, Registered: true, Contact: r.Contact, Model: r.Model, Cause: cause})
	s.send(r.Ext, func(ref string) csta.Message {
		return csta.BackInServiceEvent{CrossRefID: ref, Device: r.Ext, Info: deviceInfo(r)}
	})
}

func (s *cstaServer) outOfService(r Registration, cause string) {
	s.p.node.Publish(BindingState{Ext: r.Ext, Contact: r.Contact, Model: r.Model, Cause: cause})
	s.send(r.Ext, func(ref string) csta.Message {
		return csta.OutOfServiceEvent{CrossRefID: ref, Device: r.Ext, Info: deviceInfo(r)}
	})
}

type callEventKind uint8

const (
	evServiceInitiated callEventKind = iota
	evOriginated
	evDelivered
	evEstablished
	evCleared
)

var callEventNames = [...]string{"ServiceInitiated", "Originated", "Delivered", "Established", "ConnectionCleared"}

func (k callEventKind) String() string {
	if int(k) < len(callEventNames) {
		return callEventNames[k]
	}
	return fmt.Sprintf("callEvent(%d)", k)
}

// deviceEvent is one CSTA event for the monitors of one device; build fills
// in each monitor's crossRefID.
type deviceEvent struct {
	device string
	build  func(ref string) csta.Message
}

// callEvents is who hears of one step of a call, and what (docs/wire.md
// "CSTA"): the caller's monitors get ServiceInitiated and Originated, both
// parties' monitors Delivered, Established and ConnectionCleared. Each
// party's ConnectionCleared drops its own connection and names releasing,
// the party that hung up ("" when the PBX ended the call), as
// releasingDevice. cause is for ConnectionCleared only. It is pure.
func callEvents(c *call, kind callEventKind, cause, releasing string) []deviceEvent {
	switch kind {
	case evServiceInitiated:
		return []deviceEvent{{c.from, func(ref string) csta.Message {
			return csta.ServiceInitiatedEvent{CrossRefID: ref, CallID: c.id, Device: c.from, Initiating: c.from,
				LocalConnection: csta.StateInitiated, Cause: csta.CauseNewCall}
		}}}
	case evOriginated:
		return []deviceEvent{{c.from, func(ref string) csta.Message {
			return csta.OriginatedEvent{CrossRefID: ref, CallID: c.id, Device: c.from, Calling: c.from, Called: c.to,
				LocalConnection: csta.StateConnected, Cause: csta.CauseNewCall}
		}}}
	}
	var out []deviceEvent
	for _, dev := range []string{c.from, c.to} {
		var build func(ref string) csta.Message
		switch kind {
		case evDelivered:
			state := csta.StateConnected
			if dev == c.to {
				state = csta.StateAlerting
			}
			build = func(ref string) csta.Message {
				return csta.DeliveredEvent{CrossRefID: ref, CallID: c.id, Device: c.to, Alerting: c.to, Calling: c.from,
					Called: c.to, LocalConnection: state, Cause: csta.CauseNewCall}
			}
		case evEstablished:
			build = func(ref string) csta.Message {
				return csta.EstablishedEvent{CrossRefID: ref, CallID: c.id, Device: c.to, Answering: c.to, Calling: c.from,
					Called: c.to, LocalConnection: csta.StateConnected, Cause: csta.CauseNormal, Media: c.media}
			}
		case evCleared:
			if cause == "" {
				cause = csta.CauseNormalClearing
			}
			build = func(ref string) csta.Message {
				return csta.ConnectionClearedEvent{CrossRefID: ref, CallID: c.id, Device: dev, Releasing: releasing,
					LocalConnection: csta.StateNull, Cause: cause}
			}
		default:
			return nil
		}
		out = append(out, deviceEvent{dev, build})
	}
	return out
}

// callEvent sends one step of a call to the monitors it concerns.
func (s *cstaServer) callEvent(c *call, kind callEventKind, cause, releasing string) {
	for _, e := range callEvents(c, kind, cause, releasing) {
		s.send(e.device, e.build)
	}
}

// allowed reports whether a CSTA link from a is allowed.
func (s *cstaServer) allowed(a netip.Addr) bool {
	return len(s.p.cfg.CSTAClients) == 0 || slices.Contains(s.p.cfg.CSTAClients, a.Unmap())
}

// cstaWriteTimeout bounds one write to a CSTA client.
const cstaWriteTimeout = 10 * time.Second

// isTimeout reports whether err is a socket deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
