package pbx

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/reclab/reclab/pbx/h225ras"
	"github.com/reclab/reclab/sim"
)

// The PBX as H.323 gatekeeper on 1719/udp (H.225.0 RAS, issue 15): the
// DBC phones (MiVoice 442x, Mitel 743x/744x) discover it (GRQ/GCF),
// register (RRQ/RCF with a time to live), refresh with lightweight RRQs
// and leave with URQ, into the same Registrar as SIP REGISTERs, so a
// forced log-off (spec §3.2.3) works across both and CSTA tells the
// recorder exactly as for SIP (BackInService/OutOfService with IP,
// recording port 7300 and model). Gatekeeper is the pure core; the driver
// below reads the socket sim handed out and performs its decisions on the
// PBX's loop.

// rasCallIDPrefix marks a binding made over RAS: its CallID is
// "ras:<endpointIdentifier>", one per full registration (a boot of the
// phone, or a re-registration after it lost the gatekeeper).
const rasCallIDPrefix = "ras:"

// rasEndpoint is one registered H.323 endpoint.
type rasEndpoint struct {
	ext string
	ras netip.AddrPort // where its RAS answers and the gatekeeper's URQ go
}

// Gatekeeper decides RAS requests against the Registrar. It opens no
// socket and reads no clock: Step gets the lab time.
type Gatekeeper struct {
	id      string         // gatekeeperIdentifier
	ras     netip.AddrPort // its own RAS address, for GCF
	signal  netip.AddrPort // its call signalling address, for RCF (the PBX's SIP: calls stay SIP)
	reg     *Registrar
	maxTTL  time.Duration
	eps     map[string]rasEndpoint // by endpointIdentifier
	nextEP  map[string]int         // by extension: "<ext>-<n>", the same on every run
	nextSeq uint16                 // the gatekeeper's own requests (URQ)
}

// NewGatekeeper decides for reg; ids and addresses go into its answers.
func NewGatekeeper(id string, ras, signal netip.AddrPort, reg *Registrar, maxTTL time.Duration) *Gatekeeper {
	return &Gatekeeper{id: id, ras: ras, signal: signal, reg: reg, maxTTL: maxTTL, eps: map[string]rasEndpoint{}, nextEP: map[string]int{}}
}

// GKDecision is what one RAS message makes the gatekeeper do: answer it,
// and tell CSTA when a binding changed (Outcome, Reg, Prev as the
// Registrar gives them). Err is bad input, for the trace's error event.
type GKDecision struct {
	Reply   h225ras.Message // nil: no answer (an answer to our own URQ)
	Changed bool            // Outcome, Reg and Prev are set
	Outcome RegisterOutcome
	Reg     Registration
	Prev    Registration
	Note    string
	Err     error
}

// Step decides one RAS message from src at lab time now.
func (g *Gatekeeper) Step(now time.Duration, src netip.AddrPort, m h225ras.Message) GKDecision {
	switch m := m.(type) {
	case *h225ras.GRQ:
		// H.225.0 §7.2.1: a GRQ naming another gatekeeper is refused.
		if m.GatekeeperID != "" && m.GatekeeperID != g.id {
			return GKDecision{Reply: &h225ras.GRJ{RequestSeqNum: m.RequestSeqNum, Protocol: h225ras.ProtocolV4, GatekeeperID: g.id,
				Reason: h225ras.GRJTerminalExcluded}, Note: fmt.Sprintf("GRQ from %s for gatekeeper %q refused", src, m.GatekeeperID)}
		}
		return GKDecision{Reply: &h225ras.GCF{RequestSeqNum: m.RequestSeqNum, Protocol: h225ras.ProtocolV4, GatekeeperID: g.id, RASAddress: g.ras}}
	case *h225ras.RRQ:
		if m.KeepAlive {
			return g.refresh(now, src, m)
		}
		return g.register(now, src, m)
	case *h225ras.URQ:
		return g.unregister(src, m)
	case *h225ras.UCF, *h225ras.URJ:
		return GKDecision{Note: fmt.Sprintf("%s from %s", h225ras.Summary(m), src)}
	}
	return GKDecision{Err: fmt.Errorf("pbx: RAS from %s: %s is not a request to a gatekeeper", src, m.Kind())}
}

func (g *Gatekeeper) rrj(m *h225ras.RRQ, reason h225ras.RRJReason, err error) GKDecision {
	return GKDecision{Reply: &h225ras.RRJ{RequestSeqNum: m.RequestSeqNum, Protocol: h225ras.ProtocolV4, Reason: reason, GatekeeperID: g.id}, Err: err}
}

// ttl is what the gatekeeper grants: what was asked, capped at the
// maximum; nothing asked is the maximum.
func (g *Gatekeeper) ttl(asked uint32) time.Duration {
	d := time.Duration(asked) * time.Second
	if d == 0 || d > g.maxTTL {
		d = g.maxTTL
	}
	return d
}

// register is a full RRQ (H.225.0 §7.6.1).
func (g *Gatekeeper) register(now time.Duration, src netip.AddrPort, m *h225ras.RRQ) GKDecision {
	ext := ""
	for _, a := range m.TerminalAlias {
		if a.Kind == h225ras.AliasDigits {
			ext = a.Value
			break
		}
	}
	switch {
	case ext == "":
		return g.rrj(m, h225ras.RRJInvalidAlias, fmt.Errorf("pbx: RRQ from %s: terminalAlias has no dialledDigits (the extension)", src))
	case m.GatekeeperID != "" && m.GatekeeperID != g.id:
		return g.rrj(m, h225ras.RRJUndefinedReason, fmt.Errorf("pbx: RRQ %s from %s: gatekeeperIdentifier %q is not %q", ext, src, m.GatekeeperID, g.id))
	case len(m.RAS) == 0 || m.RAS[0] != src:
		// Answers and the gatekeeper's URQ go to rasAddress: it must be the sender.
		return g.rrj(m, h225ras.RRJInvalidRASAddress, fmt.Errorf("pbx: RRQ %s from %s: rasAddress %v is not the address it came from", ext, src, m.RAS))
	case len(m.CallSignal) == 0 || m.CallSignal[0].Addr() != src.Addr():
		// As for a SIP Contact (docs/wire.md): a phone binds only its own address.
		return g.rrj(m, h225ras.RRJInvalidCallSignalAddress, fmt.Errorf("pbx: RRQ %s from %s: callSignalAddress %v is not on the sender's address", ext, src, m.CallSignal))
	}
	// Without H.235 nothing proves who sends an RRQ: a live binding held
	// from another address is not taken over RAS (issue 11). A SIP phone,
	// digest-authenticated, may still take it (spec §3.2.3).
	if b, ok := g.reg.Lookup(ext); ok && b.Expires > now && b.Contact.Addr() != src.Addr() {
		d := g.rrj(m, h225ras.RRJDuplicateAlias, fmt.Errorf("pbx: RRQ %s from %s refused: %s is registered from %s until it unregisters or ages out", ext, src, ext, b.Contact.Addr()))
		d.Reply.(*h225ras.RRJ).DuplicateAlias = []h225ras.Alias{h225ras.Digits(ext)}
		return d
	}
	g.nextEP[ext]++
	epid := fmt.Sprintf("%s-%d", ext, g.nextEP[ext])
	ttl := g.ttl(m.TimeToLive)
	signal := m.CallSignal[0]
	mdl := modelFromUserAgent(m.EndpointVendor.ProductID)
	reg := Registration{Ext: ext, Contact: signal, Model: mdl, RecordingPort: recordingPort(mdl, int(signal.Port())),
		Expires: now + ttl, CallID: rasCallIDPrefix + epid}
	known := g.reg.Known(ext)
	out, prev := g.reg.Register(reg, ttl)
	if out == RegRefused {
		if !known {
			return g.rrj(m, h225ras.RRJInvalidAlias, fmt.Errorf("pbx: RRQ %s from %s: not in the directory", ext, src))
		}
		// spec §3.2.3: the phone that was logged off may not take the number back.
		d := g.rrj(m, h225ras.RRJDuplicateAlias, nil)
		d.Reply.(*h225ras.RRJ).DuplicateAlias = []h225ras.Alias{h225ras.Digits(ext)}
		d.Note = fmt.Sprintf("RRQ %s from %s refused: logged off by another registration", ext, src)
		return d
	}
	if old, ok := strings.CutPrefix(prev.CallID, rasCallIDPrefix); ok && out != RegMoved {
		delete(g.eps, old) // a moved one stays until SendAway has sent it away
	}
	g.eps[epid] = rasEndpoint{ext: ext, ras: src}
	return GKDecision{Reply: g.rcf(m, ext, epid, ttl), Changed: true, Outcome: out, Reg: reg, Prev: prev}
}

func (g *Gatekeeper) rcf(m *h225ras.RRQ, ext, epid string, ttl time.Duration) *h225ras.RCF {
	return &h225ras.RCF{RequestSeqNum: m.RequestSeqNum, Protocol: h225ras.ProtocolV4, CallSignal: []netip.AddrPort{g.signal},
		TerminalAlias: []h225ras.Alias{h225ras.Digits(ext)}, GatekeeperID: g.id, EndpointID: epid, TimeToLive: uint32(ttl / time.Second)}
}

// binding is the registration endpoint epid holds now, if any: a binding
// that lapsed, moved to another phone or was made again since is not it.
func (g *Gatekeeper) binding(epid string) (Registration, rasEndpoint, bool) {
	ep, ok := g.eps[epid]
	if !ok {
		return Registration{}, ep, false
	}
	b, ok := g.reg.Lookup(ep.ext)
	if !ok || b.CallID != rasCallIDPrefix+epid {
		delete(g.eps, epid)
		return Registration{}, ep, false
	}
	return b, ep, true
}

// refresh is a lightweight RRQ (H.225.0 §7.9.1): keepAlive with the
// endpointIdentifier it was given. One the gatekeeper does not know (it
// restarted, spec §3.2.6, or the registration aged out) is refused with
// fullRegistrationRequired, and the phone registers again in full.
func (g *Gatekeeper) refresh(now time.Duration, src netip.AddrPort, m *h225ras.RRQ) GKDecision {
	b, ep, ok := g.binding(m.EndpointID)
	if !ok {
		return g.rrj(m, h225ras.RRJFullRegistrationRequired, nil)
	}
	if ep.ras != src {
		// The endpointIdentifier is no secret without H.235: only the
		// address it registered from may use it (issue 11).
		return g.rrj(m, h225ras.RRJSecurityDenial, fmt.Errorf("pbx: lightweight RRQ from %s refused: endpoint %q registered from %s", src, m.EndpointID, ep.ras))
	}
	ttl := g.ttl(m.TimeToLive)
	b.Expires = now + ttl
	out, prev := g.reg.Register(b, ttl)
	return GKDecision{Reply: g.rcf(m, ep.ext, m.EndpointID, ttl), Changed: true, Outcome: out, Reg: b, Prev: prev}
}

// unregister is an endpoint's URQ (H.225.0 §7.7).
func (g *Gatekeeper) unregister(src netip.AddrPort, m *h225ras.URQ) GKDecision {
	b, ep, ok := g.binding(m.EndpointID)
	if !ok {
		return GKDecision{Reply: &h225ras.URJ{RequestSeqNum: m.RequestSeqNum, Reason: h225ras.URJNotCurrentlyRegistered},
			Note: fmt.Sprintf("URQ from %s: endpoint %q is not registered", src, m.EndpointID)}
	}
	if ep.ras != src {
		// As for a lightweight RRQ: only the endpoint's own address (issue 11).
		return GKDecision{Reply: &h225ras.URJ{RequestSeqNum: m.RequestSeqNum, Reason: h225ras.URJSecurityDenial},
			Err: fmt.Errorf("pbx: URQ from %s refused: endpoint %q registered from %s", src, m.EndpointID, ep.ras)}
	}
	out, prev := g.reg.Register(b, 0)
	delete(g.eps, m.EndpointID)
	return GKDecision{Reply: &h225ras.UCF{RequestSeqNum: m.RequestSeqNum}, Changed: true, Outcome: out, Reg: b, Prev: prev}
}

// SendAway is the URQ that tells the RAS endpoint of binding old it is no
// longer registered (spec §3.2.3: another phone took its extension), and
// where it goes; false if old was not made over RAS.
func (g *Gatekeeper) SendAway(old Registration) (*h225ras.URQ, netip.AddrPort, bool) {
	epid, ok := strings.CutPrefix(old.CallID, rasCallIDPrefix)
	if !ok {
		return nil, netip.AddrPort{}, false
	}
	ep, ok := g.eps[epid]
	if !ok {
		return nil, netip.AddrPort{}, false
	}
	delete(g.eps, epid)
	g.nextSeq = g.nextSeq%65535 + 1
	reason := h225ras.URQUndefinedReason
	return &h225ras.URQ{RequestSeqNum: g.nextSeq, CallSignal: []netip.AddrPort{old.Contact},
		EndpointAlias: []h225ras.Alias{h225ras.Digits(old.Ext)}, EndpointID: epid, GatekeeperID: g.id, Reason: &reason}, ep.ras, true
}

// The driver.

// startGatekeeper binds RAS on the node (a socket from sim: every datagram
// in the trace) and reads it until the run stops.
func (p *PBX) startGatekeeper(r *run) error {
	conn, err := p.node.ListenPacket(p.cfg.RASPort)
	if err != nil {
		return fmt.Errorf("pbx: gatekeeper: %w", err)
	}
	r.ras = conn
	r.gk = NewGatekeeper(p.cfg.GatekeeperID, conn.LocalAddrPort(), p.Addr(), p.reg, p.cfg.MaxExpiry)
	r.wg.Go(func() { p.readRAS(r, conn) })
	return nil
}

// readRAS decodes each datagram on its own goroutine and posts it to the
// loop; bad input is an error event naming the sender.
func (p *PBX) readRAS(r *run, conn *sim.PacketConn) {
	buf := make([]byte, 4096)
	for {
		n, src, err := conn.ReadFromAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && r.ctx.Err() == nil {
				p.node.Network().Errorf(p.node.Name(), netip.AddrPort{}, "gatekeeper: read: %v", err)
			}
			return
		}
		m, err := h225ras.Decode(buf[:n])
		if err != nil {
			p.node.Network().Errorf(p.node.Name(), src, "gatekeeper: %d bytes from %s: %v", n, src, err)
			continue
		}
		r.post(func() { p.onRAS(r, src, m) })
	}
}

// onRAS performs the gatekeeper's decision; on the loop. Answers are
// datagrams, never a wait.
func (p *PBX) onRAS(r *run, src netip.AddrPort, m h225ras.Message) {
	d := r.gk.Step(p.node.Network().Now(), src, m)
	if d.Err != nil {
		p.node.Network().Errorf(p.node.Name(), src, "%v", d.Err)
	}
	if d.Note != "" {
		p.node.Note("%s", d.Note)
	}
	if d.Reply != nil {
		p.sendRAS(r, src, d.Reply)
	}
	if !d.Changed {
		return
	}
	reg, prev := d.Reg, d.Prev
	switch d.Outcome {
	case RegNew, RegRestarted:
		p.node.Note("%s registered over RAS from %s (model %s, recording port %d, ttl %ds)", reg.Ext, reg.Contact, reg.Model, reg.RecordingPort, int((reg.Expires-p.node.Network().Now())/time.Second))
		r.csta.backInService(reg, d.Outcome.String())
	case RegRefresh:
		if prev.Contact != reg.Contact || prev.Model != reg.Model || prev.RecordingPort != reg.RecordingPort {
			r.csta.backInService(reg, d.Outcome.String())
		}
	case RegMoved:
		// spec §3.2.3, as for SIP (register.go).
		p.node.Note("%s moved from %s to %s: logging %s off", reg.Ext, prev.Contact, reg.Contact, prev.Contact)
		r.csta.outOfService(prev, d.Outcome.String())
		r.csta.backInService(reg, d.Outcome.String())
		p.logOff(r, prev)
	case RegRemoved:
		p.node.Note("%s unregistered over RAS from %s", reg.Ext, src)
		r.csta.outOfService(prev, d.Outcome.String())
	}
}

// logOff tells the phone of a binding another phone took that it is logged
// off (spec §3.2.3): a URQ from the gatekeeper to a RAS endpoint, else the
// SIP NOTIFY of docs/wire.md. On the loop.
func (p *PBX) logOff(r *run, old Registration) {
	if urq, to, ok := r.gk.SendAway(old); ok {
		p.sendRAS(r, to, urq)
		return
	}
	r.wg.Go(func() { p.notifyLogOff(r, old) }) // Stop waits for it
}

func (p *PBX) sendRAS(r *run, to netip.AddrPort, m h225ras.Message) {
	b, err := h225ras.Encode(m)
	if err == nil {
		_, err = r.ras.WriteToAddrPort(b, to)
	}
	if err != nil {
		p.node.Network().Errorf(p.node.Name(), to, "gatekeeper: send %s: %v", m.Kind(), err)
	}
}
