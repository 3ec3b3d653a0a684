package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// RogueAddr is the rogue host of the default address plan (design.md): a
// machine on the network that is not the recorder, for security
// demonstrations. A lab moved to another block (`--net 127.N`) has its
// rogue at 127.N.9.9: Topology.RogueAddr.
var RogueAddr = netip.MustParseAddr("127.20.9.9")

// RogueAddr is where this lab's rogue host stands: .9.9 of the PBX's /16
// when the PBX is on loopback (127.N.9.9 beside 127.N.0.1), so a lab moved
// with `--net` keeps its rogue inside its own block; RogueAddr otherwise.
func (t Topology) RogueAddr() netip.Addr {
	if a := t.PBXAddr; a.Is4() && a.IsLoopback() {
		b := a.As4()
		return netip.AddrFrom4([4]byte{b[0], b[1], 9, 9})
	}
	return RogueAddr
}

// Rogue ports: its SIP stack and the two RTP ports its forged offer names.
const (
	RogueSIPPort = 5060
	RogueRTPPort = 30000 // tx; rx is RogueRTPPort+2
)

// Rogue is a host that pretends to be a recorder: it has a SIP stack of its
// own and two RTP sockets, and sends a well-formed two-m-line recording
// INVITE (design.md "The recording session") from an address that is not
// in the phones' allow-list (spec §3.2: `recording allowed ip`).
type Rogue struct {
	node    *sim.Node
	sip     *sim.SIPStack
	tx, rx  *sim.PacketConn
	packets atomic.Uint64 // RTP datagrams that reached the rogue
}

// AddRogue puts the rogue host on the lab network at Topology.RogueAddr, named
// "rogue", with its SIP stack and RTP sockets bound. Close it before the
// lab (the network closes its sockets anyway).
func (l *Lab) AddRogue() (*Rogue, error) {
	node, err := l.Net.AddNode("rogue", l.Topology.RogueAddr())
	if err != nil {
		return nil, err
	}
	stack, err := node.StartSIP(RogueSIPPort, "reclab rogue", nil)
	if err != nil {
		return nil, err
	}
	r := &Rogue{node: node, sip: stack}
	if r.tx, err = node.ListenPacket(RogueRTPPort); err != nil {
		stack.Close()
		return nil, err
	}
	if r.rx, err = node.ListenPacket(RogueRTPPort + 2); err != nil {
		stack.Close()
		r.tx.Close()
		return nil, err
	}
	l.Net.Label(r.tx.LocalAddrPort(), "rogue tx")
	l.Net.Label(r.rx.LocalAddrPort(), "rogue rx")
	go r.count(r.tx)
	go r.count(r.rx)
	return r, nil
}

// count drains one RTP socket until it closes.
func (r *Rogue) count(c *sim.PacketConn) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := c.ReadFromAddrPort(buf); err != nil {
			return
		}
		r.packets.Add(1)
	}
}

// Name is the rogue's node name.
func (r *Rogue) Name() string { return r.node.Name() }

// RTPPackets is how many RTP datagrams reached the rogue's sockets.
func (r *Rogue) RTPPackets() uint64 { return r.packets.Load() }

// ForgeRecordingInvite sends the recording INVITE a recorder would send,
// to ext at target (the phone's recording address), through the rogue's own
// traced SIP stack. It returns the final status code; a 2xx is ACKed so the
// phone would start forking towards the rogue if it had accepted.
func (r *Rogue) ForgeRecordingInvite(ctx context.Context, ext string, target netip.AddrPort) (int, error) {
	body, err := media.BuildRecordingOffer(media.RecordingOffer{
		SessionID: 1, SessionVersion: 1, Origin: r.node.Addr(),
		TX: r.tx.LocalAddrPort(), RX: r.rx.LocalAddrPort(),
	})
	if err != nil {
		return 0, fmt.Errorf("lab: rogue: %w", err)
	}
	uri := sip.Uri{Scheme: "sip", User: ext, Host: target.Addr().String(), Port: int(target.Port())}
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "recorder", Host: r.node.Addr().String()}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: target.Addr().String()}}
	dialogs := sipgo.NewDialogClientCache(r.sip.Client, *r.sip.Contact("recorder"))
	dt, err := dialogs.Invite(ctx, uri, body, from, to, sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		return 0, fmt.Errorf("lab: rogue: INVITE %s: %w", uri.String(), err)
	}
	defer dt.Close()
	err = dt.WaitAnswer(ctx, sipgo.AnswerOptions{})
	var refused *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &refused):
		r.node.Note("forged recording INVITE to %s refused: %d %s", target, refused.Res.StatusCode, refused.Res.Reason)
		return refused.Res.StatusCode, nil
	case err != nil:
		return 0, fmt.Errorf("lab: rogue: INVITE %s: %w", uri.String(), err)
	}
	// Accepted: ACK, as a recorder would, so the phone starts forking to
	// the rogue. A phone that honours its allow-list never gets here.
	code := dt.InviteResponse.StatusCode
	r.node.Note("forged recording INVITE to %s accepted: %d", target, code)
	if err := dt.Ack(ctx); err != nil {
		return code, fmt.Errorf("lab: rogue: ACK: %w", err)
	}
	return code, nil
}

// StealRegistration is the attack of issue 11: a REGISTER for ext with the
// rogue's own Contact, sent to the PBX at pbx; answered with a challenge,
// it tries guess as the password (none: it gives up at the challenge). It
// returns the final status code the PBX gave. A PBX that authenticates
// never answers 200.
func (r *Rogue) StealRegistration(ctx context.Context, ext string, pbx netip.AddrPort, guess string) (int, error) {
	aor := sip.Uri{Scheme: "sip", User: ext, Host: pbx.Addr().String()}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: pbx.Addr().String(), Port: int(pbx.Port())})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(r.sip.Contact(ext))
	req.AppendHeader(sip.NewHeader("Expires", "120"))
	req.SetDestination(pbx.String())
	res, err := r.sip.Client.Do(ctx, req)
	if err == nil && res.StatusCode == sip.StatusUnauthorized && guess != "" {
		res, err = r.sip.Client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: ext, Password: guess})
	}
	if err != nil {
		return 0, fmt.Errorf("lab: rogue: REGISTER %s: %w", ext, err)
	}
	r.node.Note("REGISTER of %s from the rogue host answered %d %s", ext, res.StatusCode, res.Reason)
	return res.StatusCode, nil
}

// Close stops the rogue's SIP stack and RTP sockets.
func (r *Rogue) Close() {
	r.sip.Close()
	r.tx.Close()
	r.rx.Close()
}
