package pbx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/sim"
)

// Config is the PBX's configuration. The zero value works with Extensions set.
type Config struct {
	Extensions    []string      // the directory: numbers the PBX knows
	SIPPort       uint16        // default 5060
	CSTAPort      uint16        // default 8882
	MaxExpiry     time.Duration // longest registration granted; default 3600s
	CSTAKeepAlive time.Duration // SystemStatus towards each CSTA client; default 30s
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
	if c.SIPPort == 0 {
		c.SIPPort = 5060
	}
	if c.CSTAPort == 0 {
		c.CSTAPort = 8882
	}
	if c.MaxExpiry == 0 {
		c.MaxExpiry = 3600 * time.Second
	}
	if c.CSTAKeepAlive == 0 {
		c.CSTAKeepAlive = 30 * time.Second
	}
	return nil
}

// PBX is the simulated MX-ONE: registrar, B2BUA call control and the CSTA
// server, on one lab node.
type PBX struct {
	node *sim.Node
	cfg  Config

	sip     *sim.SIPStack
	dlgSrv  *sipgo.DialogServerCache
	dlgCli  *sipgo.DialogClientCache
	csta    *cstaServer
	ctx     context.Context
	cancel  context.CancelFunc
	running bool

	mu       sync.Mutex
	reg      *Registrar
	calls    map[string]*call // by Call-ID of either leg
	nextCall uint64
	wg       sync.WaitGroup
}

// New makes a PBX on node; Start brings it up.
func New(node *sim.Node, cfg Config) (*PBX, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &PBX{node: node, cfg: cfg, reg: NewRegistrar(cfg.Extensions), calls: map[string]*call{}}, nil
}

// Start binds SIP and CSTA and serves them.
func (p *PBX) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return nil
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	st, err := p.node.StartSIP(p.cfg.SIPPort, "MX-ONE reclab", func(s *sipgo.Server) {
		s.OnRegister(p.onRegister)
		s.OnInvite(p.onInvite)
		s.OnAck(p.onAck)
		s.OnBye(p.onBye)
		s.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		})
	})
	if err != nil {
		return err
	}
	p.sip = st
	contact := sip.ContactHeader{Address: sip.Uri{User: "pbx", Host: st.Addr.Addr().String(), Port: int(st.Addr.Port())}}
	p.dlgSrv = sipgo.NewDialogServerCache(st.Client, contact)
	p.dlgCli = sipgo.NewDialogClientCache(st.Client, contact)
	cs, err := startCSTA(p, p.cfg.CSTAPort)
	if err != nil {
		st.Close()
		return err
	}
	p.csta = cs
	p.running = true
	p.wg.Add(1)
	go p.expireLoop()
	p.node.Note("PBX up: SIP %s, CSTA %s, %d extensions", st.Addr, p.node.AddrPort(p.cfg.CSTAPort), len(p.cfg.Extensions))
	return nil
}

// Stop takes the PBX down without goodbyes: sockets close, registrations and
// calls are forgotten (spec §3.2.6: a restart of the server).
func (p *PBX) Stop() {
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return
	}
	p.running = false
	p.cancel()
	st, cs := p.sip, p.csta
	p.reg.Clear()
	p.calls = map[string]*call{}
	p.mu.Unlock()
	cs.close()
	st.Close()
	p.wg.Wait()
	p.node.Note("PBX down")
}

// Addr is the PBX's SIP address.
func (p *PBX) Addr() netip.AddrPort { return p.node.AddrPort(p.cfg.SIPPort) }

// CSTAAddr is where recorders connect.
func (p *PBX) CSTAAddr() netip.AddrPort { return p.node.AddrPort(p.cfg.CSTAPort) }

// Registrations lists the current bindings.
func (p *PBX) Registrations() []Registration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reg.Bindings()
}

// Lookup returns the binding of ext.
func (p *PBX) Lookup(ext string) (Registration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reg.Lookup(ext)
}

func (p *PBX) expireLoop() {
	defer p.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			p.mu.Lock()
			gone := p.reg.Expire(p.node.Network().Now())
			p.mu.Unlock()
			for _, g := range gone {
				p.node.Note("registration of %s from %s expired", g.Ext, g.Contact)
				p.csta.outOfService(g)
			}
		}
	}
}

func (p *PBX) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string) {
	if err := tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil)); err != nil {
		p.node.Network().Errorf(p.node.Name(), srcOf(req), "respond %d to %s: %v", code, req.Method, err)
	}
}

func srcOf(req *sip.Request) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(req.Source())
	return ap
}

// modelFromUserAgent reads "Mitel 7434 MAC:… V:…" (docs/wire.md).
func modelFromUserAgent(ua string) string {
	f := strings.Fields(ua)
	if len(f) >= 2 && strings.EqualFold(f[0], "Mitel") {
		return f[1]
	}
	return ""
}

func (p *PBX) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	src := srcOf(req)
	to := req.To()
	if to == nil || to.Address.User == "" {
		p.node.Network().Errorf(p.node.Name(), src, "REGISTER without a user in To")
		p.respond(req, tx, 400, "Bad Request: To has no user")
		return
	}
	ext := to.Address.User
	expires := p.cfg.MaxExpiry
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			p.node.Network().Errorf(p.node.Name(), src, "REGISTER %s: bad Expires %q", ext, h.Value())
			p.respond(req, tx, 400, "Bad Request: Expires")
			return
		}
		expires = time.Duration(n) * time.Second
	}
	if expires > p.cfg.MaxExpiry {
		expires = p.cfg.MaxExpiry
	}
	contact := req.Contact()
	if contact == nil {
		p.respond(req, tx, 400, "Bad Request: no Contact")
		return
	}
	addr, err := netip.ParseAddr(contact.Address.Host)
	if err != nil {
		p.node.Network().Errorf(p.node.Name(), src, "REGISTER %s: contact host %q is not an IP address", ext, contact.Address.Host)
		p.respond(req, tx, 400, "Bad Request: Contact host")
		return
	}
	port := contact.Address.Port
	if port == 0 {
		port = 5060
	}
	cap := netip.AddrPortFrom(addr, uint16(port))
	model := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		model = modelFromUserAgent(h.Value())
	}
	recPort := port
	if m, err := phones.LookupModel(model); err == nil {
		if fixed, ok := m.FixedRecordingPort(); ok {
			recPort = fixed
		}
	}
	reg := Registration{Ext: ext, Contact: cap, Model: model, RecordingPort: recPort, Expires: p.node.Network().Now() + expires}

	p.mu.Lock()
	out, prev := p.reg.Register(reg, expires)
	p.mu.Unlock()

	switch out {
	case RegRefused:
		if !p.reg.Known(ext) {
			p.node.Note("REGISTER %s from %s refused: not in the directory", ext, cap)
			p.respond(req, tx, 404, "Not Found")
			return
		}
		p.node.Note("REGISTER %s from %s refused: logged off by another registration", ext, cap)
		p.respond(req, tx, 403, "Forbidden")
		return
	case RegNotFound:
		p.respond(req, tx, 200, "OK")
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	if expires > 0 {
		c := contact.Clone()
		c.Params.Add("expires", strconv.Itoa(int(expires/time.Second)))
		res.ReplaceHeader(c)
	}
	if err := tx.Respond(res); err != nil {
		p.node.Network().Errorf(p.node.Name(), src, "respond to REGISTER: %v", err)
	}
	switch out {
	case RegNew:
		p.node.Note("%s registered from %s (model %s, recording port %d, %ds)", ext, cap, model, recPort, int(expires/time.Second))
		p.csta.backInService(reg)
	case RegMoved:
		// spec §3.2.3: the first phone is logged off; CSTA tells the recorder
		// the extension now has phone B's address.
		p.node.Note("%s moved from %s to %s: logging %s off", ext, prev.Contact, cap, prev.Contact)
		p.csta.outOfService(prev)
		p.csta.backInService(reg)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.notifyLogOff(prev)
		}()
	case RegRemoved:
		p.node.Note("%s unregistered from %s", ext, cap)
		p.csta.outOfService(prev)
	}
}

// notifyLogOff tells a phone its registration was taken over (docs/wire.md:
// an RFC 3680 reg-event NOTIFY, unsolicited).
func (p *PBX) notifyLogOff(old Registration) {
	uri := sip.Uri{User: old.Ext, Host: old.Contact.Addr().String(), Port: int(old.Contact.Port())}
	req := sip.NewRequest(sip.NOTIFY, uri)
	aor := sip.Uri{User: old.Ext, Host: p.sip.Addr.Addr().String()}
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{User: "pbx", Host: p.sip.Addr.Addr().String()}, Params: tagParams()})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(sip.NewHeader("Event", "reg"))
	req.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=deactivated"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/reginfo+xml"))
	body := fmt.Sprintf(`<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="partial">
  <registration aor="%s" id="%s" state="terminated">
    <contact id="%s" state="terminated" event="deactivated"><uri>%s</uri></contact>
  </registration>
</reginfo>
`, aor.String(), old.Ext, old.Ext, uri.String())
	req.SetBody([]byte(body))
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	res, err := p.sip.Client.Do(ctx, req)
	if err != nil {
		p.node.Network().Errorf(p.node.Name(), old.Contact, "NOTIFY log-off to %s: %v", old.Ext, err)
		return
	}
	if res.StatusCode != 200 {
		p.node.Note("NOTIFY log-off to %s at %s answered %d", old.Ext, old.Contact, res.StatusCode)
	}
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
