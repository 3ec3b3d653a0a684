package recorder

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Mapping is how recording sessions map onto calls (spec §3.1).
type Mapping uint8

const (
	// Dynamic: a recording session is set up for each call and taken down
	// when the call clears (spec §3.1, §3.2). The default.
	Dynamic Mapping = iota
	// Static: the session is set up when the registered terminal's first call
	// starts and kept until the terminal is logged off (spec §3.1); each call
	// still gets its own recording file.
	Static
)

var mappingNames = [...]string{"dynamic", "static"}

func (m Mapping) String() string {
	if int(m) < len(mappingNames) {
		return mappingNames[m]
	}
	return fmt.Sprintf("mapping(%d)", uint8(m))
}

// ParseMapping turns "dynamic" or "static" (any case) into a Mapping.
func ParseMapping(s string) (Mapping, error) {
	for i, n := range mappingNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Mapping(i), nil
		}
	}
	return 0, fmt.Errorf("recorder: unknown mapping %q; valid: %s", s, strings.Join(mappingNames[:], ", "))
}

// Defaults of the Config fields left zero (design.md "Address plan").
const (
	DefaultKeepAlive     = 30 * time.Second
	DefaultCSTAKeepAlive = 30 * time.Second
	DefaultSIPPort       = 5060
	DefaultRTPPort       = 20000
	DefaultOutDir        = "recordings"
)

// DefaultCSTA is the PBX's CSTA XML server in the default address plan.
var DefaultCSTA = netip.MustParseAddrPort("127.20.0.1:8882")

// Config configures a Recorder. The zero value works: the default address
// plan, dynamic mapping, 30 s keep-alives, nothing monitored.
type Config struct {
	CSTA      netip.AddrPort // the PBX's CSTA server; default DefaultCSTA
	Monitored []string       // extensions to MonitorStart
	Mapping   Mapping        // Dynamic (default) or Static
	KeepAlive time.Duration  // SIP UPDATE interval (spec §3.2.2); default 30 s
	// AnswerTimeout is how long an INVITE, UPDATE, re-INVITE or BYE waits
	// for its final answer before it counts as unanswered (spec §3.2.2);
	// default max(KeepAlive, 1 s). Keep it below sipgo's Timer B/F (64*T1,
	// 32 s by default) or the transaction layer gives up first.
	AnswerTimeout time.Duration
	// InviteRetransmit is how long an INVITE waits for an answer before the
	// recorder sends another INVITE with the same SDP session id and a new
	// Call-ID (spec §3.2.1); default half of AnswerTimeout. A value at or
	// above AnswerTimeout sends no second INVITE.
	InviteRetransmit time.Duration
	CSTAKeepAlive    time.Duration // CSTA SystemStatus interval; default 30 s
	CSTAPassword     string        // ECMA-354 application password: a session first (csta.StartSession); "": none
	// CSTATLS, if set, makes the CSTA link TLS (the PBX's 8883, design.md
	// "Address plan") on the traced conn: the roots it trusts (the lab CA,
	// or the CA a real MX-ONE's certificate comes from). Its ServerName
	// defaults to CSTA's address, which the certificate must name.
	CSTATLS *tls.Config
	SIPPort uint16 // the recorder's SIP port; default 5060
	RTPPort uint16 // first RTP port, even; default 20000
	OutDir  string // where recordings go, created if missing; default "recordings"

	// Record on demand (spec §3.3; ondemand.go, http.go).
	OnDemand  OnDemand    // OnDemandOff (default), StartOnDemand or SaveOnDemand
	HTTPPort  uint16      // the record key's HTTP endpoint; default 8080
	HTTPSPort uint16      // its HTTPS endpoint, served only when TLS is set; default 8443
	TLS       *tls.Config // the HTTPS endpoint's certificate (sim.LabCA.ServerTLS); nil: no HTTPS

	// SRTP is where the keys of encrypted forks come from (spec §1.3,
	// srtp.go): KeysCSTA (default), KeysSDP, KeysNone or KeysWrong.
	SRTP SRTPKeys
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if !c.CSTA.IsValid() {
		c.CSTA = DefaultCSTA
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.CSTAKeepAlive == 0 {
		c.CSTAKeepAlive = DefaultCSTAKeepAlive
	}
	if c.AnswerTimeout == 0 {
		c.AnswerTimeout = max(c.KeepAlive, time.Second)
	}
	if c.InviteRetransmit == 0 {
		c.InviteRetransmit = c.AnswerTimeout / 2
	}
	if c.SIPPort == 0 {
		c.SIPPort = DefaultSIPPort
	}
	if c.RTPPort == 0 {
		c.RTPPort = DefaultRTPPort
	}
	if c.OutDir == "" {
		c.OutDir = DefaultOutDir
	}
	if c.HTTPPort == 0 {
		c.HTTPPort = DefaultHTTPPort
	}
	if c.HTTPSPort == 0 {
		c.HTTPSPort = DefaultHTTPSPort
	}
	return c
}

// validate checks a Config after withDefaults; errors name the field and value.
func (c Config) validate() error {
	if c.CSTA.Port() == 0 {
		return fmt.Errorf("recorder: Config.CSTA %s has no port", c.CSTA)
	}
	for i, ext := range c.Monitored {
		if ext == "" {
			return fmt.Errorf("recorder: Config.Monitored[%d] is empty", i)
		}
		if strings.IndexFunc(ext, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
			return fmt.Errorf("recorder: Config.Monitored[%d] %q is not a single printable token", i, ext)
		}
		if slices.Contains(c.Monitored[:i], ext) {
			return fmt.Errorf("recorder: Config.Monitored[%d] %q is listed twice", i, ext)
		}
	}
	if c.Mapping > Static {
		return fmt.Errorf("recorder: Config.Mapping %s is neither dynamic nor static", c.Mapping)
	}
	if c.KeepAlive < 0 {
		return fmt.Errorf("recorder: Config.KeepAlive %s is negative", c.KeepAlive)
	}
	if c.AnswerTimeout < 0 {
		return fmt.Errorf("recorder: Config.AnswerTimeout %s is negative", c.AnswerTimeout)
	}
	if c.InviteRetransmit < 0 {
		return fmt.Errorf("recorder: Config.InviteRetransmit %s is negative", c.InviteRetransmit)
	}
	if c.CSTAKeepAlive < 0 {
		return fmt.Errorf("recorder: Config.CSTAKeepAlive %s is negative", c.CSTAKeepAlive)
	}
	if c.RTPPort%2 != 0 {
		// RFC 3550 §11: RTP on an even port, RTCP on the odd one above it.
		return fmt.Errorf("recorder: Config.RTPPort %d is odd; RTP ports are even", c.RTPPort)
	}
	if c.RTPPort > 65530 {
		return fmt.Errorf("recorder: Config.RTPPort %d leaves no room for a tx and rx pair", c.RTPPort)
	}
	return c.validateOnDemand()
}
