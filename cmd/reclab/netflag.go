package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/reclab/reclab/lab"
)

// The --net flag of every command that builds a lab (run, tui, bench; a
// serve command takes it from here too): the first two bytes of the lab's
// addresses, so a second lab runs beside one on the default 127.20.
const (
	defaultNet = "127.20"
	netUsage   = "first two bytes of the lab's addresses (PBX `127.N`.0.1, recorder .0.2, phones .1.1 up); another /16, e.g. 127.21, runs beside a lab on 127.20"
)

// netFlag registers --net on fs into p.
func netFlag(fs *flag.FlagSet, p *string) { fs.StringVar(p, "net", defaultNet, netUsage) }

// hepFlag registers --hep on fs (run, tui, serve; issue 17).
func hepFlag(fs *flag.FlagSet) *string {
	return fs.String("hep", "", "send the lab live as HEP3 to a collector at `ADDR:PORT` (loopback): every SIP message, CSTA as logs, RTP stream starts and stops as RTCP-like summaries; e.g. for sngrep -L udp:127.0.0.1:9060 or Homer")
}

// addressPlan is README.md's address plan moved to the /16 --net names.
type addressPlan struct {
	net                      string // "127.20"
	pbx, recorder, phoneBase netip.Addr
}

// parseNet reads --net: "127.N" with N in 0 … 255.
func parseNet(v string) (addressPlan, error) {
	bad := fmt.Errorf("--net %q: want 127.N with N in 0 … 255, e.g. 127.21", v)
	p, err := netip.ParseAddr(v + ".0.1")
	if err != nil || !p.Is4() || !p.IsLoopback() || strings.Count(v, ".") != 1 {
		return addressPlan{}, bad
	}
	a := p.As4()
	return addressPlan{net: v, pbx: p, recorder: netip.AddrFrom4([4]byte{a[0], a[1], 0, 2}), phoneBase: netip.AddrFrom4([4]byte{a[0], a[1], 1, 1})}, nil
}

// place moves a topology to the plan.
func (p addressPlan) place(t *lab.Topology) {
	t.PBXAddr, t.RecorderAddr, t.PhoneBase = p.pbx, p.recorder, p.phoneBase
}

// placeDefaults moves only what a lab file left to the default plan
// (reclab serve): addresses the file names stay.
func (p addressPlan) placeDefaults(t *lab.Topology) {
	if !t.PBXAddr.IsValid() {
		t.PBXAddr = p.pbx
	}
	if !t.RecorderAddr.IsValid() {
		t.RecorderAddr = p.recorder
	}
	if !t.PhoneBase.IsValid() {
		t.PhoneBase = p.phoneBase
	}
}

// another is a /16 beside this one, for the remedy of an address in use.
func (p addressPlan) another() string {
	b := p.pbx.As4()[1]
	return fmt.Sprintf("127.%d", (int(b)+1)%256)
}

// free reports the first of the plan's well-known addresses that another
// process holds (a lab already running on this /16), before any lab of ours
// is built: the PBX's SIP and CSTA ports, the recorder's and the first
// phone's SIP port. The probe sockets are closed at once; the lab's own
// sockets still come from sim alone (style.md habit 4).
func (p addressPlan) free() error {
	probes := []struct {
		network string
		at      netip.AddrPort
	}{
		{"udp", netip.AddrPortFrom(p.pbx, 5060)},
		{"tcp", netip.AddrPortFrom(p.pbx, 8882)},
		{"udp", netip.AddrPortFrom(p.recorder, 5060)},
		{"udp", netip.AddrPortFrom(p.phoneBase, 5060)},
	}
	for _, pr := range probes {
		var err error
		if pr.network == "udp" {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp4", pr.at.String()); err == nil {
				c.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp4", pr.at.String()); err == nil {
				l.Close()
			}
		}
		if err != nil {
			return p.inUse(fmt.Errorf("%s/%s: %w", pr.at, pr.network, err))
		}
	}
	return nil
}

// inUse adds the remedy to an error of an address in use: another --net.
// Other errors are returned as they are.
func (p addressPlan) inUse(err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return err
	}
	return &addrInUseError{err: err, hint: fmt.Sprintf("another lab (or program) holds the addresses of %s.x.x; run this one beside it with --net %s", p.net, p.another())}
}

type addrInUseError struct {
	err  error
	hint string
}

func (e *addrInUseError) Error() string { return e.err.Error() + "; " + e.hint }
func (e *addrInUseError) Unwrap() error { return e.err }
