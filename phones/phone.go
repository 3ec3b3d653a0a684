package phones

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// Defaults for Options.
const (
	DefaultRTPPort        = 40000
	DefaultRegisterExpiry = 3600 * time.Second
	DefaultRegisterRetry  = 10 * time.Second
	DefaultKeepAlive      = 30 * time.Second
)

// byeTimeout bounds a BYE the phone sends on its own (forced log-off, a
// lost registrar) when no caller's context does.
const byeTimeout = 10 * time.Second

// Firmware and MAC prefix used when the configuration file sets none.
const (
	defaultFirmware = "6.3.0.1020"
	mitelOUI        = "08000F" // Mitel's IEEE OUI 08:00:0F
)

// Options wires a phone into the lab. The zero value works with a
// configuration that names its registrar.
type Options struct {
	// PBX is where REGISTER and calls go, e.g. 127.20.0.1:5060. Default:
	// the configuration's registrar. When the configuration names none, PBX
	// fills it in before validation.
	PBX netip.AddrPort
	// ToneHz is the phone's own tone (media.ToneFrequency(i)); default 400.
	ToneHz float64
	// RTPPort is the first RTP port, even; default 40000. A call uses
	// RTPPort+2k where k is its slot; a phone holds one call, so slot 0.
	RTPPort uint16
	// RegisterExpiry is the Expires the phone asks for; default the
	// configuration's "sip registration period", else 3600s.
	RegisterExpiry time.Duration
	// RegisterRetry is how often a phone whose registrar stopped answering
	// tries to register again (spec §3.2.6); default 10s.
	RegisterRetry time.Duration
	// KeepAlive is how often a registered phone checks the PBX (the
	// gatekeeper, spec §3.2.6) with OPTIONS; default 30s. Any answer will
	// do; none within max(KeepAlive, 1s) logs the phone off (BYE to the
	// recorder), and it retries REGISTER every RegisterRetry. The same
	// bound applies to each REGISTER of a refresh or a retry.
	KeepAlive time.Duration
	// TLS is whom the record key's https:// trusts (the lab CA's
	// ClientTLS, with the key log); nil: the system's roots (recordkey.go).
	TLS *tls.Config
	// SIPRegister makes a 442x/743x/744x register with SIP REGISTER like a
	// 6xxx instead of over H.225.0 RAS with the PBX's gatekeeper (ras.go).
	SIPRegister bool
	// NoMedia makes the phone send no RTP on its calls (it still opens
	// its RTP port, offers it and forks nothing): the signalling-only lab
	// of `reclab bench --setup`, where recording sessions are set up and
	// torn down with no RTP flowing (issue 14 item 4).
	NoMedia bool
}

// CallState is where the phone's call stands.
type CallState uint8

const (
	CallIdle    CallState = iota // no call
	CallDialing                  // INVITE sent, no answer yet
	CallRinging                  // an incoming call rings (180 sent)
	CallTalking                  // the call is up and RTP flows
)

var callStateNames = [...]string{"idle", "dialing", "ringing", "talking"}

func (s CallState) String() string {
	if int(s) < len(callStateNames) {
		return callStateNames[s]
	}
	return fmt.Sprintf("CallState(%d)", uint8(s))
}

// State is a snapshot of a phone.
type State struct {
	Powered    bool
	Registered bool
	Call       CallState
	Remote     string // the other party's number while a call is up
	Recording  RecState
	// CallError is why the last call attempt failed, e.g. "404 Not Found";
	// "" once a call connects.
	CallError string
	// Calls counts calls that reached talking; RecordingSessions counts
	// recording sessions the recorder ACKed.
	Calls             int
	RecordingSessions int
	Media             MediaStats
	// SRTP is the suite of the call that is up, media.SuiteNone for plain
	// RTP or no call (spec §1.3).
	SRTP media.CryptoSuite
}

// Phone is one simulated IP phone on a lab node: its SIP stack(s) towards
// the PBX and the recorder, its call and RTP, and its recording session.
//
// One goroutine, the phone's loop (loop.go), owns everything below the
// line: sipgo handlers, timers, user actions and the goroutines that wait
// on the network post to it (do) and never touch those fields themselves.
// What others read comes from the view the loop publishes after each
// event. The RTP path stays off the loop: the pump reads fork and count,
// both atomic.
type Phone struct {
	node  *sim.Node
	model Model
	opts  Options
	inbox chan func()               // the loop's events
	view  atomic.Pointer[phoneView] // published by the loop after each event

	fork  atomic.Pointer[forkTargets] // set while a recording session is up
	count mediaCounters

	// ---- owned by the loop ----
	cfg         Config // the phone's own copy
	ext         string
	ua          string // User-Agent: "Mitel <model> MAC:<mac> V:<firmware>"
	expiry      time.Duration
	updating    bool          // an update order (spec §3.2.5) is running: one at a time
	pw          *powerCycle   // nil while powered off
	reg         *Registration // the registration core (registration.go)
	regTimers   [regTimers]*sim.Timer
	regTag      string
	staged      *Config  // StageConfig: taken by the next update instead of the file
	call        Call     // the call core (call.go)
	leg         *callLeg // the driver's side of the call in progress (calldriver.go)
	rec         RecSession
	recDialogs  map[string]*recDialog // by Call-ID
	recSessions int
}

// New makes a phone of model on node with its configuration file. cfg is
// copied; Validate must pass for model. The phone starts powered off.
func New(node *sim.Node, model Model, cfg *Config, opts Options) (*Phone, error) {
	if node == nil {
		return nil, errors.New("phones: no node")
	}
	if cfg == nil {
		return nil, fmt.Errorf("phones: %s: no configuration", node.Name())
	}
	c, err := ownConfig(cfg, model, opts.PBX)
	if err != nil {
		return nil, err
	}
	if !opts.PBX.IsValid() {
		opts.PBX = c.RegistrarAddrPort()
	}
	if opts.ToneHz == 0 {
		opts.ToneHz = media.ToneFrequency(0)
	}
	if opts.ToneHz < 0 || opts.ToneHz >= media.SampleRate/2 {
		return nil, fmt.Errorf("phones: %s: tone %g Hz is outside 0-%d Hz", c.User, opts.ToneHz, media.SampleRate/2)
	}
	if opts.RTPPort == 0 {
		opts.RTPPort = DefaultRTPPort
	}
	if opts.RTPPort%2 != 0 {
		return nil, fmt.Errorf("phones: %s: RTP port %d is odd; RTP takes even ports (RFC 3550 §11)", c.User, opts.RTPPort)
	}
	if opts.RegisterExpiry < 0 {
		return nil, fmt.Errorf("phones: %s: register expiry %v is negative", c.User, opts.RegisterExpiry)
	}
	if opts.RegisterRetry <= 0 {
		opts.RegisterRetry = DefaultRegisterRetry
	}
	if opts.KeepAlive < 0 {
		return nil, fmt.Errorf("phones: %s: keep-alive %v is negative", c.User, opts.KeepAlive)
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = DefaultKeepAlive
	}
	p := &Phone{
		node:       node,
		model:      model,
		opts:       opts,
		regTag:     sip.GenerateTagN(16),
		reg:        NewRegistration(0, opts.KeepAlive, opts.RegisterRetry),
		recDialogs: map[string]*recDialog{},
		inbox:      make(chan func()),
	}
	p.setConfigOnLoop(&c) // before the loop starts
	go p.run()
	return p, nil
}

// setConfigOnLoop makes c (validated, owned by the phone) the configuration
// in effect with what derives from it: extension, User-Agent, expiry.
func (p *Phone) setConfigOnLoop(c *Config) {
	expiry := p.opts.RegisterExpiry
	switch {
	case expiry > 0:
	case c.RegistrationPeriod > 0:
		expiry = time.Duration(c.RegistrationPeriod) * time.Second
	default:
		expiry = DefaultRegisterExpiry
	}
	if expiry < time.Second {
		expiry = time.Second
	}
	mac := c.MAC
	if mac == "" {
		ip := p.node.Addr().As4()
		mac = fmt.Sprintf("%s%02X%02X%02X", mitelOUI, ip[1], ip[2], ip[3])
	}
	p.cfg = *c
	p.ext = c.User
	p.ua = fmt.Sprintf("Mitel %s MAC:%s V:%s", p.model.Name, mac, firmwareOf(c))
	p.expiry = expiry
	p.reg.SetExpiry(expiry)
	p.publishView()
}

// firmwareOf is the firmware a configuration runs.
func firmwareOf(c *Config) string {
	if c.Firmware == "" {
		return defaultFirmware
	}
	return c.Firmware
}

// ownConfig is the phone's own validated copy of cfg; a configuration that
// names no registrar gets pbx.
func ownConfig(cfg *Config, model Model, pbx netip.AddrPort) (Config, error) {
	c := *cfg
	c.RecordingAllowed = slices.Clone(cfg.RecordingAllowed)
	c.Softkeys = slices.Clone(cfg.Softkeys)
	c.Unknown = slices.Clone(cfg.Unknown)
	c.Warnings = slices.Clone(cfg.Warnings)
	if !c.Registrar.IsValid() && pbx.IsValid() {
		c.Registrar = pbx.Addr()
		c.RegistrarPort = int(pbx.Port())
	}
	return c, c.Validate(model)
}

// Ext is the phone's extension ("sip line1 user name").
func (p *Phone) Ext() string { return p.view.Load().ext }

// Name is the phone's node name.
func (p *Phone) Name() string { return p.node.Name() }

// Model is the phone's model.
func (p *Phone) Model() Model { return p.model }

// ToneHz is the frequency of the tone this phone sends as its voice, so a
// recording can prove whose audio is on which channel.
func (p *Phone) ToneHz() float64 { return p.opts.ToneHz }

// Node is the lab node the phone runs on.
func (p *Phone) Node() *sim.Node { return p.node }

// UserAgent is the User-Agent the phone sends: "Mitel <model> MAC:<mac> V:<firmware>".
func (p *Phone) UserAgent() string { return p.view.Load().ua }

// SIPAddr is where the phone's PBX-side SIP stack listens (its Contact).
func (p *Phone) SIPAddr() netip.AddrPort { return p.view.Load().sipAddr }

// RecordingAddr is where the recorder sends its INVITE (spec §3.2): port
// 7300 on the 442x/743x/744x, the SIP port on the 6700/6800/6900. A
// configuration update may move it (spec §3.2.5).
func (p *Phone) RecordingAddr() netip.AddrPort { return p.view.Load().recAddr }

// RTPAddr is the address of the phone's call RTP socket (slot 0); the
// forked streams leave from it too.
func (p *Phone) RTPAddr() netip.AddrPort { return p.node.AddrPort(p.opts.RTPPort) }

// String is the phone's name, extension and model.
func (p *Phone) String() string {
	return fmt.Sprintf("%s (%s, %s)", p.node.Name(), p.Ext(), p.model.Name)
}

// State returns a snapshot. The loop answers it (loop.go), so it holds
// what every note and typed state published so far says.
func (p *Phone) State() State {
	var s State
	p.do(func() { s = p.stateOnLoop() })
	s.Media = p.Stats()
	return s
}

// Stats returns the RTP counters.
func (p *Phone) Stats() MediaStats { return p.count.snapshot() }

func (p *Phone) errorf(format string, args ...any) error {
	return fmt.Errorf("phones: %s "+format, append([]any{p.Ext()}, args...)...)
}

func (p *Phone) problem(src netip.AddrPort, format string, args ...any) {
	p.node.Network().Errorf(p.node.Name(), src, format, args...)
}
