package pbx

import (
	"crypto/subtle"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/reclab/reclab/pbx/csta"
)

// What the PBX's CSTA server does with the requests a real recorder sends
// when its link opens (issue 13; docs/wire.md "CSTA"): an ECMA-354
// application session, SystemRegister, SnapshotDevice. The session's state
// is the link reader's (serve), which handles one request at a time.

// appSession is a link's ECMA-354 application session.
type appSession struct {
	id string // "" until StartApplicationSession was accepted
}

// sessionIDs numbers the sessions of every PBX of the process; the ids
// need only differ between the links of one PBX.
var sessionIDs atomic.Uint64

// registerIDs numbers SystemRegister's sysStatRegisterIDs likewise.
var registerIDs atomic.Uint64

// needsSession reports whether request m must wait for the link's session:
// with an application password set (MX-ONE's "application
// authentication"), only the session's own requests and the SystemStatus
// keep-alive go before StartApplicationSession.
func (s *cstaServer) needsSession(c *cstaClient, m csta.Message) bool {
	if s.p.cfg.CSTAPassword == "" || c.session.id != "" {
		return false
	}
	switch m.(type) {
	case csta.StartApplicationSession, csta.SystemStatus, csta.SystemStatusResponse:
		return false
	}
	return true
}

// startSession answers StartApplicationSession (ECMA-354 §6.1): refused
// with a NegResponse for a second session on the link, a wrong or missing
// password, or no protocol version the PBX speaks (ECMA-323 ed4; any
// edition's namespace is read as ed4, csta.Decode).
func (s *cstaServer) startSession(c *cstaClient, id int, m csta.StartApplicationSession) {
	refuse := func(why, definedError string) {
		s.p.node.Network().Errorf(s.p.node.Name(), addrPortOf(c.conn.NetConn().RemoteAddr()), "CSTA StartApplicationSession from %s refused: %s", m.ApplicationID, why)
		s.respond(c, id, csta.StartApplicationSessionNegResponse{Error: definedError})
	}
	switch {
	case c.session.id != "":
		refuse("the link has session "+c.session.id+" already", csta.SessionAlreadyStarted)
		return
	case s.p.cfg.CSTAPassword != "" && subtle.ConstantTimeCompare([]byte(m.Password), []byte(s.p.cfg.CSTAPassword)) != 1:
		why := "wrong application password"
		if m.Password == "" {
			why = "no application password (applicationSpecificInfo/password); the PBX asks for one"
		}
		refuse(why, csta.SessionInvalidApplicationInfo)
		return
	case len(m.ProtocolVersions) > 0 && !slices.ContainsFunc(m.ProtocolVersions, speaksVersion):
		refuse("no protocol version it speaks among "+strings.Join(m.ProtocolVersions, " "), csta.SessionProtocolVersionNotSupp)
		return
	}
	c.session.id = strconv.FormatUint(sessionIDs.Add(1), 10)
	dur := m.Duration
	if dur == 0 {
		dur = csta.DefaultSessionDuration
	}
	s.p.node.Note("CSTA application session %s started for %s (%ds)", c.session.id, m.ApplicationID, dur)
	s.respond(c, id, csta.StartApplicationSessionPosResponse{SessionID: c.session.id, ProtocolVersion: csta.ProtocolVersionED4, Duration: dur})
}

// speaksVersion: the protocol versions read as ECMA-323 ed4.
func speaksVersion(v string) bool {
	return strings.HasPrefix(v, "http://www.ecma-international.org/standards/ecma-323/csta/") || strings.EqualFold(v, "ed4")
}

// stopSession answers StopApplicationSession (ECMA-354 §6.2): the
// session's monitors end with it; the link stays open for a new session.
func (s *cstaServer) stopSession(c *cstaClient, id int, m csta.StopApplicationSession) {
	if c.session.id == "" || m.SessionID != c.session.id {
		s.p.node.Network().Errorf(s.p.node.Name(), addrPortOf(c.conn.NetConn().RemoteAddr()), "CSTA StopApplicationSession %s refused: the link's session is %q", m.SessionID, c.session.id)
		s.respond(c, id, csta.StopApplicationSessionNegResponse{Error: csta.SessionInvalidSessionID})
		return
	}
	s.r.do(func() { s.dropMonitors(c) })
	s.p.node.Note("CSTA application session %s stopped (%s): its monitors ended", c.session.id, m.Reason)
	c.session.id = ""
	s.respond(c, id, csta.StopApplicationSessionPosResponse{})
}

// resetSessionTimer answers the session's keep-alive. The session lasts as
// long as its link; the link's own idle bound (three keep-alive periods)
// ends a silent one.
func (s *cstaServer) resetSessionTimer(c *cstaClient, id int, m csta.ResetApplicationSessionTimer) {
	if c.session.id == "" || m.SessionID != c.session.id {
		s.respond(c, id, csta.ErrorResponse{Category: csta.CategoryOperation, Value: csta.OperationInvalidCrossRefID})
		return
	}
	dur := m.Duration
	if dur == 0 {
		dur = csta.DefaultSessionDuration
	}
	s.respond(c, id, csta.ResetApplicationSessionTimerPosResponse{Duration: dur})
}

// systemRegister answers SystemRegister: every link gets the PBX's
// SystemStatus (at link start and as keep-alive) anyway.
func (s *cstaServer) systemRegister(c *cstaClient, id int) {
	s.respond(c, id, csta.SystemRegisterResponse{RegisterID: strconv.FormatUint(registerIDs.Add(1), 10)})
}

// snapshotDevice answers SnapshotDevice with the calls device is in, or
// invalidDeviceID for a number not in the directory.
func (s *cstaServer) snapshotDevice(c *cstaClient, id int, m csta.SnapshotDevice) {
	var answer csta.Message
	s.r.do(func() {
		if !s.p.reg.Known(m.Device) {
			answer = csta.ErrorResponse{Category: csta.CategoryOperation, Value: csta.OperationInvalidDeviceID}
			return
		}
		answer = csta.SnapshotDeviceResponse{Calls: snapshot(s.p.b2b, m.Device)}
	})
	if answer != nil {
		s.respond(c, id, answer)
	}
}

// snapshot is device's calls not yet cleared, by callID: the caller is
// connected from its INVITE on, the callee alerting until it answers
// (ECMA-269 LocalConnectionState). It is pure. On the loop.
func snapshot(b *B2BUA, device string) []csta.SnapshotCall {
	var out []csta.SnapshotCall
	for _, c := range b.calls {
		if c.state == CallEnded || (c.from != device && c.to != device) {
			continue
		}
		state := csta.StateConnected
		if c.to == device && c.state < CallAnswered {
			state = csta.StateAlerting
		}
		out = append(out, csta.SnapshotCall{CallID: c.id, Device: device, State: state})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CallID < out[j].CallID })
	return out
}

// dropMonitors ends every monitor of c, keeping its link. On the loop.
func (s *cstaServer) dropMonitors(c *cstaClient) {
	for ref, dev := range c.refs {
		s.monitors[dev] = slices.DeleteFunc(s.monitors[dev], func(x monitor) bool { return x.client == c && x.ref == ref })
	}
	c.refs = map[string]string{}
}
