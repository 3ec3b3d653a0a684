package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/reclab/reclab/pbx"
	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/pbx/h225ras"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// Summarizers are the trace summarisers a lab's network needs beyond sim's
// own: the CSTA codec's (the trace names CSTA messages as the codec does).
func Summarizers() map[sim.Proto]func([]byte) []string {
	return map[sim.Proto]func([]byte) []string{sim.ProtoCSTA: csta.TraceSummaries, sim.ProtoRAS: h225ras.TraceSummaries}
}

// PhoneSpec is one phone of a topology.
type PhoneSpec struct {
	Name   string            // node name, e.g. "7434"; default: the model
	Ext    string            // extension, e.g. "1001"
	Model  string            // e.g. "7434", "6867i"
	Config map[string]string // configuration-file parameters over the lab's defaults
	// Password is the extension's SIP password, in the PBX's directory and
	// the phone's configuration file (sip line1 password); default one the
	// lab makes at random, so nobody can guess it (RFC 3261 §22).
	Password string
	// Addr is the phone's address; default the next of the plan from
	// Topology.PhoneBase. Split mode only may set one beyond loopback.
	Addr netip.Addr
	// External marks a real phone at Addr (split mode): not run here, but
	// in the PBX's directory with its Password, and monitored.
	External bool
	Farm     string // the lab file's farm it belongs to (`--nodes phones:FARM`)
	// SRTP is the phone's own SRTP setting over Topology.SRTP: a crypto
	// suite (media.CryptoSuites) or "off"; "" takes the lab's (spec §1.3).
	SRTP string
}

// RecorderSpec configures the recorder node.
type RecorderSpec struct {
	Monitored []string // extensions to monitor; default every phone's
	Mapping   string   // "dynamic" (default) or "static" (spec §3.1)
	KeepAlive time.Duration
	OnDemand  string // record on demand (spec §3.3): "" or "off", "start", "save"
	// SRTPKeys is where the recorder takes the keys of encrypted forks
	// (spec §1.3): "csta" (default), "sdp", "none" or "wrong" (recorder.SRTPKeys).
	SRTPKeys string
}

// Topology is a lab: address plan, phones, recorder.
type Topology struct {
	PBXAddr        netip.Addr // default 127.20.0.1
	RecorderAddr   netip.Addr // default 127.20.0.2
	PhoneBase      netip.Addr // first phone address, default 127.20.1.1
	Phones         []PhoneSpec
	Recorder       RecorderSpec
	RegisterExpiry time.Duration // registration period the phones ask for; default 3600s
	Timers         Timers        // other protocol timers (timers.go); zero keeps each node's default
	Split          Split         // split mode (split.go): the nodes run here, real peers; zero: all, on loopback
	// SRTP makes every phone's calls SRTP with this crypto suite (spec
	// §1.3; "sip srtp mode: 1" in their configuration files); "" or "off":
	// plain RTP. A phone's own SRTP overrides it.
	SRTP string
}

// Default is the lab of `reclab run basic-call`: a Mitel 7434 (743x,
// recording port 7300) and a Mitel 6867i (6800, recording port 5070 from
// its configuration file), both monitored, dynamic mapping.
func Default() Topology {
	return Topology{Phones: []PhoneSpec{
		{Name: "7434", Ext: "1001", Model: "7434"},
		{Name: "6867i", Ext: "1002", Model: "6867i", Config: map[string]string{"sip local port": "5070"}},
	}}
}

func (t *Topology) defaults() error {
	if !t.PBXAddr.IsValid() {
		t.PBXAddr = netip.MustParseAddr("127.20.0.1")
	}
	if !t.RecorderAddr.IsValid() {
		t.RecorderAddr = netip.MustParseAddr("127.20.0.2")
	}
	if !t.PhoneBase.IsValid() {
		t.PhoneBase = netip.MustParseAddr("127.20.1.1")
	}
	if t.RegisterExpiry == 0 {
		t.RegisterExpiry = 3600 * time.Second
	}
	if len(t.Phones) == 0 {
		return errors.New("lab: topology has no phones")
	}
	t.Split.defaults()
	exts := map[string]string{}
	names := map[string]bool{}
	for i := range t.Phones {
		p := &t.Phones[i]
		if p.Name == "" {
			p.Name = p.Model
		}
		if names[p.Name] {
			return fmt.Errorf("lab: phone name %q used twice", p.Name)
		}
		names[p.Name] = true
		if o, ok := exts[p.Ext]; ok {
			return fmt.Errorf("lab: extension %s given to both %s and %s", p.Ext, o, p.Name)
		}
		exts[p.Ext] = p.Name
	}
	apart := !t.Split.Runs(RunPBX) || !t.Split.Runs(RunPhones) // the PBX's directory and the phone in two processes
	for i := range t.Phones {
		p := &t.Phones[i]
		if p.Password != "" {
			continue
		}
		if apart || p.External {
			return fmt.Errorf("lab: phone %s (%s) has no password, and the PBX runs in another process: give it `password:` in the lab file", p.Name, p.Ext)
		}
		p.Password = randomPassword()
	}
	if err := t.checkAddrs(); err != nil {
		return err
	}
	if _, err := recorder.ParseSRTPKeys(t.Recorder.SRTPKeys); err != nil {
		return fmt.Errorf("lab: recorder srtp-keys: %w", err)
	}
	for _, s := range append([]string{t.SRTP}, phoneSRTPs(t.Phones)...) {
		if _, err := media.ParseCryptoSuite(s); err != nil {
			return fmt.Errorf("lab: srtp: %w", err)
		}
	}
	if t.Recorder.Mapping == "" {
		t.Recorder.Mapping = "dynamic"
	}
	if len(t.Recorder.Monitored) == 0 {
		for _, p := range t.Phones {
			t.Recorder.Monitored = append(t.Recorder.Monitored, p.Ext)
		}
	}
	return nil
}

// Options are the run's outputs.
type Options struct {
	OutDir string // recordings/, lab.pcapng and config/ go here; required
	Pcap   bool   // write OutDir/lab.pcapng
	// NoMedia makes every phone send no RTP (phones.Options.NoMedia): a
	// lab of signalling only, for `reclab bench --setup`.
	NoMedia bool
	// TraceCapacity bounds the trace's ring of recent events; 0 is sim's
	// default. A bench keeps it small: it reads the trace as it flows.
	TraceCapacity int
	// HEP, if set, is a HEP collector (sngrep -L udp:ADDR, Homer) that
	// gets every SIP message of the lab as it flows.
	HEP netip.AddrPort
	// NetDelay gives every link of the lab its own delay (sim.LinkDelays,
	// `reclab run --net-delay MIN-MAX --seed N`); zero: none.
	NetDelay sim.LinkDelays
	// Clock is the lab clock; nil: the machine's (sim.Real). A
	// sim.ScaledClock runs the whole lab faster or slower (--speed).
	Clock sim.Clock
}

// Lab is a running lab.
type Lab struct {
	Topology Topology
	Net      *sim.Network
	PBX      *pbx.PBX
	Recorder *recorder.Recorder
	Phones   []*phones.Phone
	// CA is the lab's certificate authority, made at Build: the phones
	// trust it, the recorder's HTTPS certificate is its (record key, spec §3.3).
	CA     *sim.LabCA
	hep    *sim.HEPExporter
	pcap   *os.File
	keyLog *os.File // OutDir/tls-keys.log beside the pcap, for Wireshark
}

// DecryptedPcapName is the decrypted companion of lab.pcapng in OutDir,
// written when the lab closes if any call was SRTP (spec §1.3).
const DecryptedPcapName = "lab-decrypted.pcapng"

// Password is the SIP password of extension ext in the PBX's directory, ""
// for an extension the lab does not have: what a user types to log in
// with it on another phone (RegisterAs, spec §3.2.3).
func (l *Lab) Password(ext string) string {
	for _, p := range l.Topology.Phones {
		if p.Ext == ext {
			return p.Password
		}
	}
	return ""
}

// randomPassword is a password nobody outside the lab knows.
func randomPassword() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Phone returns a phone by node name or extension.
func (l *Lab) Phone(name string) (*phones.Phone, error) {
	var valid []string
	for _, p := range l.Phones {
		if p.Name() == name || p.Ext() == name {
			return p, nil
		}
		valid = append(valid, p.Name())
	}
	return nil, fmt.Errorf("lab: no phone %q; phones: %s", name, strings.Join(valid, ", "))
}

// Build assembles the lab: network, PBX, recorder and phones, each node on
// its own loopback address. Nothing is started.
func Build(topo Topology, opt Options) (*Lab, error) {
	if err := topo.defaults(); err != nil {
		return nil, err
	}
	if opt.OutDir == "" {
		return nil, errors.New("lab: no output directory")
	}
	if err := os.MkdirAll(filepath.Join(opt.OutDir, "config"), 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	l := &Lab{Topology: topo}
	cfg := sim.Config{TraceCapacity: opt.TraceCapacity, StreamIdle: topo.Timers.StreamIdle,
		Summarizers: Summarizers(), Clock: opt.Clock, AllowNonLoopback: topo.Split.Allow}
	if opt.Pcap {
		f, err := os.Create(filepath.Join(opt.OutDir, "lab.pcapng"))
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		l.pcap = f
		cfg.Pcap = f
	}
	n, err := sim.NewNetwork(cfg)
	if err != nil {
		l.closeFiles()
		return nil, err
	}
	l.Net = n
	fail := func(err error) (*Lab, error) {
		l.Close()
		return nil, err
	}
	if err := n.SetLinkDelays(opt.NetDelay); err != nil {
		return fail(err)
	}
	if err := l.makeCA(opt); err != nil {
		return fail(err)
	}
	if opt.HEP.IsValid() {
		if l.hep, err = n.ExportHEP(opt.HEP); err != nil {
			return fail(err)
		}
	}

	if err := l.buildPBX(); err != nil {
		return fail(err)
	}
	if err := l.buildRecorder(opt); err != nil {
		return fail(err)
	}
	addrs := topo.phoneAddrs()
	for i, ps := range topo.Phones {
		if !topo.Split.RunsPhone(ps) {
			continue // a peer elsewhere (split mode)
		}
		ip := addrs[i]
		model, err := phones.LookupModel(ps.Model)
		if err != nil {
			return fail(fmt.Errorf("lab: phone %s: %w", ps.Name, err))
		}
		node, err := n.AddNode(ps.Name, ip)
		if err != nil {
			return fail(err)
		}
		text := phoneConfig(ps, ip, topo)
		src := filepath.Join(opt.OutDir, "config", ps.Name+".cfg")
		if err := os.WriteFile(src, text, 0o644); err != nil {
			return fail(fmt.Errorf("lab: %w", err))
		}
		pc, err := phones.ParseConfig(src, bytes.NewReader(text))
		if err != nil {
			return fail(err)
		}
		// design.md: unknown parameters are kept and reported, never
		// silently dropped.
		for _, notice := range pc.Notices() {
			n.Note(ps.Name, "%s", notice)
		}
		ph, err := phones.New(node, model, pc, phones.Options{
			PBX:            netip.AddrPortFrom(topo.PBXAddr, topo.Split.PBXSIPPort),
			ToneHz:         media.ToneFrequency(i),
			RegisterExpiry: topo.RegisterExpiry,
			RegisterRetry:  topo.Timers.RegisterRetry,
			KeepAlive:      topo.Timers.PhoneKeepAlive,
			TLS:            l.CA.ClientTLS(),
			NoMedia:        opt.NoMedia,
		})
		if err != nil {
			return fail(err)
		}
		l.Phones = append(l.Phones, ph)
	}
	l.namePeers()
	return l, nil
}

// Check finds every problem a topology's lab would meet when built (bad
// addresses, names, models, configuration values), without building it:
// a run of several scenarios checks them all before any lab starts.
func Check(topo Topology) error {
	if err := topo.defaults(); err != nil {
		return err
	}
	var errs []error
	addrs := topo.phoneAddrs()
	for i, ps := range topo.Phones {
		ip := addrs[i]
		model, err := phones.LookupModel(ps.Model)
		if err != nil {
			errs = append(errs, fmt.Errorf("lab: phone %s: %w", ps.Name, err))
			continue
		}
		src := ps.Name + ".cfg"
		pc, err := phones.ParseConfig(src, bytes.NewReader(phoneConfig(ps, ip, topo)))
		if err == nil {
			err = pc.Validate(model)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("lab: phone %s: %w", ps.Name, err))
		}
	}
	return errors.Join(errs...)
}

// phoneConfig writes a phone's configuration file in Mitel's text form: the
// lab's defaults, then the topology's overrides.
func phoneConfig(ps PhoneSpec, ip netip.Addr, topo Topology) []byte {
	a := ip.As4()
	params := [][2]string{
		{"sip line1 user name", ps.Ext},
		{"sip line1 display name", ps.Name},
		{"sip line1 auth name", ps.Ext},
		{"sip line1 password", ps.Password},
		{"sip line1 proxy ip", topo.PBXAddr.String()},
		{"sip line1 proxy port", fmt.Sprint(topo.Split.PBXSIPPort)},
		{"sip line1 registrar ip", topo.PBXAddr.String()},
		{"sip line1 registrar port", fmt.Sprint(topo.Split.PBXSIPPort)},
		{"sip registration period", fmt.Sprint(int(topo.RegisterExpiry / time.Second))},
		{"recording allowed ip", topo.RecorderAddr.String()},
		{"mac address", fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3])},
		{"firmware version", "6.2.0.1010"},
		{"softkey1 type", "xml"},
		{"softkey1 label", "Record"},
		{"softkey1 value", fmt.Sprintf("http://%s:8080/record?page=START&OPN=$$SIPUSERNAME$$", topo.RecorderAddr)},
	}
	params = append(params, srtpParams(ps, topo)...)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s configuration for %s (extension %s), written by reclab\n", ps.Model, ps.Name, ps.Ext)
	done := map[string]bool{}
	for _, kv := range params {
		v := kv[1]
		if o, ok := ps.Config[kv[0]]; ok {
			v = o
			done[kv[0]] = true
		}
		fmt.Fprintf(&b, "%s: %s\n", kv[0], v)
	}
	// Sorted, so a topology writes the same file (and the same line numbers
	// in a config error) on every run.
	for _, k := range slices.Sorted(maps.Keys(ps.Config)) {
		if !done[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, ps.Config[k])
		}
	}
	return []byte(b.String())
}

// srtpParams are the configuration lines of a phone's SRTP setting (its
// own, else the lab's; spec §1.3): none for plain RTP.
func srtpParams(ps PhoneSpec, topo Topology) [][2]string {
	v := ps.SRTP
	if v == "" {
		v = topo.SRTP
	}
	suite, err := media.ParseCryptoSuite(v)
	switch {
	case err != nil: // defaults refused it already
		return nil
	case !suite.Valid() && ps.SRTP != "":
		return [][2]string{{"sip srtp mode", "0"}}
	case !suite.Valid():
		return nil
	}
	return [][2]string{{"sip srtp mode", "1"}, {"sip srtp crypto suite", suite.String()}}
}

func phoneSRTPs(ps []PhoneSpec) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.SRTP
	}
	return out
}

// Start brings the PBX and the recorder up, powers the phones on and
// registers them; it returns when every phone is registered.
func (l *Lab) Start(ctx context.Context) error {
	if l.PBX != nil {
		if err := l.PBX.Start(); err != nil {
			return err
		}
	}
	if l.Recorder == nil {
		// Split mode: the recorder is elsewhere and monitors when it comes.
		return l.startPhones(ctx)
	}
	// The phones come up once the recorder monitors them all: before that
	// a call could be established without the recorder hearing of it (the
	// PBX may serve the MonitorStarts after the call), and whether it is
	// recorded would depend on the machine's scheduling.
	monitoring := sim.WatchState(l.Net.Trace(), func(s recorder.CSTALinkState) bool { return s.Up })
	defer monitoring.Cancel()
	if err := l.Recorder.Start(ctx); err != nil {
		return err
	}
	if _, err := monitoring.Wait(ctx); err != nil {
		return fmt.Errorf("lab: the recorder's CSTA link did not come up: %w", err)
	}
	return l.startPhones(ctx)
}

// startPhones powers the phones run here on and registers them.
func (l *Lab) startPhones(ctx context.Context) error {
	for _, p := range l.Phones {
		if err := p.PowerOn(); err != nil {
			return err
		}
	}
	for _, p := range l.Phones {
		if err := p.Register(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close stops every node, flushes the pcap and closes the trace.
func (l *Lab) Close() error {
	var errs []error
	if l.Recorder != nil {
		errs = append(errs, l.Recorder.Close())
	}
	for _, p := range l.Phones {
		p.PowerOff()
	}
	if l.PBX != nil {
		l.PBX.Stop()
	}
	if l.Net != nil {
		errs = append(errs, l.Net.Close())
	}
	if l.hep != nil {
		errs = append(errs, l.hep.Close())
	}
	errs = append(errs, l.writeDecryptedPcap())
	errs = append(errs, l.closeFiles())
	return errors.Join(errs...)
}

// writeDecryptedPcap writes OutDir/lab-decrypted.pcapng beside the closed
// lab.pcapng when the lab had SRTP: the same frames with every SRTP packet
// in the clear, since the lab knows every key (sim.SRTPBook). A trainer
// opens either.
func (l *Lab) writeDecryptedPcap() error {
	if l.pcap == nil || l.Net == nil || l.Net.SRTP().Keys() == 0 {
		return nil
	}
	in, err := os.Open(l.pcap.Name())
	if err != nil {
		return fmt.Errorf("lab: decrypted pcap: %w", err)
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(filepath.Dir(l.pcap.Name()), DecryptedPcapName))
	if err != nil {
		return fmt.Errorf("lab: decrypted pcap: %w", err)
	}
	_, err = l.Net.SRTP().WriteDecryptedPcap(out, in)
	return errors.Join(err, out.Close())
}

func (l *Lab) closeFiles() error {
	var errs []error
	for _, f := range []**os.File{&l.pcap, &l.keyLog} {
		if *f != nil {
			errs = append(errs, (*f).Close())
			*f = nil
		}
	}
	return errors.Join(errs...)
}

// makeCA makes the lab's CA (sim.LabCA) from the lab clock and, with the
// pcap, the TLS key log beside it (OutDir/tls-keys.log) so Wireshark and
// tshark decrypt the record key's https; the CA certificate goes to
// OutDir/lab-ca.pem for any client a user points at the lab.
func (l *Lab) makeCA(opt Options) error {
	var keyLog *sim.KeyLog
	if opt.Pcap {
		f, err := os.Create(filepath.Join(opt.OutDir, "tls-keys.log"))
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		l.keyLog = f
		keyLog = sim.NewKeyLog(f)
	}
	ca, err := sim.NewLabCA("reclab lab CA", l.Net.Epoch(), 0, keyLog)
	if err != nil {
		return err
	}
	l.CA = ca
	if err := os.WriteFile(filepath.Join(opt.OutDir, "lab-ca.pem"), ca.PEM(), 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}
