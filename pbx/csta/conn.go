package csta

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
)

// Conn is a CSTA link over a connection that sim handed out: framing on top of net.Conn.
// It opens nothing and starts no goroutine. Send and NextInvokeID may be called from any
// goroutine; Recv from one goroutine at a time (the node's reader).
type Conn struct {
	nc net.Conn
	fr *FrameReader

	sendMu  sync.Mutex
	sendBuf []byte

	lastID atomic.Uint32
}

// NewConn wraps nc. Closing the Conn closes nc. It reads through a buffer,
// so a frame that came in one segment is read by one Read of nc: sim traces
// what comes from a peer beyond the lab per Read, and a header read apart
// from its XML showed as a partial frame and lost framing (issue 13).
func NewConn(nc net.Conn) *Conn {
	return &Conn{nc: nc, fr: NewFrameReader(bufio.NewReaderSize(nc, connReadBuffer))}
}

// connReadBuffer holds several frames of a busy link.
const connReadBuffer = 16 << 10

// NetConn returns the wrapped connection, for addresses and deadlines.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the wrapped connection.
func (c *Conn) Close() error { return c.nc.Close() }

// SetFrameLimit sets the reader's FrameReader.Limit. Call it before the first Recv.
func (c *Conn) SetFrameLimit(n int) { c.fr.Limit = n }

// NextInvokeID returns the invokeID for a new request, cycling 1, 2, … 9998, 1, …
// (design.md "CSTA": requests use 0001–9998).
func (c *Conn) NextInvokeID() int {
	n := c.lastID.Add(1)
	return int((n-1)%MaxInvokeID) + 1
}

// Send encodes m and writes it as one frame with one Write, so frames from several
// goroutines never interleave. It checks invokeID against the message: events must use
// EventInvokeID, requests 1–9998; a response or CSTAErrorCode may echo any 0–9999.
func (c *Conn) Send(invokeID int, m Message) error {
	if err := CheckInvokeID(invokeID, m); err != nil {
		return err
	}
	doc, err := Encode(m)
	if err != nil {
		return err
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	frame, err := AppendFrame(c.sendBuf[:0], invokeID, doc)
	if err != nil {
		return err
	}
	c.sendBuf = frame
	if _, err := c.nc.Write(frame); err != nil {
		return fmt.Errorf("csta: send %s %04d: %w", m.Kind(), invokeID, err)
	}
	return nil
}

// Recv reads the next frame and decodes it. When the frame was read but its content is bad,
// the error is Recoverable and invokeID is the frame's (0 if unreadable), so a server can
// answer with an ErrorResponse echoing it; call Recv again. Any other error means the
// connection is finished.
func (c *Conn) Recv() (invokeID int, m Message, err error) {
	id, doc, err := c.fr.Next()
	if err != nil {
		return id, nil, err
	}
	m, err = Decode(doc)
	if err != nil {
		return id, nil, err
	}
	return id, m, nil
}

// CheckInvokeID checks that invokeID suits m (design.md "CSTA"): events travel with
// EventInvokeID; requests (MonitorStart, MonitorStop, SystemStatus) with 1–9998; responses
// echo their request, so any 0–9999 is accepted for them.
func CheckInvokeID(invokeID int, m Message) error {
	m = deref(m)
	if m == nil {
		return fmt.Errorf("csta: cannot send a nil message: %w", ErrInvalidMessage)
	}
	kind := m.Kind()
	switch {
	case invokeID < 0 || invokeID > 9999:
		return fmt.Errorf("csta: %s invokeID %d does not fit four digits: %w", kind, invokeID, ErrBadInvokeID)
	case IsEvent(m):
		if invokeID != EventInvokeID {
			return fmt.Errorf("csta: %s is an event and must use invokeID %d, not %04d: %w", kind, EventInvokeID, invokeID, ErrBadInvokeID)
		}
	case strings.HasSuffix(kind, "Response") || kind == "CSTAErrorCode":
	default:
		if invokeID < 1 || invokeID > MaxInvokeID {
			return fmt.Errorf("csta: request %s must use an invokeID in 0001–%04d, not %04d: %w", kind, MaxInvokeID, invokeID, ErrBadInvokeID)
		}
	}
	return nil
}
