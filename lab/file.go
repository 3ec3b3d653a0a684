package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/token"

	"github.com/reclab/reclab/phones"
)

// MaxLabFileBytes bounds a lab file: a farm of thousands of phones is a few
// hundred kilobytes.
const MaxLabFileBytes = 4 << 20

// A lab file (`reclab serve LAB.yaml`) is the scenario format's `lab:`
// section (scenarios/README.md) with the addresses and peers of split mode
// (README "Split mode"); a scenario file is a lab file too, its steps are
// not played. The wire form, in YAML:
type labFile struct {
	Name        string   `yaml:"name"`
	Section     string   `yaml:"section"`
	Description string   `yaml:"description"`
	Steps       any      `yaml:"steps"` // a scenario's: not played by serve
	Lab         *fileLab `yaml:"lab"`
}

type fileLab struct {
	PBX       *filePBX      `yaml:"pbx"`
	Phones    []filePhone   `yaml:"phones"`
	Farms     []fileFarm    `yaml:"farms"`
	Recorder  *fileRecorder `yaml:"recorder"`
	Timers    *fileTimers   `yaml:"timers"`
	PhoneBase string        `yaml:"phone-base"`
	Rogue     bool          `yaml:"rogue"`
	SRTP      string        `yaml:"srtp"` // every phone's SRTP suite, or off (spec §1.3)
}

type filePBX struct {
	Address  string `yaml:"address"`
	External string `yaml:"external"` // ADDRESS[:SIP PORT]
	SIPPort  uint16 `yaml:"sip-port"`
	CSTAPort uint16 `yaml:"csta-port"`
	// ApplicationPassword is ECMA-354's StartApplicationSession password.
	ApplicationPassword string `yaml:"application-password"`
	// CSTATLSPort is CSTA over TLS (default 8883; 0: none); TLSCert and
	// TLSKey its certificate's PEM files (default: the lab CA issues one).
	CSTATLSPort *int   `yaml:"csta-tls-port"`
	TLSCert     string `yaml:"tls-cert"`
	TLSKey      string `yaml:"tls-key"`
}

type filePhone struct {
	Name     string            `yaml:"name"`
	Ext      string            `yaml:"ext"`
	Model    string            `yaml:"model"`
	Config   map[string]string `yaml:"config"`
	Start    string            `yaml:"start"`
	Password string            `yaml:"password"`
	Address  string            `yaml:"address"`
	External string            `yaml:"external"` // ADDRESS: a real phone
	SRTP     string            `yaml:"srtp"`     // the phone's SRTP suite, or off, over lab.srtp
}

// fileFarm is many phones of one model on an address range: extensions
// from First upwards, addresses from Base upwards (NextPhoneAddr).
type fileFarm struct {
	Name     string            `yaml:"name"` // phone names are NAME-EXT; default the model
	Model    string            `yaml:"model"`
	Count    int               `yaml:"count"`
	First    string            `yaml:"first-ext"`
	Base     string            `yaml:"base"`
	Password string            `yaml:"password"`
	Config   map[string]string `yaml:"config"`
}

type fileRecorder struct {
	Mapping   string   `yaml:"mapping"`
	Monitored []string `yaml:"monitored"`
	OnDemand  string   `yaml:"on-demand"`
	KeepAlive string   `yaml:"keep-alive"`
	Address   string   `yaml:"address"`
	External  string   `yaml:"external"` // ADDRESS: a real recorder
	// CSTATLS makes its CSTA link TLS (to the PBX's csta-tls-port), CSTACA
	// the PEM file of the CAs it trusts (default: the lab CA).
	CSTATLS bool   `yaml:"csta-tls"`
	CSTACA  string `yaml:"csta-ca"`
	// SRTPKeys is where the keys of encrypted forks come from: csta, sdp,
	// none or wrong (recorder.SRTPKeys).
	SRTPKeys string `yaml:"srtp-keys"`
}

type fileTimers struct {
	RegisterExpiry   string `yaml:"register-expiry"`
	RegisterRetry    string `yaml:"register-retry"`
	KeepAlive        string `yaml:"keep-alive"`
	CSTAKeepAlive    string `yaml:"csta-keep-alive"`
	StreamIdle       string `yaml:"stream-idle"`
	SIPT1            string `yaml:"sip-t1"`
	PhoneKeepAlive   string `yaml:"phone-keep-alive"`
	AnswerTimeout    string `yaml:"answer-timeout"`
	InviteRetransmit string `yaml:"invite-retransmit"`
}

// LabFile is a lab file read: the topology (Split.Allow set: a lab file
// is split mode's) and the SIP T1 it asks for (process-wide, SetSIPTimers).
type LabFile struct {
	Name     string
	Topology Topology
	SIPT1    time.Duration
}

// maxFarm bounds one farm: more phones than a process of this machine
// carries (README "Performance") is a typo.
const maxFarm = 20000

// ParseLabFile reads a lab file. Problems name the file, the place
// (line:column, or the field) and what was wrong; nothing is built. The
// topology's every other check (models, configuration values, address
// rules) is Check's.
func ParseLabFile(file string, src []byte) (LabFile, error) {
	var out LabFile
	if len(src) > MaxLabFileBytes {
		return out, fmt.Errorf("lab: %s: %d bytes: a lab file may have at most %d", file, len(src), MaxLabFileBytes)
	}
	var f labFile
	if err := yaml.UnmarshalWithOptions(src, &f, yaml.Strict()); err != nil {
		var ye interface {
			GetToken() *token.Token
			GetMessage() string
		}
		if errors.As(err, &ye) && ye.GetToken() != nil {
			p := ye.GetToken().Position
			return out, fmt.Errorf("lab: %s:%d:%d: %s", file, p.Line, p.Column, ye.GetMessage())
		}
		return out, fmt.Errorf("lab: %s: %v", file, err)
	}
	if f.Lab == nil {
		return out, fmt.Errorf("lab: %s: no `lab:` section; a lab file is the scenario format's lab: (phones, recorder, pbx, timers)", file)
	}
	p := &fileParser{file: file, dir: filepath.Dir(file)}
	out.Name = f.Name
	out.Topology, out.SIPT1 = p.topology(f.Lab)
	if len(p.errs) > 0 {
		return LabFile{}, errors.Join(p.errs...)
	}
	return out, nil
}

type fileParser struct {
	file string
	dir  string // a relative path in the file is from the file's directory
	errs []error
}

// path is a file the lab file names, relative to the lab file's directory.
func (p *fileParser) path(v string) string {
	if v == "" || filepath.IsAbs(v) {
		return v
	}
	return filepath.Join(p.dir, v)
}

func (p *fileParser) fail(field, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("lab: %s: %s: %s", p.file, field, fmt.Sprintf(format, args...)))
}

func (p *fileParser) addr(field, v string) netip.Addr {
	if v == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() {
		p.fail(field, "%q is not an IPv4 address", v)
		return netip.Addr{}
	}
	return a
}

// external reads `external: ADDRESS[:PORT]`.
func (p *fileParser) external(field, v string) (netip.Addr, uint16) {
	if ap, err := netip.ParseAddrPort(v); err == nil && ap.Addr().Is4() {
		return ap.Addr(), ap.Port()
	}
	if a, err := netip.ParseAddr(v); err == nil && a.Is4() {
		return a, 0
	}
	p.fail(field, "%q: want ADDRESS or ADDRESS:PORT (IPv4)", v)
	return netip.Addr{}, 0
}

func (p *fileParser) duration(field, v string) time.Duration {
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		p.fail(field, "%q: want a duration such as 500ms or 30s", v)
	}
	return d
}

func (p *fileParser) topology(fl *fileLab) (Topology, time.Duration) {
	t := Topology{Split: Split{Allow: true, CSTATLSPort: DefaultPBXCSTATLSPort}}
	if fl.Rogue {
		p.fail("lab.rogue", "the rogue host is a story's demo; a served lab has none")
	}
	if b := fl.PBX; b != nil {
		t.PBXAddr = p.addr("lab.pbx.address", b.Address)
		t.Split.PBXSIPPort, t.Split.PBXCSTAPort = b.SIPPort, b.CSTAPort
		t.Split.CSTAPassword = b.ApplicationPassword
		if b.CSTATLSPort != nil {
			if *b.CSTATLSPort < 0 || *b.CSTATLSPort > 65535 {
				p.fail("lab.pbx.csta-tls-port", "%d: want a port, or 0 for no CSTA over TLS", *b.CSTATLSPort)
			}
			t.Split.CSTATLSPort = uint16(*b.CSTATLSPort)
		}
		if (b.TLSCert == "") != (b.TLSKey == "") {
			p.fail("lab.pbx", "tls-cert and tls-key go together: the PBX's certificate and its key")
		}
		t.Split.CSTATLSCert, t.Split.CSTATLSKey = p.path(b.TLSCert), p.path(b.TLSKey)
		if b.External != "" {
			if b.Address != "" {
				p.fail("lab.pbx", "both address and external; an external PBX's address is its external:")
			}
			var port uint16
			t.PBXAddr, port = p.external("lab.pbx.external", b.External)
			t.Split.PBXExternal = true
			if port != 0 {
				if b.SIPPort != 0 && b.SIPPort != port {
					p.fail("lab.pbx", "external: names SIP port %d, sip-port %d", port, b.SIPPort)
				}
				t.Split.PBXSIPPort = port
			}
		}
	}
	if r := fl.Recorder; r != nil {
		t.Recorder = RecorderSpec{Mapping: r.Mapping, Monitored: r.Monitored, OnDemand: r.OnDemand,
			KeepAlive: p.duration("lab.recorder.keep-alive", r.KeepAlive), SRTPKeys: r.SRTPKeys}
		t.RecorderAddr = p.addr("lab.recorder.address", r.Address)
		t.Split.RecorderCSTATLS, t.Split.RecorderCSTACA = r.CSTATLS, p.path(r.CSTACA)
		if r.CSTACA != "" && !r.CSTATLS {
			p.fail("lab.recorder.csta-ca", "set without csta-tls: true; the CA is for the CSTA link over TLS")
		}
		if r.External != "" {
			if r.Address != "" {
				p.fail("lab.recorder", "both address and external; an external recorder's address is its external:")
			}
			t.RecorderAddr, _ = p.external("lab.recorder.external", r.External)
			t.Split.RecorderExternal = true
		}
	}
	t.PhoneBase = p.addr("lab.phone-base", fl.PhoneBase)
	t.SRTP = fl.SRTP
	for i, fp := range fl.Phones {
		field := fmt.Sprintf("lab.phones[%d]", i)
		switch fp.Start {
		case "", "registered":
		default:
			p.fail(field+".start", "%q: a served lab registers every phone it runs", fp.Start)
		}
		ps := PhoneSpec{Name: fp.Name, Ext: fp.Ext, Model: fp.Model, Config: fp.Config, Password: fp.Password,
			Addr: p.addr(field+".address", fp.Address), SRTP: fp.SRTP}
		if fp.External != "" {
			if fp.Address != "" {
				p.fail(field, "both address and external; an external phone's address is its external:")
			}
			ps.Addr, _ = p.external(field+".external", fp.External)
			ps.External = true
		}
		p.phone(field, &ps)
		t.Phones = append(t.Phones, ps)
	}
	for i, fm := range fl.Farms {
		t.Phones = append(t.Phones, p.farm(fmt.Sprintf("lab.farms[%d]", i), fm)...)
	}
	if len(t.Phones) == 0 && len(p.errs) == 0 {
		t.Phones = Default().Phones
	}
	var t1 time.Duration
	if tm := fl.Timers; tm != nil {
		t.RegisterExpiry = p.duration("lab.timers.register-expiry", tm.RegisterExpiry)
		t.Timers = Timers{
			RegisterRetry:    p.duration("lab.timers.register-retry", tm.RegisterRetry),
			CSTAKeepAlive:    p.duration("lab.timers.csta-keep-alive", tm.CSTAKeepAlive),
			StreamIdle:       p.duration("lab.timers.stream-idle", tm.StreamIdle),
			PhoneKeepAlive:   p.duration("lab.timers.phone-keep-alive", tm.PhoneKeepAlive),
			AnswerTimeout:    p.duration("lab.timers.answer-timeout", tm.AnswerTimeout),
			InviteRetransmit: p.duration("lab.timers.invite-retransmit", tm.InviteRetransmit),
		}
		if ka := p.duration("lab.timers.keep-alive", tm.KeepAlive); ka != 0 {
			t.Recorder.KeepAlive = ka
		}
		t1 = p.duration("lab.timers.sip-t1", tm.SIPT1)
	}
	return t, t1
}

func (p *fileParser) phone(field string, ps *PhoneSpec) {
	if ps.Model == "" {
		p.fail(field, "no model; every phone needs `model:` (e.g. 7434, 6867i)")
	} else if m, err := phones.LookupModel(ps.Model); err != nil {
		p.fail(field+".model", "%v", err)
	} else {
		ps.Model = m.Name
	}
	if ps.Ext == "" || strings.Trim(ps.Ext, "0123456789") != "" {
		p.fail(field+".ext", "want digits, got %q", ps.Ext)
	}
	if ps.External && ps.Password == "" {
		p.fail(field, "an external phone needs `password:`: the PBX's directory holds it for the digest challenge")
	}
}

func (p *fileParser) farm(field string, fm fileFarm) []PhoneSpec {
	if fm.Count <= 0 || fm.Count > maxFarm {
		p.fail(field+".count", "%d: want 1 to %d phones", fm.Count, maxFarm)
		return nil
	}
	first := 0
	if _, err := fmt.Sscan(fm.First, &first); err != nil || first <= 0 || strings.Trim(fm.First, "0123456789") != "" {
		p.fail(field+".first-ext", "%q: want the first extension, digits", fm.First)
		return nil
	}
	base := p.addr(field+".base", fm.Base)
	if !base.IsValid() {
		p.fail(field+".base", "a farm needs the first address of its range")
		return nil
	}
	name := fm.Name
	if name == "" {
		name = fm.Model
	}
	var out []PhoneSpec
	ip := base
	for i := range fm.Count {
		ext := fmt.Sprint(first + i)
		ps := PhoneSpec{Name: name + "-" + ext, Ext: ext, Model: fm.Model, Config: fm.Config, Password: fm.Password, Addr: ip, Farm: name}
		if i == 0 {
			p.phone(field, &ps)
		} else {
			ps.Model = out[0].Model
		}
		out = append(out, ps)
		ip = NextPhoneAddr(ip)
	}
	return out
}
