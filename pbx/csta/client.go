package csta

import (
	"errors"
	"fmt"
	"time"
)

// StartSession is a client's side of an ECMA-354 link start (a recorder
// facing an MX-ONE with application authentication, or reclab's PBX with
// Config.CSTAPassword): it sends StartApplicationSession with applicationID
// and password, answers the switch's SystemStatus meanwhile, and returns
// the session's id once the PosResponse comes. A NegResponse, a
// CSTAErrorCode or no answer by deadline (a socket deadline:
// sim.SocketDeadline) is an error naming it. Call it before anything else
// reads link; the link's read deadline is cleared after.
func StartSession(link *Conn, applicationID, password string, deadline time.Time) (string, error) {
	nc := link.NetConn()
	nc.SetReadDeadline(deadline)
	defer nc.SetReadDeadline(time.Time{})
	id := link.NextInvokeID()
	if err := link.Send(id, StartApplicationSession{ApplicationID: applicationID, Password: password,
		ProtocolVersions: []string{ProtocolVersionED4}}); err != nil {
		return "", err
	}
	for {
		got, m, err := link.Recv()
		if Recoverable(err) {
			continue // one bad frame; the link goes on
		}
		if err != nil {
			return "", fmt.Errorf("csta: StartApplicationSession %04d: no answer: %w", id, err)
		}
		if _, ok := m.(SystemStatus); ok {
			if err := link.Send(got, SystemStatusResponse{}); err != nil {
				return "", err
			}
			continue
		}
		if got != id {
			continue // an event before the session: nothing is monitored yet
		}
		switch m := m.(type) {
		case StartApplicationSessionPosResponse:
			return m.SessionID, nil
		case StartApplicationSessionNegResponse:
			return "", fmt.Errorf("csta: StartApplicationSession refused: %s: %w", m.Error, ErrSessionRefused)
		case ErrorResponse:
			return "", fmt.Errorf("csta: StartApplicationSession refused: %w", errors.Join(m, ErrSessionRefused))
		default:
			return "", fmt.Errorf("csta: StartApplicationSession %04d answered with %s: %w", id, m.Kind(), ErrInvalidMessage)
		}
	}
}

// ErrSessionRefused: the switch refused the application session.
var ErrSessionRefused = errors.New("application session refused")
