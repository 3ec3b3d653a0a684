package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

var sipConfigured sync.Once

// configureSIP sets sipgo's process-wide knobs once per process, when the
// first lab network is made (not at import, so a program behaves the same
// whichever packages it links). sipgo's transaction timers (sip.SetTimers)
// are process-wide too; lab.SetSIPTimers sets them.
func configureSIP() {
	sipConfigured.Do(func() {
		// sipgo logs to the default slog at Info/Warn level; the lab reports
		// through its trace instead, so keep sipgo quiet unless debugging.
		sip.SetDefaultLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
		// sipgo reads every UDP listener into a buffer of this size, kept for
		// the listener's life: at its 32 KiB default that buffer was half the
		// heap of an idle phone (1–2 listeners each; reclab bench, README
		// "Performance"). The lab's largest SIP message (an INVITE with a
		// two-stream recording SDP and SRTP keys) is under 2 KB, and a
		// request over 1,300 bytes goes over TCP (RFC 3261 §18.1.1).
		sip.TransportBufferReadSize = sipReadBuffer
	})
}

// sipReadBuffer is the largest SIP datagram a lab stack reads whole; a
// longer one is cut and refused as unparsable (an error event names it).
const sipReadBuffer = 4096

// SIPStack is one sipgo user agent bound to one traced UDP socket of a node.
// The client is built with WithClientConnectionAddr so that every request
// leaves through the same traced socket the server reads (design.md: without
// it sipgo opens its own socket on 127.0.0.1, invisible to the trace).
type SIPStack struct {
	UA     *sipgo.UserAgent
	Server *sipgo.Server
	Client *sipgo.Client
	Conn   *PacketConn
	Addr   netip.AddrPort
	// Allow lists the methods the stack serves, for the Allow header of
	// its 405s and of answers that advertise them (RFC 3261 §20.5).
	Allow string
	done  chan struct{}
}

// StartSIP binds port on the node and serves SIP on it. userAgent goes in the
// User-Agent header. Handlers must be set on Server before requests arrive;
// register them in setup, which runs before the socket is served.
func (nd *Node) StartSIP(port uint16, userAgent string, setup func(*sipgo.Server)) (*SIPStack, error) {
	conn, err := nd.ListenPacket(port)
	if err != nil {
		return nil, err
	}
	conn.trackSource = true // before ServeUDP reads: sipErrorHandler names senders from it
	conn.served = make(chan struct{})
	addr := conn.LocalAddrPort()
	logger := slog.New(&sipErrorHandler{node: nd, conn: conn})
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(userAgent), sipgo.WithUserAgentHostname(nd.ip.String()),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(logger)))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sim: %s: sip user agent: %w", nd.name, err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(logger))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sim: %s: sip server: %w", nd.name, err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname(nd.ip.String()), sipgo.WithClientPort(int(addr.Port())),
		sipgo.WithClientConnectionAddr(addr.String()))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sim: %s: sip client: %w", nd.name, err)
	}
	if setup != nil {
		setup(srv)
	}
	// RFC 3261 §8.2.1: a method the stack does not serve gets 405 with an
	// Allow header listing those it does (sipgo's default has none).
	allow := allowOf(srv)
	srv.OnNoRoute(func(req *sip.Request, tx sip.ServerTransaction) {
		if req.IsAck() {
			return // an ACK is never answered (RFC 3261 §17.2.1)
		}
		res := sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", allow))
		tx.Respond(res)
	})
	s := &SIPStack{UA: ua, Server: srv, Client: cli, Conn: conn, Addr: addr, Allow: allow, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		srv.ServeUDP(conn)
	}()
	// Wait until sipgo has put our socket in its pool: a request sent before
	// that would make sipgo try to bind a socket of its own (which fails,
	// since ours holds the address, but loses the request). sipgo adds the
	// listener to its pool and then reads it (sip.TransportUDP.Serve), so
	// the socket's first read is the signal.
	select {
	case <-conn.served:
	case <-s.done: // ServeUDP returned without reading
		s.Close()
		return nil, fmt.Errorf("sim: %s: sip stack on %s did not start", nd.name, addr)
	}
	if _, err := ua.TransportLayer().GetConnection("udp", addr.String()); err != nil {
		s.Close()
		return nil, fmt.Errorf("sim: %s: sip stack on %s not in sipgo's pool: %w", nd.name, addr, err)
	}
	return s, nil
}

// Close stops the stack and releases its socket.
func (s *SIPStack) Close() error {
	err := s.Conn.Close()
	s.UA.Close()
	<-s.done
	return err
}

// Contact is a Contact header for this stack with the given user.
func (s *SIPStack) Contact(user string) *sip.ContactHeader {
	return &sip.ContactHeader{Address: sip.Uri{User: user, Host: s.Addr.Addr().String(), Port: int(s.Addr.Port())}}
}

// sipErrorHandler turns what sipgo's transport layer logs at warning level
// or above (chiefly "failed to parse" on a malformed message) into an error
// event of the node, so bad input is named and counted, not lost in a log.
// sipgo reads a UDP listener from one goroutine and logs a parse failure
// before its next read, so the conn's last source is the sender.
type sipErrorHandler struct {
	node  *Node
	conn  *PacketConn
	attrs []slog.Attr
}

func (h *sipErrorHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *sipErrorHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("sip: ")
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		v := a.Value.String()
		if a.Key == "data" {
			v = firstLine([]byte(v))
		}
		fmt.Fprintf(&b, "; %s: %s", a.Key, v)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.node.net.Errorf(h.node.name, h.conn.lastSource(), "%s", b.String())
	return nil
}

func (h *sipErrorHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sipErrorHandler{node: h.node, conn: h.conn, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *sipErrorHandler) WithGroup(string) slog.Handler { return h }

// allowOf is the Allow header value of a server: its methods, sorted.
func allowOf(srv *sipgo.Server) string {
	ms := srv.RegisteredMethods()
	slices.Sort(ms)
	return strings.Join(ms, ", ")
}
