package phones

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reclab/reclab/sim"
)

// The record key (spec §3.3): "When the predefined recording key on the
// terminal is pressed, a request message based on https/XML/SOAP or http is
// sent to the recording server. The data to be included in this request is
// defined in the configuration file for the telephone." The key is an xml
// softkey (Config.RecordKey); its value is the URL and, where the file gives
// a body template, the phone POSTs that body instead of a GET.
//
// BuildRecordKeyRequest is the pure part: variables in, request out. The
// driver, PressRecordKey, sends it through the phone's sim node.

// Mitel's URL variables (Mitel XML API, "URL Variables"); a variable that
// has no meaning in the phone's state is sent empty.
const (
	varSIPUserName   = "SIPUSERNAME"
	varDisplayName   = "DISPLAYNAME"
	varRemoteNumber  = "REMOTENUMBER"
	varCallDirection = "CALLDIRECTION"
	varLineState     = "LINESTATE"
	varLocalIP       = "LOCALIP"
	varCallDuration  = "CALLDURATION"
)

// SOAP 1.1 (W3C note, §4.1.2 and §6.1.1).
const (
	soapEnvelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"
	xmlContentType = "text/xml; charset=utf-8"
)

// recordKeyAnswerLimit bounds what the phone reads of an answer; the
// recorder's answers are a few hundred bytes.
const recordKeyAnswerLimit = 64 << 10

// recordKeyTimeout bounds one press when the caller's context does not.
const recordKeyTimeout = 10 * time.Second

// RecordKeyVars are the values of Mitel's variables at the moment of the
// press; "" where one does not apply (no call: no remote number).
type RecordKeyVars struct {
	SIPUserName   string // the line's user name: the extension
	DisplayName   string // the line's display name
	RemoteNumber  string // the other party of the current call
	CallDirection string // "Incoming" or "Outgoing"
	LineState     string // IDLE, CALLING, INCOMING, CONNECTED
	LocalIP       string // the phone's address
	CallDuration  string // seconds since the call connected
}

func (v RecordKeyVars) lookup(name string) (string, bool) {
	switch name {
	case varSIPUserName:
		return v.SIPUserName, true
	case varDisplayName:
		return v.DisplayName, true
	case varRemoteNumber:
		return v.RemoteNumber, true
	case varCallDirection:
		return v.CallDirection, true
	case varLineState:
		return v.LineState, true
	case varLocalIP:
		return v.LocalIP, true
	case varCallDuration:
		return v.CallDuration, true
	}
	return "", false
}

// RecordKeyRequest is what one press sends.
type RecordKeyRequest struct {
	Method      string // GET, or POST when the key has a body template
	URL         string // variables substituted, URL-escaped
	Body        []byte // POST: the template, variables substituted, XML-escaped
	ContentType string // POST: the key's content type, default text/xml; charset=utf-8
	SOAPAction  string // POST of a SOAP 1.1 envelope: the quoted action, else ""
}

// BuildRecordKeyRequest substitutes vars into key's URL and body template.
// Values are escaped for where they land: URL-escaped in the URL (so a
// display name with a space or '&' stays one parameter), XML-escaped in the
// body. A $$NAME$$ that is not one of Mitel's variables above is left as
// written, so a typo reaches the recorder visibly rather than as "".
// A body that is a SOAP 1.1 envelope gets SOAPAction "<ns>#<operation>"
// from the first element in its Body (SOAP 1.1 §6.1.1: the header is
// required). The body is not checked further: the recorder judges it.
func BuildRecordKeyRequest(key Softkey, vars RecordKeyVars) (RecordKeyRequest, error) {
	name := fmt.Sprintf("softkey%d", key.Index)
	if !strings.EqualFold(key.Type, "xml") {
		return RecordKeyRequest{}, fmt.Errorf("phones: %s is of type %q, not xml: it is not a record key", name, key.Type)
	}
	raw := substitute(key.Value, vars, urlValueEscape)
	u, err := url.Parse(raw)
	if err != nil {
		return RecordKeyRequest{}, fmt.Errorf("phones: %s value %q: %w", name, key.Value, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return RecordKeyRequest{}, fmt.Errorf("phones: %s value %q: want an http:// or https:// URL", name, key.Value)
	}
	req := RecordKeyRequest{Method: key.HTTPMethod(), URL: u.String()}
	if req.Method == http.MethodGet {
		return req, nil
	}
	req.Body = []byte(substitute(key.Body, vars, xmlEscape))
	req.ContentType = key.ContentType
	if req.ContentType == "" {
		req.ContentType = xmlContentType
	}
	if ns, op, ok := soapOperation(req.Body); ok {
		action := op
		if ns != "" {
			action = ns + "#" + op
		}
		req.SOAPAction = strconv.Quote(action)
	}
	return req, nil
}

// substitute replaces each $$NAME$$ of Mitel's variables with its value,
// escaped.
func substitute(tmpl string, vars RecordKeyVars, escape func(string) string) string {
	var b strings.Builder
	for {
		i := strings.Index(tmpl, "$$")
		if i < 0 {
			break
		}
		j := strings.Index(tmpl[i+2:], "$$")
		if j < 0 {
			break
		}
		name := tmpl[i+2 : i+2+j]
		v, ok := vars.lookup(name)
		if !ok {
			// Not ours: keep the first "$$" and look again after it, so
			// "$$$$SIPUSERNAME$$" still finds the variable.
			b.WriteString(tmpl[:i+2])
			tmpl = tmpl[i+2:]
			continue
		}
		b.WriteString(tmpl[:i])
		b.WriteString(escape(v))
		tmpl = tmpl[i+2+j+2:]
	}
	b.WriteString(tmpl)
	return b.String()
}

// urlValueEscape escapes a value for any part of a URL: %20 for a space,
// which means a space in a path and in a query alike.
func urlValueEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// soapOperation finds the first element inside a SOAP 1.1 Envelope's Body:
// its namespace and local name. false when body is not a SOAP 1.1 envelope
// (or not XML at all).
func soapOperation(body []byte) (ns, op string, ok bool) {
	d := xml.NewDecoder(bytes.NewReader(body))
	depth := 0
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			return "", "", false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && (t.Name.Space != soapEnvelopeNS || t.Name.Local != "Envelope"):
				return "", "", false
			case depth == 2 && t.Name.Space == soapEnvelopeNS && t.Name.Local == "Body":
				inBody = true
			case depth == 3 && inBody:
				return t.Name.Space, t.Name.Local, true
			}
		case xml.EndElement:
			depth--
			if depth == 1 {
				inBody = false
			}
		}
	}
}

// lineState is $$LINESTATE$$ for a call state (Mitel XML API, LINESTATE
// values).
func lineState(s CallState) string {
	switch s {
	case CallDialing:
		return "CALLING"
	case CallRinging:
		return "INCOMING"
	case CallTalking:
		return "CONNECTED"
	}
	return "IDLE"
}

// recordKeyVars reads the phone's state for the variables.
func (p *Phone) recordKeyVarsOnLoop() RecordKeyVars {
	v := RecordKeyVars{
		SIPUserName: p.ext,
		DisplayName: p.cfg.DisplayName,
		LocalIP:     p.node.Addr().String(),
		LineState:   lineState(CallIdle),
	}
	now := p.node.Network().Now()
	c := &p.call
	if c.State() == CallIdle {
		return v
	}
	v.RemoteNumber = c.Remote()
	v.LineState = lineState(c.State())
	v.CallDirection = "Outgoing"
	if c.Incoming() {
		v.CallDirection = "Incoming"
	}
	if c.State() == CallTalking {
		v.CallDuration = strconv.Itoa(int((now - c.TalkingAt()) / time.Second))
	}
	return v
}

// PressRecordKey presses the record key (spec §3.3): it sends the key's
// request to the recorder through the phone's node, so the exchange (and
// for https the TLS handshake) is traced, and returns the answer's status
// and body. It sends whether or not a call is up: the recorder decides,
// and the phone shows what it answered (a note in the trace). An https
// server whose certificate the phone does not trust (Options.TLS) fails
// the press with the verification error; there is no fallback to http.
func (p *Phone) PressRecordKey(ctx context.Context) (status int, body string, err error) {
	var key Softkey
	var vars RecordKeyVars
	var source string
	powered, ok := false, false
	p.do(func() {
		powered = p.pw != nil
		key, ok = p.cfg.RecordKey()
		source = p.cfg.Source
		vars = p.recordKeyVarsOnLoop()
	})
	if !powered {
		return 0, "", p.errorf("is powered off")
	}
	if !ok {
		return 0, "", p.errorf("has no record key (no softkey of type xml in %s)", source)
	}
	req, err := BuildRecordKeyRequest(key, vars)
	if err != nil {
		return 0, "", p.errorf("record key: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = sim.WithTimeout(ctx, p.node.Clock(), recordKeyTimeout)
		defer cancel()
	}
	what := req.Method + " " + req.URL
	if req.SOAPAction != "" {
		what += " (SOAP " + req.SOAPAction + ")"
	}
	p.node.Note("record key pressed: %s", what)

	var reqBody io.Reader
	if req.Method == http.MethodPost {
		reqBody = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, req.URL, reqBody)
	if err != nil {
		return 0, "", p.errorf("record key: %w", err)
	}
	hreq.Header.Set("User-Agent", p.UserAgent())
	hreq.Header.Set("Accept", "text/xml, application/xml")
	if req.Method == http.MethodPost {
		hreq.Header.Set("Content-Type", req.ContentType)
		if req.SOAPAction != "" {
			// Set as written: SOAP 1.1 §6.1.1 spells it SOAPAction.
			hreq.Header["SOAPAction"] = []string{req.SOAPAction}
		}
	}
	res, err := p.recordKeyClient().Do(hreq)
	if err != nil {
		p.problem(recordKeyAddr(hreq.URL), "record key %s failed: %v", what, err)
		p.node.Note("record key: failed, no answer to show")
		p.node.Publish(RecordKeyAnswered{Phone: p.Name(), Ext: p.ext, Method: req.Method, URL: req.URL, SOAPAction: req.SOAPAction})
		return 0, "", p.errorf("record key %s: %w", what, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, recordKeyAnswerLimit))
	if err != nil {
		return res.StatusCode, string(b), p.errorf("record key %s: reading the answer: %w", what, err)
	}
	p.node.Note("record key: recorder answered %s: %q", res.Status, RecordKeyDisplay(b))
	p.node.Publish(RecordKeyAnswered{Phone: p.Name(), Ext: p.ext, Method: req.Method, URL: req.URL, SOAPAction: req.SOAPAction, Status: res.StatusCode, Display: RecordKeyDisplay(b)})
	return res.StatusCode, string(b), nil
}

// recordKeyClient is a one-shot HTTP/1.1 client whose connections come from
// the phone's node (traced) and whose TLS trusts Options.TLS's roots. Each
// press opens its own connection, as the phones do, so each https press
// shows a whole handshake in the pcap.
func (p *Phone) recordKeyClient() *http.Client {
	var conf *tls.Config
	if p.opts.TLS != nil {
		conf = p.opts.TLS.Clone()
	} else {
		conf = &tls.Config{} // the system's roots: the lab's CA is not among them
	}
	conf.NextProtos = []string{"http/1.1"}
	tr := &http.Transport{
		DialContext:       p.dialRecordKey,
		TLSClientConfig:   conf,
		DisableKeepAlives: true,
		// No Accept-Encoding: gzip; a phone asks for the XML as it is.
		DisableCompression: true,
		// A non-nil empty map keeps HTTP/2 off: the phones speak HTTP/1.1.
		TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{},
		TLSHandshakeTimeout:    recordKeyTimeout,
		ResponseHeaderTimeout:  recordKeyTimeout,
		MaxResponseHeaderBytes: recordKeyAnswerLimit,
	}
	return &http.Client{
		Transport: tr,
		// A redirect would leave the configured recorder; the phone shows
		// the 3xx instead of following it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// dialRecordKey is the Transport's dialler: a traced TCP connection from the
// phone's node. The lab has no DNS, so the URL must name an IP address.
func (p *Phone) dialRecordKey(_ context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("record key URL host %q is not an IP address and port (the lab has no DNS)", addr)
	}
	if network != "tcp" && network != "tcp4" {
		return nil, fmt.Errorf("record key: network %q is not TCP", network)
	}
	return p.node.Dial(ap)
}

// recordKeyAddr is where a record-key URL points, for the trace; invalid
// when the host is not an IP address.
func recordKeyAddr(u *url.URL) netip.AddrPort {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	ap, _ := netip.ParseAddrPort(net.JoinHostPort(u.Hostname(), port))
	return ap
}

// RecordKeyDisplay is what the phone's screen shows of a recorder's answer:
// the text of the first Text, Prompt or faultstring element (Mitel's
// AastraIPPhoneTextScreen, a SOAP fault), else the body's first line.
func RecordKeyDisplay(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	want := ""
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "Text", "Prompt", "faultstring":
				want = t.Name.Local
			}
		case xml.CharData:
			if want != "" {
				if s := strings.TrimSpace(string(t)); s != "" {
					return s
				}
			}
		case xml.EndElement:
			want = ""
		}
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if len(line) > 120 {
		line = line[:120]
	}
	return line
}
