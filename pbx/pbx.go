package pbx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/sim"
)

// Config is the PBX's configuration. The zero value works with Extensions set.
type Config struct {
	Extensions []string // the directory: numbers the PBX knows
	SIPPort    uint16   // default 5060
	CSTAPort   uint16   // default 8882
	// CSTATLS, if set, is the certificate of CSTA over TLS on CSTATLSPort
	// (default 8883, design.md "Address plan"); nil: plain CSTA only.
	CSTATLS       *tls.Config
	CSTATLSPort   uint16
	MaxExpiry     time.Duration // longest registration granted; default 3600s
	CSTAKeepAlive time.Duration // SystemStatus towards each CSTA client; default 30s
	// Passwords are the extensions' SIP credentials (ext → password): with
	// any set, every REGISTER must answer a digest challenge with its
	// extension's (RFC 3261 §22, RFC 8760) and bind only the address it
	// came from. Empty: no authentication (a lab for protocol tests only).
	Passwords map[string]string
	// CSTAClients are the addresses allowed on the CSTA port; a link from
	// any other is closed with an error naming it. Empty: any.
	CSTAClients []netip.Addr
	// CSTAPassword, if set, is the application password (MX-ONE's
	// "application authentication") every ECMA-354 StartApplicationSession
	// must carry; a link then serves nothing else before its session starts.
	// "": a session is optional and asks for none (cstasession.go).
	CSTAPassword string
	// MaxMonitors bounds the monitors one CSTA link may hold; default 10,000.
	MaxMonitors int
	Realm       string        // digest realm; default "reclab"
	NonceLife   time.Duration // a challenge's nonce expires after this; default 5m
	// RASPort is the gatekeeper's H.225.0 RAS port (gatekeeper.go); default 1719.
	RASPort uint16
	// GatekeeperID is its gatekeeperIdentifier; default "MX-ONE".
	GatekeeperID string
}

func (c *Config) validate() error {
	if len(c.Extensions) == 0 {
		return errors.New("pbx: config: Extensions is empty")
	}
	seen := map[string]bool{}
	for _, e := range c.Extensions {
		if e == "" || strings.Trim(e, "0123456789") != "" {
			return fmt.Errorf("pbx: config: extension %q is not a number", e)
		}
		if seen[e] {
			return fmt.Errorf("pbx: config: extension %s listed twice", e)
		}
		seen[e] = true
	}
	if c.MaxExpiry < 0 {
		return fmt.Errorf("pbx: config: MaxExpiry %v is negative", c.MaxExpiry)
	}
	if c.CSTAKeepAlive < 0 {
		return fmt.Errorf("pbx: config: CSTAKeepAlive %v is negative", c.CSTAKeepAlive)
	}
	for ext := range c.Passwords {
		if !seen[ext] {
			return fmt.Errorf("pbx: config: a password for %s, which is not in Extensions", ext)
		}
	}
	if c.Realm == "" {
		c.Realm = "reclab"
	}
	if c.MaxMonitors <= 0 {
		c.MaxMonitors = 10000
	}
	if c.NonceLife <= 0 {
		c.NonceLife = 5 * time.Minute
	}
	if c.SIPPort == 0 {
		c.SIPPort = 5060
	}
	if c.CSTAPort == 0 {
		c.CSTAPort = 8882
	}
	if c.CSTATLSPort == 0 {
		c.CSTATLSPort = 8883
	}
	if c.CSTATLS != nil && c.CSTATLSPort == c.CSTAPort {
		return fmt.Errorf("pbx: config: CSTATLSPort %d is the plain CSTA port too", c.CSTATLSPort)
	}
	if c.RASPort == 0 {
		c.RASPort = sim.RASPort
	}
	if c.GatekeeperID == "" {
		c.GatekeeperID = "MX-ONE"
	}
	if c.MaxExpiry == 0 {
		c.MaxExpiry = 3600 * time.Second
	}
	if c.CSTAKeepAlive == 0 {
		c.CSTAKeepAlive = 30 * time.Second
	}
	return nil
}

// requestTimeout bounds the PBX's own requests (NOTIFY, BYE) to a phone.
const requestTimeout = 10 * time.Second

// PBX is the simulated MX-ONE: registrar, B2BUA call control and the CSTA
// server, on one lab node. Its state is owned by the loop of the current
// run (loop.go); mu guards only which run is current.
type PBX struct {
	node *sim.Node
	cfg  Config

	life sync.Mutex // Start and Stop, one at a time

	mu  sync.Mutex
	cur *run // nil while stopped
	// beforeRelay, if set (by tests, under mu), runs after the B-leg's
	// answer was acknowledged and before the 200 OK goes to the caller.
	beforeRelay func()

	// Owned by the current run's loop; touched by Stop once that loop ended.
	reg  *Registrar
	auth *digestAuth // nil without Config.Passwords (auth.go)
	b2b  *B2BUA      // the calls (b2bua.go), kept across restarts for its callIDs
}

// run is one life of the PBX between Start and Stop: its loop, sockets,
// dialog caches and context. Handlers hold the run they were installed for,
// so a request still in flight when the PBX stops cannot touch the next run.
type run struct {
	ctx      context.Context
	cancel   context.CancelCauseFunc
	inbox    *inbox[func()] // the loop's input
	loopDone chan struct{}  // closed when the loop has returned
	sip      *sim.SIPStack
	dlgSrv   *sipgo.DialogServerCache
	dlgCli   *sipgo.DialogClientCache
	csta     *cstaServer
	ras      *sim.PacketConn // the gatekeeper's socket (gatekeeper.go)
	gk       *Gatekeeper     // its core, owned by the loop; a restart forgets its endpoints
	wg       sync.WaitGroup  // the PBX's own outgoing requests, call workers, CSTA links
}

// New makes a PBX on node; Start brings it up.
func New(node *sim.Node, cfg Config) (*PBX, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &PBX{node: node, cfg: cfg, reg: NewRegistrar(cfg.Extensions)}
	p.b2b = NewB2BUA(p.reg)
	if len(cfg.Passwords) > 0 {
		p.auth = newDigestAuth(cfg.Realm, cfg.NonceLife)
	}
	return p, nil
}

// Start binds SIP and CSTA and serves them. Starting a running PBX does
// nothing; a stopped one starts afresh with no registrations.
func (p *PBX) Start() error {
	p.life.Lock()
	defer p.life.Unlock()
	if p.Running() {
		return nil
	}
	r := &run{inbox: newInbox[func()](), loopDone: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancelCause(context.Background())
	go p.loop(r)
	st, err := p.node.StartSIP(p.cfg.SIPPort, "MX-ONE reclab", func(s *sipgo.Server) {
		s.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) { p.onRegister(r, req, tx) })
		s.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) { p.onInvite(r, req, tx) })
		s.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { p.onAck(r, req, tx) })
		s.OnBye(func(req *sip.Request, tx sip.ServerTransaction) { p.onBye(r, req, tx) })
		s.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) { p.respond(req, tx, 200, "OK") })
	})
	if err != nil {
		r.cancel(nil)
		<-r.loopDone
		return err
	}
	r.sip = st
	contact := sip.ContactHeader{Address: sip.Uri{User: "pbx", Host: st.Addr.Addr().String(), Port: int(st.Addr.Port())}}
	r.dlgSrv = sipgo.NewDialogServerCache(st.Client, contact)
	r.dlgCli = sipgo.NewDialogClientCache(st.Client, contact)
	if r.csta, err = startCSTA(p, r); err != nil {
		r.cancel(nil)
		<-r.loopDone
		st.Close()
		return err
	}
	if err = p.startGatekeeper(r); err != nil {
		r.cancel(nil)
		<-r.loopDone
		r.csta.close()
		st.Close()
		return err
	}
	p.mu.Lock()
	p.cur = r
	p.mu.Unlock()
	cstaAt := p.node.AddrPort(p.cfg.CSTAPort).String()
	if p.cfg.CSTATLS != nil {
		cstaAt += fmt.Sprintf(" (TLS %s)", p.node.AddrPort(p.cfg.CSTATLSPort))
	}
	p.node.Note("PBX up: SIP %s, CSTA %s, RAS %s, %d extensions", st.Addr, cstaAt, r.ras.LocalAddrPort(), len(p.cfg.Extensions))
	p.node.Publish(ServiceState{Up: true, Cause: "started"})
	return nil
}

// Stop takes the PBX down without goodbyes, as a restart of the server does
// (spec §3.2.6): sockets close, CSTA links drop, registrations and calls are
// forgotten. Phones find out through their own keep-alive. Stopping a stopped
// PBX does nothing.
func (p *PBX) Stop() {
	p.life.Lock()
	defer p.life.Unlock()
	p.mu.Lock()
	r := p.cur
	p.cur = nil
	p.mu.Unlock()
	if r == nil {
		return
	}
	// WaitAnswerForceCancelErr makes a B-leg waiting for an answer give up
	// without sending CANCEL through a socket that is closing.
	r.cancel(sipgo.WaitAnswerForceCancelErr)
	<-r.loopDone // from here on the state is Stop's
	p.reg.Clear()
	p.b2b.Clear()
	r.csta.close()
	r.sip.Close()
	r.ras.Close()
	r.wg.Wait()
	p.node.Note("PBX down: registrations and calls forgotten")
	p.node.Publish(ServiceState{Cause: "stopped: registrations and calls forgotten"})
}

// Restart is Stop then Start (spec §3.2.6). Binding again is retried until
// ctx ends, in case a port is not free yet. For an outage the phones can
// notice, call Stop, wait, then Start.
func (p *PBX) Restart(ctx context.Context) error {
	p.Stop()
	for {
		err := p.Start()
		if err == nil {
			return nil
		}
		retry := p.node.Clock().NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			retry.Stop()
			return fmt.Errorf("pbx: restart: %w (last error: %v)", ctx.Err(), err)
		case <-retry.C:
		}
	}
}

// Running reports whether the PBX is up.
func (p *PBX) Running() bool { return p.current() != nil }

// current is the run now, nil while stopped.
func (p *PBX) current() *run {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// Addr is the PBX's SIP address.
func (p *PBX) Addr() netip.AddrPort { return p.node.AddrPort(p.cfg.SIPPort) }

// CSTAAddr is where recorders connect.
func (p *PBX) CSTAAddr() netip.AddrPort { return p.node.AddrPort(p.cfg.CSTAPort) }

// Extensions is the directory, in the configured order.
func (p *PBX) Extensions() []string { return append([]string(nil), p.cfg.Extensions...) }

// Registrations lists the current bindings, by extension.
func (p *PBX) Registrations() []Registration {
	var out []Registration
	if r := p.current(); r != nil {
		r.do(func() { out = p.reg.Bindings() })
	}
	return out
}

// Lookup returns the binding of ext.
func (p *PBX) Lookup(ext string) (reg Registration, ok bool) {
	if r := p.current(); r != nil {
		r.do(func() { reg, ok = p.reg.Lookup(ext) })
	}
	return reg, ok
}

// CSTAClients is the number of CSTA links open now (0 while stopped).
func (p *PBX) CSTAClients() int {
	n := 0
	if r := p.current(); r != nil {
		r.do(func() { n = len(r.csta.clients) })
	}
	return n
}

// respond answers req; a failure to send is an error event naming the peer.
func (p *PBX) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string) {
	p.send(req, tx, sip.NewResponseFromRequest(req, code, reason, nil))
}

func (p *PBX) send(req *sip.Request, tx sip.ServerTransaction, res *sip.Response) {
	if err := tx.Respond(res); err != nil {
		p.node.Network().Errorf(p.node.Name(), srcOf(req), "respond %d to %s: %v", res.StatusCode, req.Method, err)
	}
}

// reject reports bad input from src in the trace and answers it (style:
// bad input gets a clear error naming source, place and what was wrong).
func (p *PBX) reject(req *sip.Request, tx sip.ServerTransaction, code int, reason string, err error) {
	p.node.Network().Errorf(p.node.Name(), srcOf(req), "%s: %v; answered %d", req.Method, err, code)
	p.respond(req, tx, code, reason)
}

func srcOf(req *sip.Request) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(req.Source())
	return ap
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func tagParams() sip.HeaderParams {
	p := sip.NewParams()
	p.Add("tag", sip.GenerateTagN(10))
	return p
}
