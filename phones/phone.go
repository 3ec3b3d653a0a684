package phones

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
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
}

// Phone is one simulated IP phone on a lab node: its SIP stack(s) towards
// the PBX and the recorder, its call and RTP, and its recording session.
type Phone struct {
	node   *sim.Node
	model  Model
	cfg    Config // the phone's own copy
	opts   Options
	ext    string
	ua     string // User-Agent: "Mitel <model> MAC:<mac> V:<firmware>"
	expiry time.Duration

	life   sync.Mutex // serialises PowerOn and PowerOff
	update sync.Mutex // one update order (spec §3.2.5) at a time

	mu          sync.Mutex
	pw          *powerCycle   // nil while powered off
	reg         *Registration // the registration core (registration.go)
	regTimers   [regTimers]*sim.Timer
	regTag      string
	staged      *Config // StageConfig: taken by the next update instead of the file
	call        *call
	callErr     string
	calls       int
	rec         RecSession
	recDialogs  map[string]*recDialog // by Call-ID
	recSessions int

	fork  atomic.Pointer[forkTargets] // set while a recording session is up
	count mediaCounters
}

// powerCycle is what one PowerOn brings up; PowerOff tears it down. Handlers
// hold the cycle they were started with and do nothing once it is off.
type powerCycle struct {
	pbx, rec *sim.SIPStack // rec == pbx on the 6700/6800/6900
	dlgCli   *sipgo.DialogClientCache
	dlgSrv   *sipgo.DialogServerCache
	recUA    *sipgo.DialogUA
	ready    chan struct{} // closed when the fields above are set
	off      chan struct{} // closed by PowerOff
}

func (pw *powerCycle) isOff() bool {
	select {
	case <-pw.off:
		return true
	default:
		return false
	}
}

// wait holds a handler until PowerOn has finished; false if the power went.
func (pw *powerCycle) wait() bool {
	select {
	case <-pw.ready:
		return !pw.isOff()
	case <-pw.off:
		return false
	}
}

// stackRole says which requests a SIP stack takes.
type stackRole struct {
	calls     bool // the PBX-side stack: calls, NOTIFY
	recording bool // takes the recorder's INVITE, ACK, UPDATE, BYE
}

// recDialog is a recording session's SIP dialog, the phone being the UAS.
type callDir uint8

const (
	outgoing callDir = iota
	incoming
)

// call is the phone's one call. Fields are guarded by Phone.mu unless noted.
type call struct {
	dir    callDir
	state  CallState
	remote string
	callID string
	ended  bool

	cliDlg *sipgo.DialogClientSession // outgoing
	srvDlg *sipgo.DialogServerSession // incoming
	cancel context.CancelFunc         // outgoing: cancels WaitAnswer, which sends CANCEL

	answer   chan struct{} // incoming: closed by Answer
	reject   chan struct{} // incoming: closed by HangUp while ringing
	answered bool
	rejected bool

	setupDone chan struct{} // closed when the call is up or failed to come up
	talkingAt time.Duration // lab clock when the call connected ($$CALLDURATION$$)

	rtp   *sim.PacketConn
	codec media.Codec
	pump  *mediaPump
}

func newCall(dir callDir, remote string, state CallState) *call {
	return &call{dir: dir, remote: remote, state: state, answer: make(chan struct{}), reject: make(chan struct{}), setupDone: make(chan struct{})}
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
	}
	p.setConfigLocked(&c)
	return p, nil
}

// setConfigLocked makes c (validated, owned by the phone) the configuration
// in effect with what derives from it: extension, User-Agent, expiry.
func (p *Phone) setConfigLocked(c *Config) {
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
func (p *Phone) Ext() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ext
}

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
func (p *Phone) UserAgent() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ua
}

// SIPAddr is where the phone's PBX-side SIP stack listens (its Contact).
func (p *Phone) SIPAddr() netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.node.AddrPort(uint16(p.cfg.SIPPort(p.model)))
}

// RecordingAddr is where the recorder sends its INVITE (spec §3.2): port
// 7300 on the 442x/743x/744x, the SIP port on the 6700/6800/6900. A
// configuration update may move it (spec §3.2.5).
func (p *Phone) RecordingAddr() netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.node.AddrPort(uint16(p.cfg.RecordingPort(p.model)))
}

// RTPAddr is the address of the phone's call RTP socket (slot 0); the
// forked streams leave from it too.
func (p *Phone) RTPAddr() netip.AddrPort { return p.node.AddrPort(p.opts.RTPPort) }

// String is the phone's name, extension and model.
func (p *Phone) String() string {
	return fmt.Sprintf("%s (%s, %s)", p.node.Name(), p.ext, p.model.Name)
}

// State returns a snapshot.
func (p *Phone) State() State {
	p.mu.Lock()
	s := State{
		Powered:           p.pw != nil,
		Registered:        p.reg.Registered(),
		Recording:         p.rec.State(),
		CallError:         p.callErr,
		Calls:             p.calls,
		RecordingSessions: p.recSessions,
	}
	if c := p.call; c != nil {
		s.Call, s.Remote = c.state, c.remote
	}
	p.mu.Unlock()
	s.Media = p.Stats()
	return s
}

// Stats returns the RTP counters.
func (p *Phone) Stats() MediaStats { return p.count.snapshot() }

func (p *Phone) errorf(format string, args ...any) error {
	return fmt.Errorf("phones: %s "+format, append([]any{p.ext}, args...)...)
}

func (p *Phone) problem(src netip.AddrPort, format string, args ...any) {
	p.node.Network().Errorf(p.node.Name(), src, format, args...)
}

// ---- power ----

// PowerOn binds the phone's SIP stack on its SIP port and, on the
// 442x/743x/744x, a second stack on 7300 for recording (spec §3.2,
// docs/wire.md). It does not register.
func (p *Phone) PowerOn() error {
	p.life.Lock()
	defer p.life.Unlock()
	p.mu.Lock()
	on := p.pw != nil
	p.mu.Unlock()
	if on {
		return p.errorf("is already powered on")
	}
	pw := &powerCycle{ready: make(chan struct{}), off: make(chan struct{})}
	separate := p.model.SeparateRecordingStack()
	pbxStack, err := p.node.StartSIP(uint16(p.cfg.SIPPort(p.model)), p.ua, func(s *sipgo.Server) {
		p.serve(s, pw, stackRole{calls: true, recording: !separate})
	})
	if err != nil {
		return p.errorf("power on: %w", err)
	}
	recStack := pbxStack
	if separate {
		recStack, err = p.node.StartSIP(uint16(p.cfg.RecordingPort(p.model)), p.ua, func(s *sipgo.Server) {
			p.serve(s, pw, stackRole{recording: true})
		})
		if err != nil {
			close(pw.off)
			pbxStack.Close()
			return p.errorf("power on: recording stack: %w", err)
		}
	}
	pw.pbx, pw.rec = pbxStack, recStack
	pw.dlgCli = sipgo.NewDialogClientCache(pbxStack.Client, *pbxStack.Contact(p.ext))
	pw.dlgSrv = sipgo.NewDialogServerCache(pbxStack.Client, *pbxStack.Contact(p.ext))
	pw.recUA = &sipgo.DialogUA{Client: recStack.Client, ContactHDR: *recStack.Contact(p.ext)}
	p.mu.Lock()
	p.pw = pw
	// RFC 3261 §10.2.4: one REGISTER Call-ID per boot cycle; a new one
	// tells the registrar the phone started again (spec §3.2.4, §3.2.5).
	p.reg.Step(RegEvent{Kind: RegPowerOn, CallID: p.newRegCallID()})
	p.mu.Unlock()
	close(pw.ready)
	p.node.Publish(PowerState{Phone: p.Name(), Ext: p.ext, On: true})
	if separate {
		p.node.Note("%s powered on: SIP %s, recording SIP %s", p.model.Name, pbxStack.Addr, recStack.Addr)
	} else {
		p.node.Note("%s powered on: SIP and recording SIP %s", p.model.Name, pbxStack.Addr)
	}
	if len(p.cfg.RecordingAllowed) == 0 {
		p.node.Note("no \"recording allowed ip\" configured: every recording INVITE will be refused (spec §3.2)")
	}
	return nil
}

// PowerOff cuts the power: every socket of the phone closes and nothing is
// sent, no BYE to the recorder or the far end, no un-REGISTER (spec §3.2.4).
func (p *Phone) PowerOff() {
	p.life.Lock()
	defer p.life.Unlock()
	p.mu.Lock()
	pw := p.pw
	if pw == nil {
		p.mu.Unlock()
		return
	}
	p.pw = nil
	close(pw.off)
	p.regApplyLocked(pw, p.reg.Step(RegEvent{Kind: RegPowerOff})) // nothing is sent (spec §3.2.4)
	steps := p.recStepLocked(RecEvent{Kind: RecPowerOff})
	p.recDialogs = map[string]*recDialog{}
	c := p.call
	p.call = nil
	if c != nil {
		c.ended, c.state = true, CallIdle
	}
	p.mu.Unlock()
	for _, s := range steps {
		if s.act.Kind == RecNote {
			p.node.Note("%s", s.act.Text)
		}
	}
	// Closing the stacks terminates every transaction without a word, so
	// a pending WaitAnswer ends without sending CANCEL.
	pw.pbx.Close()
	if pw.rec != pw.pbx {
		pw.rec.Close()
	}
	if c != nil {
		if c.cancel != nil {
			c.cancel()
		}
		p.stopMedia(c)
	}
	if c != nil {
		p.publishCall(c, CallIdle, "power off")
	}
	p.node.Publish(PowerState{Phone: p.Name(), Ext: p.ext})
	p.node.Note("powered off")
}

func (p *Phone) powered() (*powerCycle, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pw == nil {
		return nil, p.errorf("is powered off")
	}
	return p.pw, nil
}

// ---- registration ----

// grantedExpiry reads the expiry the registrar granted: the Contact's
// expires parameter, else the Expires header, else what was asked.
func grantedExpiry(res *sip.Response, asked time.Duration) time.Duration {
	if c := res.Contact(); c != nil {
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// uriPort leaves the port out of a URI when it is SIP's default.
func uriPort(ap netip.AddrPort) int {
	if ap.Port() == 5060 {
		return 0
	}
	return int(ap.Port())
}

// ---- calls ----

// Dial calls number through the PBX: INVITE sip:<number>@<pbx> with the
// phone's SDP offer (docs/wire.md). It returns once the INVITE is sent; the
// answer is handled in the background (State, Notes). A refusal such as
// 404 or 480 ends the call, goes to the trace as an error and to
// State().CallError.
func (p *Phone) Dial(ctx context.Context, number string) error {
	if number == "" || strings.Trim(number, "0123456789*#") != "" {
		return p.errorf("dial: bad number %q", number)
	}
	p.mu.Lock()
	pw := p.pw
	switch {
	case pw == nil:
		p.mu.Unlock()
		return p.errorf("is powered off")
	case !p.reg.Registered():
		p.mu.Unlock()
		return p.errorf("is not registered")
	case p.call != nil:
		remote := p.call.remote
		p.mu.Unlock()
		return p.errorf("is busy (call with %s)", remote)
	}
	c := newCall(outgoing, number, CallDialing)
	p.call = c
	p.mu.Unlock()
	p.publishCall(c, CallDialing, "dialled")

	fail := func(err error) error {
		p.endCall(c, "")
		close(c.setupDone)
		return err
	}
	conn, err := p.node.ListenPacket(p.opts.RTPPort)
	if err != nil {
		return fail(p.errorf("dial %s: rtp: %w", number, err))
	}
	p.mu.Lock()
	c.rtp = conn
	p.mu.Unlock()
	offer, err := media.CallOffer(rand.Uint64()>>1, p.node.Addr(), p.opts.RTPPort, []media.Codec{media.PCMA, media.PCMU})
	if err != nil {
		return fail(p.errorf("dial %s: %w", number, err))
	}
	pbx := p.opts.PBX
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: number, Host: pbx.Addr().String(), Port: uriPort(pbx)})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.ext, Host: pbx.Addr().String()}}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: number, Host: pbx.Addr().String()}})
	req.AppendHeader(pw.pbx.Contact(p.ext))
	req.AppendHeader(sip.NewHeader("User-Agent", p.ua))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	req.SetDestination(pbx.String())
	p.node.Note("dialing %s", number)
	dlg, err := pw.dlgCli.WriteInvite(ctx, req)
	if err != nil {
		return fail(p.errorf("dial %s: %w", number, err))
	}
	waitCtx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	c.cliDlg, c.cancel, c.callID = dlg, cancel, req.CallID().Value()
	p.callErr = ""
	p.mu.Unlock()
	go p.awaitAnswer(waitCtx, pw, c, dlg)
	return nil
}

// awaitAnswer follows an outgoing INVITE to its final response.
func (p *Phone) awaitAnswer(ctx context.Context, pw *powerCycle, c *call, dlg *sipgo.DialogClientSession) {
	defer close(c.setupDone)
	defer c.cancel()
	rang := false
	err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		if (r.StatusCode == 180 || r.StatusCode == 183) && !rang {
			rang = true
			p.node.Note("%s is ringing", c.remote)
		}
		return nil
	}})
	if pw.isOff() {
		return
	}
	if err != nil {
		var refused *sipgo.ErrDialogResponse
		switch {
		case ctx.Err() != nil:
			if r := dlg.InviteResponse; r != nil && r.IsSuccess() {
				// The 200 OK crossed our CANCEL (RFC 3261 §9.1): the call
				// was answered, so ACK it (§13.2.2.4) and end it with BYE.
				p.node.Note("call to %s answered as we cancelled: ACK and BYE", c.remote)
				dlg.Ack(context.Background())
				byeCtx, cancel := sim.WithTimeout(context.Background(), p.node.Clock(), byeTimeout)
				dlg.Bye(byeCtx)
				cancel()
			}
			p.endCall(c, fmt.Sprintf("call to %s cancelled", c.remote))
		case errors.As(err, &refused):
			status := fmt.Sprintf("%d %s", refused.Res.StatusCode, refused.Res.Reason)
			p.mu.Lock()
			p.callErr = status
			p.mu.Unlock()
			p.problem(p.opts.PBX, "call to %s failed: %s", c.remote, status)
			p.endCall(c, fmt.Sprintf("call to %s failed: %s", c.remote, status))
		default:
			p.mu.Lock()
			p.callErr = err.Error()
			p.mu.Unlock()
			p.problem(p.opts.PBX, "call to %s failed: %v", c.remote, err)
			p.endCall(c, fmt.Sprintf("call to %s failed", c.remote))
		}
		return
	}
	answer, perr := media.ParseCall(dlg.InviteResponse.Body())
	if err := dlg.Ack(context.Background()); err != nil {
		p.problem(p.opts.PBX, "call to %s: ACK: %v", c.remote, err)
	}
	if perr != nil {
		p.problem(sourceOf(dlg.InviteResponse.Source()), "call to %s: answer SDP: %v", c.remote, perr)
		byeCtx, cancel := sim.WithTimeout(context.Background(), p.node.Clock(), byeTimeout)
		dlg.Bye(byeCtx)
		cancel()
		p.endCall(c, fmt.Sprintf("call to %s dropped: unusable answer", c.remote))
		return
	}
	p.talking(c, answer, fmt.Sprintf("%d %s", dlg.InviteResponse.StatusCode, dlg.InviteResponse.Reason))
}

// Answer answers the ringing call: 200 OK with the SDP answer. The call is
// talking once the PBX's ACK arrives.
func (p *Phone) Answer() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.call
	if c == nil || c.dir != incoming || c.state != CallRinging || c.answered || c.rejected || c.ended {
		return p.errorf("is not ringing")
	}
	c.answered = true
	close(c.answer)
	return nil
}

// HangUp ends the call: CANCEL while dialing, 603 Decline while ringing,
// BYE once talking. It returns when the call is over.
func (p *Phone) HangUp(ctx context.Context) error {
	p.mu.Lock()
	c := p.call
	if c == nil || c.ended {
		p.mu.Unlock()
		return p.errorf("has no call")
	}
	if c.state != CallTalking {
		if c.dir == incoming && !c.answered && !c.rejected {
			c.rejected = true
			close(c.reject)
		}
		cancel := c.cancel
		p.mu.Unlock()
		if cancel != nil {
			cancel() // WaitAnswer sends CANCEL (RFC 3261 §9.1)
		}
		select {
		case <-c.setupDone:
		case <-ctx.Done():
			return p.errorf("hang up: %w", ctx.Err())
		}
		p.mu.Lock()
	}
	if c.ended || c.state != CallTalking {
		p.mu.Unlock()
		return nil
	}
	cli, srv := c.cliDlg, c.srvDlg
	p.mu.Unlock()
	var err error
	if cli != nil {
		err = cli.Bye(ctx)
	} else if srv != nil {
		err = srv.Bye(ctx)
	}
	p.endCall(c, fmt.Sprintf("hung up on %s", c.remote))
	if err != nil {
		return p.errorf("hang up: BYE: %w", err)
	}
	return nil
}

// incomingCall serves an INVITE from the PBX: 180 Ringing, then waits for
// Answer, HangUp, a CANCEL or the power. It runs on sipgo's goroutine for
// the request, which the INVITE transaction needs alive until the final
// response.
func (p *Phone) incomingCall(pw *powerCycle, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	remote := req.From().Address.User
	offer, err := media.ParseCall(req.Body())
	if err != nil {
		p.problem(src, "call INVITE from %s: %v", remote, err)
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	p.mu.Lock()
	switch {
	case p.pw != pw:
		p.mu.Unlock()
		return
	case !p.reg.Registered():
		p.mu.Unlock()
		respond(tx, req, 480, "Temporarily Unavailable")
		return
	case p.call != nil:
		busyWith := p.call.remote
		p.mu.Unlock()
		p.node.Note("busy (call with %s): refused call from %s", busyWith, remote)
		respond(tx, req, 486, "Busy Here")
		return
	}
	c := newCall(incoming, remote, CallRinging)
	c.callID = req.CallID().Value()
	p.call = c
	p.callErr = ""
	p.mu.Unlock()
	p.publishCall(c, CallRinging, "INVITE")
	defer close(c.setupDone)

	dlg, err := pw.dlgSrv.ReadInvite(req, tx)
	if err != nil {
		p.problem(src, "call INVITE from %s: %v", remote, err)
		respond(tx, req, 400, "Bad Request")
		p.endCall(c, "")
		return
	}
	p.mu.Lock()
	c.srvDlg = dlg
	p.mu.Unlock()
	conn, err := p.node.ListenPacket(p.opts.RTPPort)
	if err != nil {
		p.problem(netip.AddrPort{}, "call from %s: rtp: %v", remote, err)
		respond(tx, dlg.InviteRequest, 500, "Server Internal Error")
		p.endCall(c, "")
		return
	}
	p.mu.Lock()
	c.rtp = conn
	p.mu.Unlock()
	if err := dlg.Respond(180, "Ringing", nil); err != nil {
		p.endCall(c, fmt.Sprintf("call from %s lost: %v", remote, err))
		return
	}
	p.node.Note("ringing from %s", remote)
	select {
	case <-c.answer:
		body, err := media.CallAnswer(offer, rand.Uint64()>>1, p.node.Addr(), p.opts.RTPPort)
		if err != nil {
			p.problem(src, "call from %s: %v", remote, err)
			respond(tx, dlg.InviteRequest, 488, "Not Acceptable Here")
			p.endCall(c, fmt.Sprintf("call from %s refused: %v", remote, err))
			return
		}
		// RespondSDP retransmits the 200 OK until the ACK (RFC 3261 §13.3.1.4).
		if err := dlg.RespondSDP(body); err != nil {
			if !pw.isOff() {
				p.problem(src, "call from %s: no ACK for 200 OK: %v", remote, err)
				p.endCall(c, fmt.Sprintf("call from %s lost", remote))
			}
			return
		}
		p.talking(c, offer, "ACK")
	case <-c.reject:
		// Straight to the transaction, not dlg.Respond, which would hold us
		// until the ACK: the transaction outlives this handler and absorbs
		// the ACK and retransmissions itself (RFC 3261 §17.2.1).
		respond(tx, dlg.InviteRequest, 603, "Decline")
		p.endCall(c, fmt.Sprintf("declined call from %s", remote))
	case <-dlg.Context().Done():
		p.endCall(c, fmt.Sprintf("call from %s cancelled", remote))
	case <-pw.off:
	}
}

// talking brings the call up: state, counters and RTP.
func (p *Phone) talking(c *call, far media.CallMedia, cause string) {
	p.mu.Lock()
	if c.ended || p.call != c {
		p.mu.Unlock()
		return
	}
	c.state = CallTalking
	c.talkingAt = p.node.Network().Now()
	c.codec = far.Codec
	p.calls++
	p.callErr = ""
	// We send unless the far end said it will not receive (RFC 3264 §6.1).
	send := far.Direction != media.SendOnly && far.Direction != media.Inactive
	local := c.rtp.LocalAddrPort()
	c.pump = newMediaPump(mediaParams{
		conn:   c.rtp,
		remote: far.Remote,
		codec:  far.Codec,
		send:   send,
		toneHz: p.opts.ToneHz,
		fork:   &p.fork,
		count:  &p.count,
		now:    p.node.Network().Now,
		clock:  p.node.Clock(),
		bad: func(src netip.AddrPort, err error) {
			p.problem(src, "RTP on %s: %v", local, err)
		},
	})
	c.pump.start()
	fork := p.fork.Load()
	p.mu.Unlock()
	p.publishCall(c, CallTalking, cause)
	p.node.Note("talking with %s (%s, RTP %s → %s)", c.remote, far.Codec, local, far.Remote)
	if fork != nil {
		p.node.Note("forking to recorder tx %s / rx %s", fork.tx, fork.rx)
	}
}

// endCall takes the call down once; why, if not empty, is noted.
func (p *Phone) endCall(c *call, why string) {
	p.mu.Lock()
	if c.ended {
		p.mu.Unlock()
		return
	}
	c.ended = true
	wasTalking := c.state == CallTalking
	p.mu.Unlock()
	p.stopMedia(c)
	p.mu.Lock()
	// Idle only now, with the phone free: State must not say idle while an
	// INVITE would still get 486 Busy Here (the RTP port is released first).
	c.state = CallIdle
	if p.call == c {
		p.call = nil
	}
	forking := wasTalking && p.fork.Load() != nil
	p.mu.Unlock()
	cause := why
	if cause == "" {
		cause = "ended"
	}
	p.publishCall(c, CallIdle, cause)
	if c.cliDlg != nil {
		c.cliDlg.Close()
	}
	if c.srvDlg != nil {
		c.srvDlg.Close()
	}
	if forking {
		p.node.Note("forking paused: no call (the recording session stays up)")
	}
	if why != "" {
		p.node.Note("%s", why)
	}
}

// publishCall publishes the call's new state (CallChanged).
func (p *Phone) publishCall(c *call, st CallState, cause string) {
	p.node.Publish(CallChanged{Phone: p.Name(), Ext: p.ext, State: st, Remote: c.remote, Cause: cause})
}

// talkingLocked reports whether the phone has a call up that is not
// being taken down.
func (p *Phone) talkingLocked() bool {
	return p.call != nil && !p.call.ended && p.call.state == CallTalking
}

// stopMedia halts the call's RTP and closes its socket, waiting for the
// goroutines, so the forkers are free for the next call.
func (p *Phone) stopMedia(c *call) {
	p.mu.Lock()
	pump, conn := c.pump, c.rtp
	c.pump, c.rtp = nil, nil
	p.mu.Unlock()
	if pump != nil {
		pump.halt()
	} else if conn != nil {
		conn.Close()
	}
}

// callByID returns the current call if it has this Call-ID.
func (p *Phone) callByID(callID string) *call {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.call != nil && p.call.callID == callID {
		return p.call
	}
	return nil
}

// ---- SIP handlers ----

func (p *Phone) serve(s *sipgo.Server, pw *powerCycle, role stackRole) {
	handle := func(f func(*powerCycle, stackRole, *sip.Request, sip.ServerTransaction, netip.AddrPort)) sipgo.RequestHandler {
		return func(req *sip.Request, tx sip.ServerTransaction) {
			if !pw.wait() {
				return
			}
			src := sourceOf(req.Source())
			if req.CallID() == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil {
				p.problem(src, "%s without Call-ID, From, To or CSeq", req.Method)
				if !req.IsAck() {
					respond(tx, req, 400, "Bad Request")
				}
				return
			}
			f(pw, role, req, tx, src)
		}
	}
	s.OnInvite(handle(p.onInvite))
	s.OnAck(handle(p.onAck))
	s.OnBye(handle(p.onBye))
	s.OnUpdate(handle(p.onUpdate))
	s.OnCancel(handle(func(_ *powerCycle, _ stackRole, req *sip.Request, tx sip.ServerTransaction, _ netip.AddrPort) {
		// A CANCEL matching a pending INVITE is handled by sipgo's
		// transaction layer; this one matches nothing (RFC 3261 §9.2).
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}))
	s.OnOptions(handle(func(_ *powerCycle, _ stackRole, req *sip.Request, tx sip.ServerTransaction, _ netip.AddrPort) {
		respond(tx, req, 200, "OK")
	}))
	if role.calls {
		s.OnNotify(handle(p.onNotify))
	}
}

func (p *Phone) onInvite(pw *powerCycle, role stackRole, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	// Calls come from the PBX (docs/wire.md). On the 6700/6800/6900 one
	// stack takes both, so anything else is a recording INVITE there (and
	// subject to the allowed list); the PBX-side stack of a 442x/743x/744x
	// refuses it and names the port the recorder should have used.
	fromPBX := src.Addr() == p.opts.PBX.Addr()
	switch {
	case role.calls && fromPBX:
		if hasToTag(req) {
			respond(tx, req, 488, "Not Acceptable Here") // no re-INVITE for calls in the lab
			return
		}
		p.incomingCall(pw, req, tx, src)
	case role.recording:
		p.recRequest(pw, RecInvite, req, tx, src)
	default:
		p.node.Note("refused INVITE from %s on the SIP port: calls come from the PBX, recording goes to %s", src, p.RecordingAddr())
		respond(tx, req, 403, "Forbidden")
	}
}

func (p *Phone) onAck(pw *powerCycle, role stackRole, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	if role.calls {
		if err := pw.dlgSrv.ReadAck(req, tx); err == nil || !errors.Is(err, sipgo.ErrDialogDoesNotExists) {
			return
		}
	}
	if role.recording {
		p.recRequest(pw, RecAck, req, tx, src)
	}
}

func (p *Phone) onBye(pw *powerCycle, role stackRole, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	if role.calls {
		callID := req.CallID().Value()
		err := pw.dlgSrv.ReadBye(req, tx)
		if errors.Is(err, sipgo.ErrDialogDoesNotExists) {
			err = pw.dlgCli.ReadBye(req, tx)
		}
		switch {
		case err == nil:
			if c := p.callByID(callID); c != nil {
				p.endCall(c, fmt.Sprintf("call with %s ended by the far end", c.remote))
			}
			return
		case !errors.Is(err, sipgo.ErrDialogDoesNotExists):
			// No tags, or a CSeq below the dialog's: malformed, and the
			// call goes on.
			p.problem(src, "BYE: %v", err)
			respond(tx, req, 400, "Bad Request")
			return
		}
	}
	p.recRequestOr481(pw, role, RecBye, req, tx, src)
}

func (p *Phone) onUpdate(pw *powerCycle, role stackRole, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	if role.calls && p.callByID(req.CallID().Value()) != nil {
		respond(tx, req, 200, "OK")
		return
	}
	p.recRequestOr481(pw, role, RecUpdate, req, tx, src)
}

// recRequestOr481 hands an in-dialog request that matched no call to the
// recording session on a stack that takes recording; elsewhere there is no
// such dialog (RFC 3261 §12.2.2).
func (p *Phone) recRequestOr481(pw *powerCycle, role stackRole, kind RecEventKind, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	if role.recording {
		p.recRequest(pw, kind, req, tx, src)
		return
	}
	respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

// onNotify takes the PBX's forced log-off (docs/wire.md, spec §3.2.3):
// NOTIFY Event: reg with the subscription or the contact terminated.
func (p *Phone) onNotify(pw *powerCycle, _ stackRole, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	if src != p.opts.PBX {
		// Only the PBX's own SIP address and port may log the phone off or
		// order an update (spec §3.2.3, §3.2.5).
		p.node.Note("refused NOTIFY from %s: not the PBX at %s", src, p.opts.PBX)
		respond(tx, req, 403, "Forbidden")
		return
	}
	event := ""
	if h := req.GetHeader("Event"); h != nil {
		event, _, _ = strings.Cut(h.Value(), ";")
		event = strings.ToLower(strings.TrimSpace(event))
	}
	if event == "check-sync" {
		// Spec §3.2.5: the PBX orders the phone to unregister and read its
		// configuration (docs/wire.md).
		respond(tx, req, 200, "OK")
		go p.checkSync(pw)
		return
	}
	if event != "reg" {
		respond(tx, req, 489, "Bad Event")
		return
	}
	subState, reason := "", "deactivated"
	if h := req.GetHeader("Subscription-State"); h != nil {
		v := strings.ToLower(h.Value())
		subState, _, _ = strings.Cut(v, ";")
		subState = strings.TrimSpace(subState)
		if _, r, ok := strings.Cut(v, "reason="); ok {
			reason, _, _ = strings.Cut(r, ";")
			reason = strings.TrimSpace(reason)
		}
	}
	terminated := subState == "terminated" || bytes.Contains(req.Body(), []byte(`state="terminated"`))
	respond(tx, req, 200, "OK")
	if terminated {
		p.loseRegistration(pw, fmt.Sprintf("forced log-off by the PBX (%s) (spec §3.2.3)", reason))
	}
}

// ---- configuration and firmware update (spec §3.2.5) ----

// StageConfig stages cfg for the next update order (NOTIFY check-sync):
// the phone takes it instead of re-reading its configuration file. It is
// validated for the phone's model now, so a bad one is refused here.
func (p *Phone) StageConfig(cfg *Config) error {
	if cfg == nil {
		return p.errorf("stage config: no configuration")
	}
	c, err := ownConfig(cfg, p.model, p.opts.PBX)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.staged = &c
	p.mu.Unlock()
	return nil
}

// nextConfig is the configuration an update order brings: the staged one,
// else the configuration file (Config.Source) read again; nil when there is
// nothing to read. An error names the file and what is wrong with it.
func (p *Phone) nextConfig() (*Config, error) {
	p.mu.Lock()
	staged, src := p.staged, p.cfg.Source
	p.staged = nil
	p.mu.Unlock()
	if staged != nil {
		return staged, nil
	}
	if src == "" {
		return nil, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, p.errorf("update: reading the configuration: %w", err)
	}
	defer f.Close()
	cfg, err := ParseConfig(src, f)
	if err != nil {
		return nil, err
	}
	c, err := ownConfig(cfg, p.model, p.opts.PBX)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// MajorChanges names what differs between two configurations of model m
// that makes a phone restart on an update order (spec §3.2.5: "if the
// firmware shall be updated or if there is a major change in the
// configuration file, the phone will restart"): the firmware version, the
// extension, the MAC address, the registrar, the SIP and recording ports
// and the recording allowed list. Anything else (softkeys, display name,
// registration period, ...) takes effect without a restart.
func MajorChanges(old, next *Config, m Model) []string {
	var out []string
	if firmwareOf(old) != firmwareOf(next) {
		out = append(out, fmt.Sprintf("firmware %s → %s", firmwareOf(old), firmwareOf(next)))
	}
	if old.User != next.User {
		out = append(out, fmt.Sprintf("%s %s → %s", cfgUser, old.User, next.User))
	}
	if old.MAC != next.MAC {
		out = append(out, cfgMAC)
	}
	if old.RegistrarAddrPort() != next.RegistrarAddrPort() {
		out = append(out, fmt.Sprintf("registrar %s → %s", old.RegistrarAddrPort(), next.RegistrarAddrPort()))
	}
	if old.SIPPort(m) != next.SIPPort(m) {
		out = append(out, fmt.Sprintf("%s %d → %d", cfgLocalPort, old.SIPPort(m), next.SIPPort(m)))
	}
	if old.RecordingPort(m) != next.RecordingPort(m) {
		out = append(out, fmt.Sprintf("recording port %d → %d", old.RecordingPort(m), next.RecordingPort(m)))
	}
	if !slices.Equal(old.RecordingAllowed, next.RecordingAllowed) {
		out = append(out, cfgRecordingAllowed)
	}
	return out
}

// checkSync carries out the PBX's update order (spec §3.2.5): unregister
// (BYE to the recorder if a session is up), read the configuration,
// restart when the firmware or a major item changed (every socket closed
// and opened again, on the new ports), register again.
func (p *Phone) checkSync(pw *powerCycle) {
	if !p.update.TryLock() {
		p.node.Note("update order ignored: an update is already running")
		return
	}
	defer p.update.Unlock()
	p.node.Note("update order from the PBX: unregistering and reading the configuration (spec §3.2.5)")
	ctx, cancel := sim.WithTimeout(context.Background(), p.node.Clock(), byeTimeout)
	defer cancel()
	if p.State().Registered {
		if err := p.Unregister(ctx); err != nil {
			p.problem(p.opts.PBX, "%v", err)
		}
	}
	next, err := p.nextConfig()
	if err != nil {
		p.problem(netip.AddrPort{}, "%v; keeping the configuration in use", err)
	}
	if cur, _ := p.powered(); cur != pw {
		return // powered off meanwhile
	}
	if next != nil {
		p.mu.Lock()
		major := MajorChanges(&p.cfg, next, p.model)
		p.mu.Unlock()
		if len(major) > 0 {
			if err := p.restartWith(next, strings.Join(major, ", ")+" (spec §3.2.5)"); err != nil {
				p.problem(netip.AddrPort{}, "%v", err)
				return
			}
		} else {
			p.mu.Lock()
			p.setConfigLocked(next)
			p.mu.Unlock()
			p.node.Note("configuration re-read from %s: no firmware or major change, no restart", next.Source)
		}
	}
	npw, err := p.powered()
	if err != nil {
		return
	}
	rctx, rcancel := sim.WithTimeout(context.Background(), p.node.Clock(), p.answerTimeout())
	defer rcancel()
	p.registerOrKeepTrying(rctx, npw)
}

// restartWith restarts the phone on next (validated, its own): every
// socket closed, the configuration taken, every socket bound again. why is
// the note's reason.
func (p *Phone) restartWith(next *Config, why string) error {
	p.node.Note("restarting: %s", why)
	p.PowerOff()
	p.life.Lock()
	p.mu.Lock()
	p.setConfigLocked(next)
	p.mu.Unlock()
	p.life.Unlock()
	if err := p.PowerOn(); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return nil
}

// ---- recording session driver ----

// recIncoming is the request a recording event came with.
type recIncoming struct {
	req      *sip.Request
	tx       sip.ServerTransaction
	src      netip.AddrPort
	callID   string
	inDialog bool
	offer    media.RecordingOffer
}

// recStep is one action of the session with what the driver found for it
// under the lock.
type recStep struct {
	act     RecAction
	dlg     *recDialog // RecSendBye, RecForget
	talking bool       // RecStartFork, RecStopFork: a call is up
}

// allowedLocked is spec §3.2: the recorder must be in "recording allowed
// ip". An empty list allows nobody.
func (p *Phone) allowedLocked(ip netip.Addr) bool {
	return slices.Contains(p.cfg.RecordingAllowed, ip.Unmap())
}

// recRequest feeds one recording request to the session and performs
// what it decides.
func (p *Phone) recRequest(pw *powerCycle, kind RecEventKind, req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	in := &recIncoming{req: req, tx: tx, src: src, callID: req.CallID().Value()}
	ev := RecEvent{Kind: kind, CallID: in.callID, Source: src}
	if kind == RecInvite {
		in.inDialog = hasToTag(req)
		ev.InDialog = in.inDialog
		if !in.inDialog {
			ev.Offer, ev.OfferErr = media.ParseRecordingOffer(req.Body())
			in.offer = ev.Offer
		}
	}
	p.mu.Lock()
	if p.pw != pw {
		p.mu.Unlock()
		return
	}
	ev.Allowed = p.allowedLocked(src.Addr())
	if d := p.recDialogs[in.callID]; d != nil && ev.Allowed && (kind != RecInvite || in.inDialog) {
		// A request in a recording dialog must be the dialog's (RFC 3261
		// §12.2.2): a forged BYE from the recorder's address but another
		// port, with invented tags, stopped forking before.
		id, _ := sip.DialogIDFromRequestUAS(req)
		var cseq uint32
		if c := req.CSeq(); c != nil {
			cseq = c.SeqNo
		}
		if code, why := d.admit(req.Method, id, cseq, src); code != 0 {
			p.mu.Unlock()
			p.problem(src, "recording %s", why)
			if kind != RecAck {
				respond(tx, req, code, refusalReason[code])
			}
			return
		}
	}
	steps := p.recStepLocked(ev)
	p.publishUnansweredLocked(ev, steps)
	var ackDlg *recDialog
	if kind == RecAck && ev.Allowed {
		ackDlg = p.recDialogs[in.callID]
	}
	p.mu.Unlock()
	ctx, cancel := sim.WithTimeout(context.Background(), p.node.Clock(), byeTimeout)
	defer cancel()
	if err := p.performRec(ctx, pw, steps, in); err != nil {
		p.problem(src, "%v", err)
	}
	if ackDlg != nil {
		// Let the dialog see its ACK, which ends RespondSDP's 2xx
		// retransmissions; an ACK of a re-INVITE fails the CSeq check
		// harmlessly.
		ackDlg.dlg.ReadAck(req, tx)
	}
}

// recEvent feeds an event that came with no request (an ACK timeout).
func (p *Phone) recEvent(pw *powerCycle, ev RecEvent) {
	p.mu.Lock()
	if p.pw != pw {
		p.mu.Unlock()
		return
	}
	steps := p.recStepLocked(ev)
	p.mu.Unlock()
	ctx, cancel := sim.WithTimeout(context.Background(), p.node.Clock(), byeTimeout)
	defer cancel()
	if err := p.performRec(ctx, pw, steps, nil); err != nil {
		p.problem(netip.AddrPort{}, "%v", err)
	}
}

// applyRecLocked does the state part of the session's actions under p.mu:
// fork targets and the dialog table. The rest is left to performRec.
// recStepLocked steps the recording core with ev, applies what must happen
// under the lock and publishes the session's state if it changed.
func (p *Phone) recStepLocked(ev RecEvent) []recStep {
	before := p.rec.State()
	steps := p.applyRecLocked(p.rec.Step(ev))
	if after := p.rec.State(); after != before {
		st := RecordingState{Phone: p.Name(), Ext: p.ext, State: after, Cause: ev.Kind.String()}
		if ft := p.fork.Load(); after == RecForking && ft != nil {
			st.TX, st.RX = ft.tx, ft.rx
		}
		p.node.Publish(st)
	}
	return steps
}

func (p *Phone) applyRecLocked(acts []RecAction) []recStep {
	steps := make([]recStep, len(acts))
	for i, a := range acts {
		steps[i].act = a
		switch a.Kind {
		case RecStartFork:
			p.fork.Store(newForkTargets(a.TX, a.RX))
			p.recSessions++
			steps[i].talking = p.talkingLocked()
		case RecStopFork:
			p.fork.Store(nil)
			steps[i].talking = p.talkingLocked()
		case RecSendBye, RecForget:
			steps[i].dlg = p.recDialogs[a.CallID]
			delete(p.recDialogs, a.CallID)
		}
	}
	return steps
}

// performRec does the rest of the actions, in order, without the lock:
// notes, responses, BYEs. It returns the error of a BYE the phone sent.
func (p *Phone) performRec(ctx context.Context, pw *powerCycle, steps []recStep, in *recIncoming) error {
	var errs []error
	src := netip.AddrPort{}
	if in != nil {
		src = in.src
	}
	for _, s := range steps {
		a := s.act
		switch a.Kind {
		case RecNote:
			p.node.Note("%s", a.Text)
		case RecProblem:
			p.problem(src, "%s", a.Text)
		case RecStartFork:
			if s.talking {
				p.node.Note("forking to recorder tx %s / rx %s", a.TX, a.RX)
			} else {
				p.node.Note("recording session up: forking to recorder tx %s / rx %s from the next call", a.TX, a.RX)
			}
		case RecStopFork:
			if s.talking {
				p.node.Note("forking to the recorder stopped")
			}
		case RecForget:
			if s.dlg != nil {
				s.dlg.tx.Terminate() // stops 200 OK retransmissions
			}
		case RecSendBye:
			if s.dlg == nil {
				continue // 200 OK not sent yet: nothing to end
			}
			s.dlg.tx.Terminate() // RFC 3261 §15: no BYE before ACK unless the INVITE transaction is over
			if err := s.dlg.dlg.Bye(ctx); err != nil {
				errs = append(errs, p.errorf("BYE to the recorder: %w", err))
			} else {
				p.node.Note("recording session ended with BYE to the recorder")
			}
		case RecRespond:
			if in != nil {
				p.recRespond(pw, a, in)
			}
		}
	}
	return errors.Join(errs...)
}

// recRespond answers a recording request. A 200 OK with Answer to a new
// INVITE creates the dialog and blocks (on sipgo's goroutine for this
// request) until the ACK, retransmitting the 200 OK meanwhile.
func (p *Phone) recRespond(pw *powerCycle, a RecAction, in *recIncoming) {
	if !a.Answer {
		respond(in.tx, in.req, a.Code, a.Reason)
		return
	}
	if in.inDialog {
		// Spec §3.2.2 session refresher: the same answer again.
		p.mu.Lock()
		d := p.recDialogs[in.callID]
		p.mu.Unlock()
		if d == nil {
			respond(in.tx, in.req, 481, "Call/Transaction Does Not Exist")
			return
		}
		res := sip.NewSDPResponseFromRequest(in.req, d.answer)
		res.AppendHeader(&pw.recUA.ContactHDR)
		in.tx.Respond(res)
		return
	}
	drop := func(format string, args ...any) {
		p.problem(in.src, format, args...)
		p.recEvent(pw, RecEvent{Kind: RecAckTimeout, CallID: in.callID})
	}
	body, err := p.recordingAnswer(in.offer)
	if err != nil {
		respond(in.tx, in.req, 488, "Not Acceptable Here")
		drop("recording INVITE: %v", err)
		return
	}
	dlg, err := pw.recUA.ReadInvite(in.req, in.tx)
	if err != nil {
		respond(in.tx, in.req, 400, "Bad Request")
		drop("recording INVITE: %v", err)
		return
	}
	p.mu.Lock()
	current := p.pw == pw && p.rec.State() == RecOffered && p.rec.CallID() == in.callID
	if current {
		p.recDialogs[in.callID] = newRecDialog(dlg, in.tx, body, in.src)
	}
	p.mu.Unlock()
	if !current {
		return // replaced or powered off in the meantime
	}
	// The recording stack's methods, UPDATE among them (RFC 3311 §5.1: a
	// UA that takes UPDATE says so), and no option tag it would need.
	allow, supported := sip.NewHeader("Allow", pw.rec.Allow), sip.NewHeader("Supported", "")
	if err := dlg.Respond(sip.StatusOK, "OK", body, sip.NewHeader("Content-Type", "application/sdp"), allow, supported); err != nil {
		// Never ACKed, or we ended the transaction (replaced, BYE, power
		// off); the session ignores the timeout in the latter cases.
		p.recEvent(pw, RecEvent{Kind: RecAckTimeout, CallID: in.callID})
	}
}

// recordingAnswer is the phone's 200 OK body: two sendonly streams from the
// call RTP socket (the copies leave from it) in the call's codec if it is
// up and offered, else PCMA, else the first offered.
func (p *Phone) recordingAnswer(offer media.RecordingOffer) ([]byte, error) {
	codecs := offer.Codecs
	if len(codecs) == 0 {
		codecs = []media.Codec{media.PCMA, media.PCMU} // RecordingOffer: empty means PCMA, PCMU
	}
	p.mu.Lock()
	var callCodec media.Codec
	have := false
	if c := p.call; p.talkingLocked() {
		callCodec, have = c.codec, true
	}
	p.mu.Unlock()
	codec := codecs[0]
	switch {
	case have && slices.Contains(codecs, callCodec):
		codec = callCodec
	case slices.Contains(codecs, media.PCMA):
		codec = media.PCMA
	}
	port := p.opts.RTPPort
	return media.BuildRecordingAnswer(offer, rand.Uint64()>>1, p.node.Addr(), port, port, codec)
}

// ---- helpers ----

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	tag, ok := to.Params.Get("tag")
	return ok && tag != ""
}

// sourceOf parses sipgo's "ip:port" source; invalid on garbage.
func sourceOf(s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
