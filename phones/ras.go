package phones

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/reclab/reclab/pbx/h225ras"
	"github.com/reclab/reclab/sim"
)

// The 442x/743x/744x as the H.323 terminals they are (spec §1.3, issue
// 15): they register with the MX-ONE's gatekeeper over H.225.0 RAS on
// 1719/udp instead of SIP REGISTER. The Registration core is the same; its
// actions go out as RAS here:
//
//   - RegSendRegister: GRQ (discovery) and a full RRQ with a time to live
//     when the phone holds no endpoint identifier, else a lightweight RRQ
//     (keepAlive, H.225.0 §7.9.1) that refreshes it. An RRJ to the
//     lightweight one (the gatekeeper forgot it) makes a full registration.
//   - RegSendOptions, the keep-alive of spec §3.2.6, is a lightweight RRQ
//     too: unanswered, the core logs the phone off (BYE to the recorder if
//     a session is up), tries URQ and registers again, with rediscovery,
//     when the gatekeeper answers.
//   - RegSendUnregister: URQ; the endpoint identifier is dropped whatever
//     the answer.
//   - A URQ from the gatekeeper (another phone took the extension, spec
//     §3.2.3) is answered UCF and logs the phone off as the SIP NOTIFY does.
//
// Calls and the recording stack stay SIP (docs/wire.md).

// rasRetransmit is the shortest interval at which an unanswered RAS
// request is sent again within its answer timeout (the endpoint retries).
const rasRetransmit = 500 * time.Millisecond

// rasClient is one power cycle's RAS endpoint: its socket (from sim), the
// requests waiting for answers and what the gatekeeper gave it. Its state
// is the driver's, guarded by mu: the Registration core decides.
type rasClient struct {
	conn   *sim.PacketConn
	gk     netip.AddrPort // where GRQ goes: the PBX's address, port 1719
	signal netip.AddrPort // the phone's call signalling address: its SIP stack (calls stay SIP)
	vendor h225ras.Vendor

	mu      sync.Mutex
	seq     uint16
	pending map[uint16]chan h225ras.Message
	gkRAS   netip.AddrPort // from GCF
	gkID    string         // from GCF
	epid    string         // from RCF; "" when not registered
	ttl     time.Duration  // what the last registration asked for, for the keep-alive's RRQ
}

func (p *Phone) usesRAS() bool { return p.model.H323() && !p.opts.SIPRegister }

// startRAS binds 1719 on the phone's address and reads it; on the loop.
func (p *Phone) startRAS(pw *powerCycle) (*rasClient, error) {
	conn, err := p.node.ListenPacket(sim.RASPort)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(p.ua) // "Mitel 7434 MAC:… V:…"
	v := h225ras.Vendor{CountryCode: 0xa5, ProductID: "Mitel " + p.model.Name}
	if len(f) >= 4 {
		v.VersionID = strings.TrimPrefix(f[3], "V:")
	}
	c := &rasClient{conn: conn, gk: netip.AddrPortFrom(p.opts.PBX.Addr(), sim.RASPort), signal: pw.pbx.Addr,
		vendor: v, pending: map[uint16]chan h225ras.Message{}}
	go p.readRAS(pw, c)
	return c, nil
}

// rasReadBuffer is the largest RAS datagram a phone reads whole (kept for
// the phone's life): a gatekeeper's answers are a few hundred bytes, and a
// longer datagram is cut and refused by the decoder with a problem note.
const rasReadBuffer = 1500

// readRAS hands answers to their requests and takes the gatekeeper's URQ.
func (p *Phone) readRAS(pw *powerCycle, c *rasClient) {
	buf := make([]byte, rasReadBuffer)
	for {
		n, src, err := c.conn.ReadFromAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !pw.isOff() {
				p.problem(netip.AddrPort{}, "RAS read: %v", err)
			}
			return
		}
		m, err := h225ras.Decode(buf[:n])
		if err != nil {
			p.problem(src, "RAS from %s: %v", src, err)
			continue
		}
		if urq, ok := m.(*h225ras.URQ); ok {
			p.gatekeeperURQ(pw, c, src, urq)
			continue
		}
		c.mu.Lock()
		ch := c.pending[m.SeqNum()]
		delete(c.pending, m.SeqNum())
		c.mu.Unlock()
		if ch == nil {
			continue // a late answer to a request retransmitted or given up
		}
		ch <- m
	}
}

// gatekeeperURQ is the gatekeeper sending the phone away (spec §3.2.3).
func (p *Phone) gatekeeperURQ(pw *powerCycle, c *rasClient, src netip.AddrPort, urq *h225ras.URQ) {
	c.mu.Lock()
	mine := src == c.gkRAS && urq.EndpointID != "" && urq.EndpointID == c.epid
	if mine {
		c.epid = ""
	}
	c.mu.Unlock()
	if !mine {
		p.problem(src, "URQ from %s for endpoint %q: not this phone's gatekeeper registration; answered URJ", src, urq.EndpointID)
		p.sendRASTo(c, src, &h225ras.URJ{RequestSeqNum: urq.RequestSeqNum, Reason: h225ras.URJNotCurrentlyRegistered})
		return
	}
	p.sendRASTo(c, src, &h225ras.UCF{RequestSeqNum: urq.RequestSeqNum})
	why := "undefinedReason"
	if urq.Reason != nil {
		why = urq.Reason.String()
	}
	p.loseRegistration(pw, fmt.Sprintf("forced log-off by the gatekeeper (URQ %s) (spec §3.2.3)", why))
}

func (p *Phone) sendRASTo(c *rasClient, to netip.AddrPort, m h225ras.Message) {
	b, err := h225ras.Encode(m)
	if err == nil {
		_, err = c.conn.WriteToAddrPort(b, to)
	}
	if err != nil {
		p.problem(to, "RAS send %s: %v", m.Kind(), err)
	}
}

// ask sends a request made for seq and waits for its answer, sending it
// again every rasRetransmit until ctx ends.
func (p *Phone) ask(ctx context.Context, c *rasClient, to netip.AddrPort, build func(seq uint16) h225ras.Message) (h225ras.Message, error) {
	ch := make(chan h225ras.Message, 1)
	c.mu.Lock()
	c.seq = c.seq%65535 + 1
	seq := c.seq
	c.pending[seq] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, seq)
		c.mu.Unlock()
	}()
	req := build(seq)
	b, err := h225ras.Encode(req)
	if err != nil {
		return nil, err
	}
	// Three tries within the answer timeout (H.225.0's default is a 3 s
	// timeout and two retries), never faster than rasRetransmit.
	t := p.node.Clock().NewTicker(max(p.answerTimeout()/3, rasRetransmit))
	defer t.Stop()
	for {
		if _, err := c.conn.WriteToAddrPort(b, to); err != nil {
			return nil, fmt.Errorf("%s: %w", req.Kind(), err)
		}
		select {
		case m := <-ch:
			return m, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: no answer within %s", req.Kind(), p.answerTimeout())
		case <-t.C:
		}
	}
}

func (p *Phone) rrq(c *rasClient, seq uint16, ttl time.Duration, light bool) *h225ras.RRQ {
	m := &h225ras.RRQ{RequestSeqNum: seq, Protocol: h225ras.ProtocolV4, DiscoveryComplete: !light,
		CallSignal: []netip.AddrPort{c.signal}, RAS: []netip.AddrPort{c.conn.LocalAddrPort()},
		TerminalType: h225ras.Terminal(), GatekeeperID: c.gkID, EndpointVendor: c.vendor,
		TimeToLive: uint32(ttl / time.Second)}
	if light {
		m.KeepAlive, m.EndpointID = true, c.epid
	} else {
		m.TerminalAlias = []h225ras.Alias{h225ras.Digits(p.Ext())}
	}
	return m
}

// rasRegister performs RegSendRegister or RegSendUnregister over RAS and
// returns the time to live granted.
func (p *Phone) rasRegister(ctx context.Context, pw *powerCycle, a RegAction) (time.Duration, error) {
	c := pw.ras
	if a.Kind == RegSendUnregister {
		return 0, p.rasUnregister(ctx, c)
	}
	c.mu.Lock()
	epid, gkRAS := c.epid, c.gkRAS
	c.mu.Unlock()
	if epid != "" {
		ttl, err := p.lightweightRRQ(ctx, c, gkRAS, a.Expiry)
		var refused *registerRefused
		if !errors.As(err, &refused) {
			return ttl, err
		}
		// The gatekeeper does not know the endpoint any more: register in full.
		p.node.Note("lightweight RRQ refused (%s): registering in full", refused.status)
	}
	return p.fullRegistration(ctx, c, a.Expiry)
}

// fullRegistration is discovery and a full RRQ (H.225.0 §7.2, §7.6).
func (p *Phone) fullRegistration(ctx context.Context, c *rasClient, expiry time.Duration) (time.Duration, error) {
	ext := p.Ext()
	m, err := p.ask(ctx, c, c.gk, func(seq uint16) h225ras.Message {
		return &h225ras.GRQ{RequestSeqNum: seq, Protocol: h225ras.ProtocolV4, RASAddress: c.conn.LocalAddrPort(),
			EndpointType: h225ras.Terminal(), EndpointAlias: []h225ras.Alias{h225ras.Digits(ext)}}
	})
	if err != nil {
		return 0, p.errorf("register: %w", err)
	}
	gcf, ok := m.(*h225ras.GCF)
	if !ok {
		return 0, p.errorf("register: %w", &registerRefused{status: h225ras.Summary(m)})
	}
	c.mu.Lock()
	c.gkRAS, c.gkID, c.epid = gcf.RASAddress, gcf.GatekeeperID, ""
	c.mu.Unlock()
	m, err = p.ask(ctx, c, gcf.RASAddress, func(seq uint16) h225ras.Message { return p.rrq(c, seq, expiry, false) })
	if err != nil {
		return 0, p.errorf("register: %w", err)
	}
	rcf, ok := m.(*h225ras.RCF)
	if !ok {
		return 0, p.errorf("register: %w", &registerRefused{status: h225ras.Summary(m)})
	}
	c.mu.Lock()
	c.epid, c.ttl = rcf.EndpointID, expiry
	c.mu.Unlock()
	return granted(rcf, expiry), nil
}

func granted(rcf *h225ras.RCF, asked time.Duration) time.Duration {
	if rcf.TimeToLive > 0 {
		return time.Duration(rcf.TimeToLive) * time.Second
	}
	return asked
}

// lightweightRRQ refreshes the registration (H.225.0 §7.9.1).
func (p *Phone) lightweightRRQ(ctx context.Context, c *rasClient, gk netip.AddrPort, expiry time.Duration) (time.Duration, error) {
	m, err := p.ask(ctx, c, gk, func(seq uint16) h225ras.Message {
		c.mu.Lock()
		defer c.mu.Unlock()
		return p.rrq(c, seq, expiry, true)
	})
	if err != nil {
		return 0, p.errorf("register: %w", err)
	}
	rcf, ok := m.(*h225ras.RCF)
	if !ok {
		c.mu.Lock()
		c.epid = ""
		c.mu.Unlock()
		return 0, p.errorf("register: %w", &registerRefused{status: h225ras.Summary(m)})
	}
	return granted(rcf, expiry), nil
}

// rasKeepAlive is the gatekeeper keep-alive of spec §3.2.6: a lightweight
// RRQ; no RCF (no answer, or an RRJ) is a lost gatekeeper.
func (p *Phone) rasKeepAlive(ctx context.Context, pw *powerCycle) error {
	c := pw.ras
	c.mu.Lock()
	epid, gk, ttl := c.epid, c.gkRAS, c.ttl
	c.mu.Unlock()
	if epid == "" {
		return errors.New("not registered with the gatekeeper")
	}
	_, err := p.lightweightRRQ(ctx, c, gk, ttl)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "phones: "+p.Ext()+" register: "))
	}
	return nil
}

// rasUnregister sends URQ (H.225.0 §7.7); the phone forgets its endpoint
// identifier whatever the answer.
func (p *Phone) rasUnregister(ctx context.Context, c *rasClient) error {
	c.mu.Lock()
	epid, gk, gkID := c.epid, c.gkRAS, c.gkID
	c.epid = ""
	c.mu.Unlock()
	if epid == "" {
		return nil // never registered, or sent away: nothing to undo
	}
	ext := p.Ext()
	m, err := p.ask(ctx, c, gk, func(seq uint16) h225ras.Message {
		return &h225ras.URQ{RequestSeqNum: seq, CallSignal: []netip.AddrPort{c.signal},
			EndpointAlias: []h225ras.Alias{h225ras.Digits(ext)}, EndpointID: epid, GatekeeperID: gkID}
	})
	if err != nil {
		return p.errorf("unregister: %w", err)
	}
	if _, ok := m.(*h225ras.UCF); !ok {
		return p.errorf("unregister: %w", &registerRefused{status: h225ras.Summary(m)})
	}
	return nil
}
