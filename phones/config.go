package phones

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/reclab/reclab/sim/media"
)

// Parameter names, in canonical form. "sip recording port" and "softkeyN body"
// / "softkeyN content type" are ours, not Mitel's.
const (
	cfgUser               = "sip line1 user name"
	cfgDisplayName        = "sip line1 display name"
	cfgAuthName           = "sip line1 auth name"
	cfgPassword           = "sip line1 password"
	cfgProxyIP            = "sip line1 proxy ip"
	cfgProxyPort          = "sip line1 proxy port"
	cfgRegistrarIP        = "sip line1 registrar ip"
	cfgRegistrarPort      = "sip line1 registrar port"
	cfgLocalPort          = "sip local port"
	cfgRecordingPort      = "sip recording port"
	cfgRegistrationPeriod = "sip registration period"
	cfgRecordingAllowed   = "recording allowed ip"
	cfgMAC                = "mac address"
	cfgFirmware           = "firmware version"
	// SRTP (spec §1.3): Mitel's "sip srtp mode" (0 off, 1 SRTP offered and
	// plain RTP taken, 2 SRTP only) and the lab's own suite parameter.
	cfgSRTPMode  = "sip srtp mode"
	cfgSRTPSuite = "sip srtp crypto suite"
)

// maxConfigSize bounds what ParseConfig reads; real Mitel files are a few KiB.
const maxConfigSize = 1 << 20

// maxSoftkeyIndex bounds N in "softkeyN ...": a 6940 with expansion modules
// has well under a hundred keys. Higher numbers are unknown parameters.
const maxSoftkeyIndex = 999

// Config is one phone's configuration file. The zero value is an empty file;
// Validate says what a phone needs before it can register.
type Config struct {
	Source string // where the file came from, for errors: a path or "pbx"

	User        string // sip line1 user name: the extension, digits
	DisplayName string // sip line1 display name
	AuthName    string // sip line1 auth name
	Password    string // sip line1 password

	Proxy         netip.Addr // sip line1 proxy ip; unset: calls go to the registrar
	ProxyPort     int        // sip line1 proxy port; 0 = not set (5060)
	Registrar     netip.Addr // sip line1 registrar ip: the PBX
	RegistrarPort int        // sip line1 registrar port; 0 = not set (5060)

	// LocalPort is "sip local port", the phone's PBX-side SIP port; 0 = not
	// set (5060). On the 6700/6800/6900 it is also the recording port.
	LocalPort int
	// RecordingPortParam is "sip recording port" as written (ours, not
	// Mitel's); 0 = not set. It may only restate the port the model's rule
	// gives (Validate); RecordingPort returns the port in effect.
	RecordingPortParam int
	// RegistrationPeriod is "sip registration period" in seconds; 0 = not
	// set (the registrar's Expires applies).
	RegistrationPeriod int

	// RecordingAllowed is "recording allowed ip": the addresses from which
	// the phone accepts INVITE, ACK, UPDATE and BYE for recording (spec §3.2).
	RecordingAllowed []netip.Addr

	MAC      string // mac address: 12 upper-case hex digits, no separators
	Firmware string // firmware version

	// SRTPMode is "sip srtp mode": 0 plain RTP (an RTP/SAVP offer gets
	// 488), 1 calls offer SRTP and take plain RTP too, 2 SRTP only.
	SRTPMode int
	// SRTPSuite is "sip srtp crypto suite" (ours): the suite a call
	// offers, default AES_CM_128_HMAC_SHA1_80 (media.CryptoSuites).
	SRTPSuite string

	Softkeys []Softkey // sorted by Index, one entry per index
	Unknown  []Param   // parameters this package does not know, in file order
	Warnings []string  // "source:line: ..." for repeats and ignored prefixes
}

// Softkey is softkeyN in the configuration file. The record key (spec §3.3) is
// a softkey of type "xml" whose Value is the URL; with a Body it is sent as a
// POST of that body (an XML or SOAP template) instead of a GET.
type Softkey struct {
	Index       int    // N in softkeyN, from 1
	Type        string // "xml", "speeddial", "line", ... as written
	Label       string
	Value       string // for xml: the URL, with $$VARIABLES$$ not yet substituted
	States      string // e.g. "idle connected"
	Body        string // softkeyN body (ours): POST body template
	ContentType string // softkeyN content type (ours): for the POST; empty = caller's default
}

// HTTPMethod returns "POST" when the key has a body template and "GET" otherwise.
func (k Softkey) HTTPMethod() string {
	if k.Body != "" {
		return "POST"
	}
	return "GET"
}

// Param is one parameter as read from a file. Line is 0 when it came from Set.
type Param struct {
	Line  int
	Name  string // canonical: lowercase, single spaces
	Value string
}

// ParseConfig reads a phone configuration file in Mitel's text form (design
// "Phone models and port rules"): one "parameter: value" per line. source
// names the file in errors and warnings. The first bad line stops parsing; the
// error names source, line, parameter and value, e.g.
//
//	phones: 1001.cfg:4: parameter "sip local port": bad value "abc": want a port 1-65535
//
// The spec says only that the allowed recorder addresses (§3.2), the SIP port
// of the 6700/6800/6900 (§3.2) and the record key (§3.3) come from this file;
// the syntax rules are ours, following Mitel's manuals where they speak:
//   - A line whose first non-blank character is '#' is a comment. A '#' later
//     in a line is part of the value: Mitel values such as dial plans
//     ("x+#|xx+*"), URLs with fragments and passwords contain '#'.
//   - Blank lines are ignored. Lines end in "\n" or "\r\n". A UTF-8 byte order
//     mark at the start of the file is ignored.
//   - The name is everything before the first ':'; the value everything after
//     it, so URLs keep their colons. Names are case-insensitive and runs of
//     blanks count as one space; they are kept lowercase ("sip local port").
//     A name holds only letters, digits, blanks, '-', '_' and '.'.
//   - Values are trimmed. A value wrapped in double quotes loses the quotes
//     and keeps everything between them, as Mitel does for dial plans, so a
//     quoted value keeps its leading and trailing spaces.
//   - Mitel's '!' (lock) and '^' (reset to default) prefixes are accepted and
//     dropped with a warning: the lab has no web UI to lock against.
//   - An empty value clears a parameter (the phone's default applies).
//   - A parameter given twice: the last line wins and a warning names both
//     lines. "recording allowed ip" is a list: each line appends.
//   - Unknown parameters are kept in order with their line numbers, written
//     back by Format and reported by Notices; never dropped.
func ParseConfig(source string, r io.Reader) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("phones: %sreading: %w", cfgWhere(source, 0), err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("phones: %sfile is larger than %d bytes", cfgWhere(source, 0), maxConfigSize)
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	c := &Config{Source: source}
	seen := map[string]int{} // canonical name of a scalar -> line it was last set on
	for i, raw := range strings.Split(string(data), "\n") {
		if err := c.parseLine(i+1, raw, seen); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Config) parseLine(n int, raw string, seen map[string]int) error {
	text := strings.TrimSpace(raw)
	if text == "" || text[0] == '#' {
		return nil
	}
	rawName, rawValue, ok := strings.Cut(text, ":")
	if !ok {
		return fmt.Errorf("phones: %sline %s has no ':' (want \"parameter: value\")", cfgWhere(c.Source, n), cfgShort(text))
	}
	if p := rawName[0:min(1, len(rawName))]; p == "!" || p == "^" {
		rawName = rawName[1:]
		c.Warnings = append(c.Warnings, fmt.Sprintf("%sprefix %q ignored: the lab does not lock or reset parameters", cfgWhere(c.Source, n), p))
	}
	name, err := cfgName(rawName)
	if err != nil {
		return fmt.Errorf("phones: %s%w", cfgWhere(c.Source, n), err)
	}
	value := cfgValue(rawValue)
	list, err := c.assign(name, value, n, true)
	if err != nil {
		return fmt.Errorf("phones: %s%w", cfgWhere(c.Source, n), err)
	}
	if list {
		return nil
	}
	if _, known := cfgKnown(name); known {
		if prev, dup := seen[name]; dup {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%sparameter %q repeats line %d; line %d wins", cfgWhere(c.Source, n), name, prev, n))
		}
		seen[name] = n
	}
	return nil
}

// Set sets one parameter as if it were a line of the file, with the same name
// rules and value checks; the PBX uses it when it orders a configuration
// change (spec §3.2.5). Unlike a repeated line it adds no warning, and for the
// list "recording allowed ip" it replaces the list rather than appending. An
// unknown parameter replaces the last one of that name in Unknown, or is
// appended with Line 0. A value may not contain a newline. On error c is
// unchanged.
func (c *Config) Set(name, value string) error {
	canon, err := cfgName(name)
	if err != nil {
		return fmt.Errorf("phones: %s%w", cfgWhere(c.Source, 0), err)
	}
	if strings.Contains(value, "\n") {
		return fmt.Errorf("phones: %sparameter %q: bad value %s: a value is one line", cfgWhere(c.Source, 0), canon, cfgShort(value))
	}
	if _, err := c.assign(canon, cfgValue(value), 0, false); err != nil {
		return fmt.Errorf("phones: %s%w", cfgWhere(c.Source, 0), err)
	}
	return nil
}

// assign stores one parameter. fromFile selects file semantics (lists append,
// unknown parameters append) over Set's (replace). list reports whether name
// was a list parameter, which never counts as repeated.
func (c *Config) assign(name, value string, line int, fromFile bool) (list bool, err error) {
	bad := func(want string) error {
		return fmt.Errorf("parameter %q: bad value %s: %s", name, cfgShort(value), want)
	}
	if name == cfgRecordingAllowed {
		addrs, err := cfgAddrList(value)
		if err != nil {
			return true, fmt.Errorf("parameter %q: %w", name, err)
		}
		if fromFile {
			c.RecordingAllowed = append(c.RecordingAllowed, addrs...)
		} else {
			c.RecordingAllowed = addrs
		}
		return true, nil
	}
	if index, field, ok := cfgSoftkeyName(name); ok {
		c.softkey(index).set(field, value)
		return false, nil
	}
	kind, known := cfgKnown(name)
	if !known {
		p := Param{Line: line, Name: name, Value: value}
		if !fromFile {
			for i := len(c.Unknown) - 1; i >= 0; i-- {
				if c.Unknown[i].Name == name {
					c.Unknown[i] = p
					return false, nil
				}
			}
		}
		c.Unknown = append(c.Unknown, p)
		return false, nil
	}
	switch kind {
	case cfgKindString:
		*c.stringField(name) = value
	case cfgKindDigits:
		if value != "" && !cfgDigits(value) {
			return false, bad("want digits (an extension)")
		}
		*c.stringField(name) = value
	case cfgKindPort:
		port, ok := cfgPort(value)
		if !ok {
			return false, bad("want a port 1-65535")
		}
		*c.intField(name) = port
	case cfgKindSeconds:
		secs, ok := cfgSeconds(value)
		if !ok {
			return false, bad("want a number of seconds 0-2147483647")
		}
		*c.intField(name) = secs
	case cfgKindNumber:
		n, ok := cfgSeconds(value)
		if !ok {
			return false, bad("want a number")
		}
		*c.intField(name) = n
	case cfgKindIPv4:
		var addr netip.Addr
		if value != "" {
			a, err := netip.ParseAddr(value)
			if err != nil || !a.Is4() {
				return false, bad("want an IPv4 address")
			}
			addr = a
		}
		if name == cfgProxyIP {
			c.Proxy = addr
		} else {
			c.Registrar = addr
		}
	case cfgKindMAC:
		mac, ok := cfgMACAddress(value)
		if !ok {
			return false, bad("want 12 hex digits, plain or as 00:08:5D:12:34:56")
		}
		c.MAC = mac
	}
	return false, nil
}

type cfgKind uint8

const (
	cfgKindString cfgKind = iota + 1
	cfgKindDigits
	cfgKindPort
	cfgKindSeconds
	cfgKindIPv4
	cfgKindMAC
	cfgKindNumber
)

// cfgKnown returns the kind of a known scalar parameter, softkeys included.
func cfgKnown(name string) (cfgKind, bool) {
	switch name {
	case cfgDisplayName, cfgAuthName, cfgPassword, cfgFirmware, cfgSRTPSuite:
		return cfgKindString, true
	case cfgUser:
		return cfgKindDigits, true
	case cfgSRTPMode:
		return cfgKindNumber, true
	case cfgProxyPort, cfgRegistrarPort, cfgLocalPort, cfgRecordingPort:
		return cfgKindPort, true
	case cfgRegistrationPeriod:
		return cfgKindSeconds, true
	case cfgProxyIP, cfgRegistrarIP:
		return cfgKindIPv4, true
	case cfgMAC:
		return cfgKindMAC, true
	}
	if _, _, ok := cfgSoftkeyName(name); ok {
		return cfgKindString, true
	}
	return 0, false
}

func (c *Config) stringField(name string) *string {
	switch name {
	case cfgUser:
		return &c.User
	case cfgDisplayName:
		return &c.DisplayName
	case cfgAuthName:
		return &c.AuthName
	case cfgPassword:
		return &c.Password
	case cfgFirmware:
		return &c.Firmware
	case cfgSRTPSuite:
		return &c.SRTPSuite
	}
	panic("phones: no string field for " + name)
}

func (c *Config) intField(name string) *int {
	switch name {
	case cfgProxyPort:
		return &c.ProxyPort
	case cfgRegistrarPort:
		return &c.RegistrarPort
	case cfgLocalPort:
		return &c.LocalPort
	case cfgRecordingPort:
		return &c.RecordingPortParam
	case cfgRegistrationPeriod:
		return &c.RegistrationPeriod
	case cfgSRTPMode:
		return &c.SRTPMode
	}
	panic("phones: no int field for " + name)
}

// softkey returns the entry for index, inserting it in order if needed.
func (c *Config) softkey(index int) *Softkey {
	i, found := slices.BinarySearchFunc(c.Softkeys, index, func(k Softkey, index int) int { return k.Index - index })
	if !found {
		c.Softkeys = slices.Insert(c.Softkeys, i, Softkey{Index: index})
	}
	return &c.Softkeys[i]
}

func (k *Softkey) set(field, value string) {
	switch field {
	case "type":
		k.Type = value
	case "label":
		k.Label = value
	case "value":
		k.Value = value
	case "states":
		k.States = value
	case "body":
		k.Body = value
	case "content type":
		k.ContentType = value
	}
}

// cfgSoftkeyName splits "softkeyN field". N has no leading zero; anything else
// ("softkey01 type", "softkey1 colour") is not a softkey parameter and so is
// kept as unknown.
func cfgSoftkeyName(name string) (index int, field string, ok bool) {
	rest, ok := strings.CutPrefix(name, "softkey")
	if !ok {
		return 0, "", false
	}
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	if digits == 0 || digits > 3 || rest[0] == '0' || digits == len(rest) || rest[digits] != ' ' {
		return 0, "", false
	}
	index, _ = strconv.Atoi(rest[:digits])
	field = rest[digits+1:]
	switch field {
	case "type", "label", "value", "states", "body", "content type":
		return index, field, index <= maxSoftkeyIndex
	}
	return 0, "", false
}

// cfgName canonicalises a parameter name: lowercase, single spaces.
func cfgName(raw string) (string, error) {
	for i := 0; i < len(raw); i++ {
		switch b := raw[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9',
			b == ' ', b == '\t', b == '-', b == '_', b == '.':
		default:
			return "", fmt.Errorf("bad parameter name %s: want letters, digits, spaces, '-', '_' or '.'", cfgShort(raw))
		}
	}
	name := strings.ToLower(strings.Join(strings.Fields(raw), " "))
	if name == "" {
		return "", errors.New("empty parameter name before ':'")
	}
	return name, nil
}

// cfgValue trims a value and removes one pair of surrounding double quotes.
func cfgValue(raw string) string {
	v := strings.TrimSpace(raw)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v
}

// cfgQuoteValue is cfgValue's inverse for Format: it quotes a value that would
// otherwise lose spaces or quotes when read back. Newlines, which no parsed
// value holds, become spaces so that a field set in code cannot inject a line.
func cfgQuoteValue(v string) string {
	v = strings.ReplaceAll(v, "\n", " ")
	if v != strings.TrimSpace(v) || (len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"') {
		return `"` + v + `"`
	}
	return v
}

func cfgDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cfgPort parses a port; "" is 0 (not set).
func cfgPort(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	if !cfgDigits(s) || len(s) > 5 {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, n >= 1 && n <= 65535
}

// cfgSeconds parses a non-negative int32; "" is 0 (not set).
func cfgSeconds(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	if !cfgDigits(s) || len(s) > 10 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int(n), err == nil
}

// cfgAddrList parses IPv4 addresses separated by commas and/or blanks.
func cfgAddrList(s string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		a, err := netip.ParseAddr(f)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("bad value %s: want IPv4 addresses separated by commas or spaces", cfgShort(f))
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// cfgMACAddress accepts 12 hex digits, or six pairs separated by ':' or '-',
// and returns the upper-case plain form; "" stays "".
func cfgMACAddress(s string) (string, bool) {
	if len(s) == 17 {
		sep := s[2]
		if sep != ':' && sep != '-' {
			return "", false
		}
		var plain []byte
		for i := 0; i < 17; i++ {
			if i%3 == 2 {
				if s[i] != sep {
					return "", false
				}
				continue
			}
			plain = append(plain, s[i])
		}
		s = string(plain)
	}
	if s == "" {
		return "", true
	}
	if len(s) != 12 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F') {
			return "", false
		}
	}
	return strings.ToUpper(s), true
}

// cfgWhere prefixes a message with "source:line: ", leaving out what is unknown.
func cfgWhere(source string, line int) string {
	switch {
	case source != "" && line > 0:
		return fmt.Sprintf("%s:%d: ", source, line)
	case source != "":
		return source + ": "
	case line > 0:
		return fmt.Sprintf("line %d: ", line)
	}
	return ""
}

// cfgShort quotes s for a message, cut to 60 bytes.
func cfgShort(s string) string {
	if len(s) > 60 {
		return strconv.Quote(s[:60]) + "..."
	}
	return strconv.Quote(s)
}

// Notices returns one line per unknown parameter (kept, not applied) followed
// by the warnings, for logs and the TUI. Nil when the file was clean.
func (c *Config) Notices() []string {
	var out []string
	for _, p := range c.Unknown {
		out = append(out, fmt.Sprintf("%sunknown parameter %q kept, not applied (value %s)", cfgWhere(c.Source, p.Line), p.Name, cfgShort(p.Value)))
	}
	return append(out, c.Warnings...)
}

// Validate checks that the configuration can run on model m and returns every
// problem found, joined. Errors name the parameter and the bad value:
//
//	phones: 1001.cfg: 7434 has a fixed recording port 7300, config sets "sip recording port" 5070
//
// Port rules (spec §3.2, design "Phone models and port rules"):
//   - 442x/743x/744x record on the fixed port 7300 with a separate SIP stack;
//     "sip local port" is their PBX-side port and may be anything but 7300,
//     and "sip recording port", if given, must be 7300.
//   - 6700/6800/6900 record on "sip local port" (default 5060); "sip
//     recording port", if given, must equal it.
//
// "sip line1 user name" and "sip line1 registrar ip" are required; a caller
// that defaults the registrar to the lab's PBX sets Registrar before calling
// Validate. An xml softkey needs an http or https URL as its value, and only
// an xml softkey may carry a body.
func (c *Config) Validate(m Model) error {
	where := cfgWhere(c.Source, 0)
	if known, err := LookupModel(m.Name); err != nil || known != m {
		return fmt.Errorf("phones: %sno phone model to validate against (got %q)", where, m.Name)
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("phones: "+where+format, args...))
	}

	if c.User == "" {
		bad("parameter %q is required (the extension)", cfgUser)
	} else if !cfgDigits(c.User) {
		bad("parameter %q: bad value %s: want digits (an extension)", cfgUser, cfgShort(c.User))
	}
	switch {
	case !c.Registrar.IsValid() || c.Registrar.IsUnspecified():
		bad("parameter %q is required (the PBX address)", cfgRegistrarIP)
	case !c.Registrar.Is4():
		bad("parameter %q: bad value %q: want an IPv4 address", cfgRegistrarIP, c.Registrar)
	}
	if c.Proxy.IsValid() && !c.Proxy.Is4() {
		bad("parameter %q: bad value %q: want an IPv4 address", cfgProxyIP, c.Proxy)
	}
	for _, p := range []struct {
		name string
		port int
	}{{cfgProxyPort, c.ProxyPort}, {cfgRegistrarPort, c.RegistrarPort}, {cfgLocalPort, c.LocalPort}, {cfgRecordingPort, c.RecordingPortParam}} {
		if p.port < 0 || p.port > 65535 {
			bad("parameter %q: bad value %d: want a port 1-65535", p.name, p.port)
		}
	}
	if c.RegistrationPeriod < 0 {
		bad("parameter %q: bad value %d: want a number of seconds 0-2147483647", cfgRegistrationPeriod, c.RegistrationPeriod)
	}
	if c.SRTPMode < 0 || c.SRTPMode > 2 {
		bad("parameter %q: bad value %d: want 0 (off), 1 (SRTP preferred) or 2 (SRTP only)", cfgSRTPMode, c.SRTPMode)
	}
	if _, err := media.ParseCryptoSuite(c.SRTPSuite); err != nil {
		bad("parameter %q: bad value %q: want one of %s", cfgSRTPSuite, c.SRTPSuite, strings.Join(media.CryptoSuites(), ", "))
	}
	for _, a := range c.RecordingAllowed {
		if !a.Is4() {
			bad("parameter %q: bad value %q: want IPv4 addresses", cfgRecordingAllowed, a)
		}
	}

	if fixed, ok := m.FixedRecordingPort(); ok {
		// Spec §3.2: "The port number is fixed." Nothing may move it, and the
		// PBX-side stack cannot share it with the recording stack.
		if c.RecordingPortParam != 0 && c.RecordingPortParam != fixed {
			bad("%s has a fixed recording port %d, config sets %q %d", m.Name, fixed, cfgRecordingPort, c.RecordingPortParam)
		}
		if c.LocalPort == fixed {
			bad("%s keeps port %d for its recording SIP stack, config sets %q %d too", m.Name, fixed, cfgLocalPort, c.LocalPort)
		}
	} else if c.RecordingPortParam != 0 && c.RecordingPortParam != c.SIPPort(m) {
		// Spec §3.2: on the 6700 the port is set "via the configuration file";
		// it is the one SIP stack's port, so a second value can only disagree.
		bad("%s records on its %q %d, config sets %q %d", m.Name, cfgLocalPort, c.SIPPort(m), cfgRecordingPort, c.RecordingPortParam)
	}

	for _, k := range c.Softkeys {
		name := fmt.Sprintf("softkey%d", k.Index)
		if k.Index < 1 {
			bad("softkey index %d: want 1 or more", k.Index)
		}
		isXML := strings.EqualFold(k.Type, "xml")
		if isXML {
			u, err := url.Parse(k.Value)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("parameter %q: bad value %s: an xml softkey needs an http or https URL", name+" value", cfgShort(k.Value))
			}
		}
		if !isXML && (k.Body != "" || k.ContentType != "") {
			bad("%s has a body or content type but type %q: only an xml softkey sends one", name, k.Type)
		}
	}
	return errors.Join(errs...)
}

// RecordingPort returns the port the phone's recording SIP stack listens on:
// 7300 on the fixed-port models (spec §3.2), otherwise the SIP port, which is
// "sip local port" or 5060.
func (c *Config) RecordingPort(m Model) int {
	if port, fixed := m.FixedRecordingPort(); fixed {
		return port
	}
	return c.SIPPort(m)
}

// SIPPort returns the phone's PBX-side SIP port, "sip local port" or 5060, for
// every model. On the 6700/6800/6900 it is also RecordingPort.
func (c *Config) SIPPort(m Model) int {
	if c.LocalPort != 0 {
		return c.LocalPort
	}
	return DefaultSIPPort
}

// RegistrarAddrPort returns where REGISTER goes: Registrar, at RegistrarPort
// or 5060. It is invalid when no registrar is set.
func (c *Config) RegistrarAddrPort() netip.AddrPort {
	if !c.Registrar.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(c.Registrar, cfgPortOr(c.RegistrarPort, DefaultSIPPort))
}

// ProxyAddrPort returns where calls go: Proxy at ProxyPort or 5060 when a
// proxy is set (and not 0.0.0.0), otherwise RegistrarAddrPort.
func (c *Config) ProxyAddrPort() netip.AddrPort {
	if c.Proxy.IsValid() && !c.Proxy.IsUnspecified() {
		return netip.AddrPortFrom(c.Proxy, cfgPortOr(c.ProxyPort, DefaultSIPPort))
	}
	return c.RegistrarAddrPort()
}

func cfgPortOr(port, def int) uint16 {
	if port < 1 || port > 65535 {
		return uint16(def)
	}
	return uint16(port)
}

// RecordKey returns the record key of spec §3.3: the first softkey of type
// xml (any case) that speaks of recording or saving — "record" or "save" in
// its label or URL, or a label word "rec" — else the first xml softkey at
// all. false when there is no xml softkey.
func (c *Config) RecordKey() (Softkey, bool) {
	first := -1
	for i, k := range c.Softkeys {
		if !strings.EqualFold(k.Type, "xml") {
			continue
		}
		label, value := strings.ToLower(k.Label), strings.ToLower(k.Value)
		words := strings.FieldsFunc(label, func(r rune) bool { return r < 'a' || r > 'z' })
		if strings.Contains(label, "record") || strings.Contains(value, "record") ||
			strings.Contains(label, "save") || strings.Contains(value, "save") ||
			slices.Contains(words, "rec") {
			return k, true
		}
		if first < 0 {
			first = i
		}
	}
	if first < 0 {
		return Softkey{}, false
	}
	return c.Softkeys[first], true
}

// Format writes the configuration back in the text form, in a fixed order:
// line-1 account, ports, recording, identity, softkeys by index, then the
// unknown parameters in their order. Comments and blank lines are not kept;
// ParseConfig of the result gives back the same parameters.
func (c *Config) Format() []byte {
	var b bytes.Buffer
	put := func(name, value string) {
		b.WriteString(name)
		b.WriteByte(':')
		if v := cfgQuoteValue(value); v != "" {
			b.WriteByte(' ')
			b.WriteString(v)
		}
		b.WriteByte('\n')
	}
	putString := func(name, value string) {
		if value != "" {
			put(name, value)
		}
	}
	putInt := func(name string, n int) {
		if n != 0 {
			put(name, strconv.Itoa(n))
		}
	}
	putAddr := func(name string, a netip.Addr) {
		if a.IsValid() {
			put(name, a.String())
		}
	}

	putString(cfgUser, c.User)
	putString(cfgDisplayName, c.DisplayName)
	putString(cfgAuthName, c.AuthName)
	putString(cfgPassword, c.Password)
	putAddr(cfgProxyIP, c.Proxy)
	putInt(cfgProxyPort, c.ProxyPort)
	putAddr(cfgRegistrarIP, c.Registrar)
	putInt(cfgRegistrarPort, c.RegistrarPort)
	putInt(cfgLocalPort, c.LocalPort)
	putInt(cfgRecordingPort, c.RecordingPortParam)
	putInt(cfgRegistrationPeriod, c.RegistrationPeriod)
	if len(c.RecordingAllowed) > 0 {
		addrs := make([]string, len(c.RecordingAllowed))
		for i, a := range c.RecordingAllowed {
			addrs[i] = a.String()
		}
		put(cfgRecordingAllowed, strings.Join(addrs, ", "))
	}
	putString(cfgMAC, c.MAC)
	putString(cfgFirmware, c.Firmware)
	putInt(cfgSRTPMode, c.SRTPMode)
	putString(cfgSRTPSuite, c.SRTPSuite)
	for _, k := range c.Softkeys {
		prefix := fmt.Sprintf("softkey%d ", k.Index)
		n := b.Len()
		putString(prefix+"type", k.Type)
		putString(prefix+"label", k.Label)
		putString(prefix+"value", k.Value)
		putString(prefix+"states", k.States)
		putString(prefix+"body", k.Body)
		putString(prefix+"content type", k.ContentType)
		if b.Len() == n {
			put(prefix+"type", "") // keep an all-empty key so it reads back
		}
	}
	for _, p := range c.Unknown {
		put(p.Name, p.Value)
	}
	return b.Bytes()
}
