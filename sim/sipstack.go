package sim

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func init() {
	// sipgo logs to the default slog at Info/Warn level; the lab reports
	// through its trace instead, so keep sipgo quiet unless debugging.
	sip.SetDefaultLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

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
	done   chan struct{}
}

// StartSIP binds port on the node and serves SIP on it. userAgent goes in the
// User-Agent header. Handlers must be set on Server before requests arrive;
// register them in setup, which runs before the socket is served.
func (nd *Node) StartSIP(port uint16, userAgent string, setup func(*sipgo.Server)) (*SIPStack, error) {
	conn, err := nd.ListenPacket(port)
	if err != nil {
		return nil, err
	}
	addr := conn.LocalAddrPort()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(userAgent), sipgo.WithUserAgentHostname(nd.ip.String()))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sim: %s: sip user agent: %w", nd.name, err)
	}
	srv, err := sipgo.NewServer(ua)
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
	s := &SIPStack{UA: ua, Server: srv, Client: cli, Conn: conn, Addr: addr, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		srv.ServeUDP(conn)
	}()
	// Wait until sipgo has put our socket in its pool: a request sent before
	// that would make sipgo try to bind a socket of its own (which fails,
	// since ours holds the address, but loses the request).
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := ua.TransportLayer().GetConnection("udp", addr.String()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("sim: %s: sip stack on %s did not start", nd.name, addr)
		}
		time.Sleep(time.Millisecond)
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
