package lab

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/reclab/reclab/pbx"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// Node kinds a split lab runs or leaves to others (`reclab serve --nodes`).
const (
	RunPBX      = "pbx"
	RunPhones   = "phones"
	RunRecorder = "recorder"
)

// NodeKinds are the node kinds `--nodes` may name, in start order.
var NodeKinds = []string{RunPBX, RunPhones, RunRecorder}

// Default ports of the PBX (design.md "Address plan").
const (
	DefaultPBXSIPPort  = 5060
	DefaultPBXCSTAPort = 8882
	// DefaultPBXCSTATLSPort is CSTA over TLS, a lab file's unless it says
	// otherwise.
	DefaultPBXCSTATLSPort = 8883
)

// Split is how a lab faces the world beyond this process: split mode
// (`reclab serve`). Its zero value is the closed lab of one process on
// loopback.
//
// A node this process does not run is a peer at the address the topology
// gives it: the same lab run by another `reclab serve` (another process,
// another network namespace, another host), or a real device (External).
// The nodes that run here point at those addresses: the phones register
// with the PBX's, allow the recorder's (`recording allowed ip`), the PBX
// accepts the recorder's CSTA link, the recorder connects to the PBX's
// CSTA port and INVITEs where the PBX's BackInServiceEvent says.
type Split struct {
	// Allow lets the topology's addresses lie outside 127.0.0.0/8. Only
	// split mode sets it, and then only the addresses the topology names
	// are used: nothing listens beyond loopback otherwise (README).
	Allow bool
	// Run are the node kinds this process runs (RunPBX, RunPhones,
	// RunRecorder); nil: all of them.
	Run []string
	// PBXExternal and RecorderExternal mark the PBX and the recorder as
	// real peers (an MX-ONE, a recorder product): never run here, whatever
	// Run says. A phone's is PhoneSpec.External.
	PBXExternal, RecorderExternal bool
	// PBXSIPPort and PBXCSTAPort are the PBX's ports, its own or the
	// external one's; default 5060 and 8882.
	PBXSIPPort, PBXCSTAPort uint16
	// CSTAPassword is the ECMA-354 application password (MX-ONE's
	// "application authentication"): the PBX run here asks every
	// StartApplicationSession for it. "": none asked.
	CSTAPassword string
	// CSTATLSPort is the PBX's CSTA-over-TLS port (design.md "Address
	// plan": 8883); 0: none. A lab file has it unless it says 0.
	CSTATLSPort uint16
	// CSTATLSCert and CSTATLSKey are PEM files of the PBX's certificate
	// and key for CSTATLSPort; "": the lab CA issues one for its address.
	CSTATLSCert, CSTATLSKey string
	// RecorderCSTATLS makes the recorder's CSTA link TLS, to CSTATLSPort.
	RecorderCSTATLS bool
	// RecorderCSTACA is a PEM file of the CAs the recorder trusts for the
	// PBX's certificate; "": the lab CA, which only a PBX of this process
	// has (each process makes its own).
	RecorderCSTACA string
}

// Runs reports whether this process runs the node kind ("pbx", "phones",
// "recorder"); a phone also needs !PhoneSpec.External.
func (s Split) Runs(kind string) bool {
	switch {
	case kind == RunPBX && s.PBXExternal, kind == RunRecorder && s.RecorderExternal:
		return false
	}
	return s.Run == nil || slices.Contains(s.Run, kind)
}

// RunsPhone reports whether this process runs phone p: not an external
// one, and either every phone ("phones") or p's farm ("phones:FARM").
func (s Split) RunsPhone(p PhoneSpec) bool {
	if p.External {
		return false
	}
	return s.Runs(RunPhones) || (p.Farm != "" && slices.Contains(s.Run, RunPhones+":"+p.Farm))
}

// ParseNodes reads `--nodes pbx,phones,recorder`: the node kinds, each
// known and named once; `phones:FARM` is the phones of one farm of the
// lab file (a farm's name), so farms run as processes of their own.
func ParseNodes(v string) ([]string, error) {
	var out []string
	for _, k := range strings.Split(v, ",") {
		k = strings.TrimSpace(k)
		if farm, ok := strings.CutPrefix(k, RunPhones+":"); ok && farm != "" {
			k = RunPhones + ":" + farm
		} else if !slices.Contains(NodeKinds, k) {
			return nil, fmt.Errorf("lab: node kind %q unknown; valid: %s, or phones:FARM", k, strings.Join(NodeKinds, ", "))
		}
		if slices.Contains(out, k) {
			return nil, fmt.Errorf("lab: node kind %q named twice", k)
		}
		out = append(out, k)
	}
	return out, nil
}

func (s *Split) defaults() {
	if s.PBXSIPPort == 0 {
		s.PBXSIPPort = DefaultPBXSIPPort
	}
	if s.PBXCSTAPort == 0 {
		s.PBXCSTAPort = DefaultPBXCSTAPort
	}
}

// phoneAddrs gives each phone its address: its own (PhoneSpec.Addr), else
// the next of the plan from PhoneBase (NextPhoneAddr), skipping those given.
func (t *Topology) phoneAddrs() []netip.Addr {
	taken := map[netip.Addr]bool{}
	for _, p := range t.Phones {
		if p.Addr.IsValid() {
			taken[p.Addr] = true
		}
	}
	out := make([]netip.Addr, len(t.Phones))
	ip := t.PhoneBase
	for i, p := range t.Phones {
		if p.Addr.IsValid() {
			out[i] = p.Addr
			continue
		}
		for taken[ip] {
			ip = NextPhoneAddr(ip)
		}
		out[i] = ip
		ip = NextPhoneAddr(ip)
	}
	return out
}

// checkAddrs is the rule that nothing listens or is reached beyond
// 127.0.0.0/8 unless split mode allows it, and that no two nodes share an
// address. Every address of the lab comes from the topology, so in split
// mode only addresses the lab file names (or the loopback defaults) are
// used. It is pure.
func (t *Topology) checkAddrs() error {
	type named struct {
		what string
		ip   netip.Addr
	}
	all := []named{{"pbx", t.PBXAddr}, {"recorder", t.RecorderAddr}}
	for i, ip := range t.phoneAddrs() {
		all = append(all, named{"phone " + t.Phones[i].Name, ip})
	}
	var errs []error
	owner := map[netip.Addr]string{}
	for _, n := range all {
		if !n.ip.Is4() {
			errs = append(errs, fmt.Errorf("lab: %s address %s is not IPv4", n.what, n.ip))
			continue
		}
		if !n.ip.IsLoopback() && !t.Split.Allow {
			errs = append(errs, fmt.Errorf("lab: %s address %s is outside 127.0.0.0/8: only split mode (reclab serve) may use other addresses", n.what, n.ip))
		}
		if n.ip.IsUnspecified() || n.ip.IsMulticast() || n.ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			errs = append(errs, fmt.Errorf("lab: %s address %s is no host's", n.what, n.ip))
		}
		if o, ok := owner[n.ip]; ok {
			errs = append(errs, fmt.Errorf("lab: %s address %s is %s's already", n.what, n.ip, o))
		}
		owner[n.ip] = n.what
	}
	return errors.Join(errs...)
}

// buildPBX adds the PBX node when this process runs it: its directory holds
// every phone of the topology (those run elsewhere and real ones too, with
// their passwords), and its CSTA port takes links from the recorder's
// address only, wherever the recorder runs.
func (l *Lab) buildPBX() error {
	topo := l.Topology
	if !topo.Split.Runs(RunPBX) {
		return nil
	}
	node, err := l.Net.AddNode("pbx", topo.PBXAddr)
	if err != nil {
		return err
	}
	var exts []string
	passwords := map[string]string{}
	for _, p := range topo.Phones {
		exts = append(exts, p.Ext)
		passwords[p.Ext] = p.Password
	}
	cstaTLS, err := l.pbxCSTATLS()
	if err != nil {
		return err
	}
	l.PBX, err = pbx.New(node, pbx.Config{Extensions: exts, Passwords: passwords,
		SIPPort: topo.Split.PBXSIPPort, CSTAPort: topo.Split.PBXCSTAPort, CSTAPassword: topo.Split.CSTAPassword,
		CSTATLS: cstaTLS, CSTATLSPort: topo.Split.CSTATLSPort,
		CSTAClients: []netip.Addr{topo.RecorderAddr}, CSTAKeepAlive: topo.Timers.CSTAKeepAlive})
	return err
}

// pbxCSTATLS is the PBX's certificate for CSTA over TLS: the files the
// topology names, else one the lab CA issues; nil without a TLS port.
func (l *Lab) pbxCSTATLS() (*tls.Config, error) {
	sp := l.Topology.Split
	if sp.CSTATLSPort == 0 {
		return nil, nil
	}
	if sp.CSTATLSCert != "" || sp.CSTATLSKey != "" {
		cert, err := tls.LoadX509KeyPair(sp.CSTATLSCert, sp.CSTATLSKey)
		if err != nil {
			return nil, fmt.Errorf("lab: the PBX's CSTA TLS certificate (tls-cert %s, tls-key %s): %w", sp.CSTATLSCert, sp.CSTATLSKey, err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, KeyLogWriter: l.CA.ClientTLS().KeyLogWriter}, nil
	}
	conf, err := l.CA.ServerTLS("pbx", l.Topology.PBXAddr)
	if err != nil {
		return nil, err
	}
	conf.NextProtos = nil // CSTA, not HTTP
	return conf, nil
}

// recorderCSTATLS is what the recorder trusts for its CSTA link over TLS:
// the CA file the topology names, else the lab CA when the PBX runs here.
func (l *Lab) recorderCSTATLS() (*tls.Config, error) {
	sp := l.Topology.Split
	if !sp.RecorderCSTATLS {
		return nil, nil
	}
	if sp.CSTATLSPort == 0 {
		return nil, errors.New("lab: the recorder's CSTA link is TLS (csta-tls) but the PBX has no CSTA TLS port (csta-tls-port 0)")
	}
	conf := l.CA.ClientTLS()
	conf.NextProtos = nil
	if sp.RecorderCSTACA == "" {
		if !sp.Runs(RunPBX) {
			return nil, errors.New("lab: the recorder's CSTA link is TLS (csta-tls) to a PBX of another process or an external one: name the CA that issued its certificate (recorder csta-ca: FILE); each process makes a lab CA of its own")
		}
		return conf, nil
	}
	pem, err := os.ReadFile(sp.RecorderCSTACA)
	if err != nil {
		return nil, fmt.Errorf("lab: the recorder's CSTA CA (csta-ca): %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("lab: the recorder's CSTA CA %s (csta-ca): no PEM certificate in it", sp.RecorderCSTACA)
	}
	conf.RootCAs = pool
	return conf, nil
}

// buildRecorder adds the recorder node when this process runs it, pointed
// at the PBX's CSTA port wherever the PBX runs.
func (l *Lab) buildRecorder(opt Options) error {
	topo := l.Topology
	if !topo.Split.Runs(RunRecorder) {
		return nil
	}
	node, err := l.Net.AddNode("recorder", topo.RecorderAddr)
	if err != nil {
		return err
	}
	mapping, err := recorder.ParseMapping(topo.Recorder.Mapping)
	if err != nil {
		return err
	}
	onDemand, err := recorder.ParseOnDemand(topo.Recorder.OnDemand)
	if err != nil {
		return err
	}
	srtpKeys, err := recorder.ParseSRTPKeys(topo.Recorder.SRTPKeys)
	if err != nil {
		return err
	}
	recTLS, err := l.CA.ServerTLS("recorder", topo.RecorderAddr)
	if err != nil {
		return err
	}
	cstaTLS, err := l.recorderCSTATLS()
	if err != nil {
		return err
	}
	cstaPort := topo.Split.PBXCSTAPort
	if cstaTLS != nil {
		cstaPort = topo.Split.CSTATLSPort
	}
	l.Recorder, err = recorder.New(node, recorder.Config{
		CSTA:             netip.AddrPortFrom(topo.PBXAddr, cstaPort),
		CSTATLS:          cstaTLS,
		Monitored:        topo.Recorder.Monitored,
		Mapping:          mapping,
		KeepAlive:        topo.Recorder.KeepAlive,
		CSTAKeepAlive:    topo.Timers.CSTAKeepAlive,
		CSTAPassword:     topo.Split.CSTAPassword,
		AnswerTimeout:    topo.Timers.AnswerTimeout,
		InviteRetransmit: topo.Timers.InviteRetransmit,
		OutDir:           filepath.Join(opt.OutDir, "recordings"),
		OnDemand:         onDemand,
		TLS:              recTLS,
		SRTP:             srtpKeys,
	})
	return err
}

// namePeers names in the trace the nodes this process does not run (split
// mode), with the protocols of their TCP ports.
func (l *Lab) namePeers() {
	topo := l.Topology
	if !topo.Split.Runs(RunPBX) {
		ports := map[uint16]sim.Proto{topo.Split.PBXCSTAPort: sim.ProtoCSTA}
		if topo.Split.CSTATLSPort != 0 {
			ports[topo.Split.CSTATLSPort] = sim.ProtoCSTA // TLS records, summarised as such
		}
		l.Net.Peer("pbx", topo.PBXAddr, ports)
	}
	if !topo.Split.Runs(RunRecorder) {
		l.Net.Peer("recorder", topo.RecorderAddr, map[uint16]sim.Proto{recorder.DefaultHTTPPort: sim.ProtoHTTP, recorder.DefaultHTTPSPort: sim.ProtoHTTP})
	}
	for i, ip := range topo.phoneAddrs() {
		if p := topo.Phones[i]; !topo.Split.RunsPhone(p) {
			l.Net.Peer(p.Name, ip, nil)
		}
	}
}
