package recorder

import (
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/reclab/reclab/sim"
)

// The record key's endpoint (spec §3.3: "the telephone sends a http/https
// request"). The recorder serves HTTP/1.1 on Config.HTTPPort and, with a
// certificate, HTTPS on Config.HTTPSPort, both from its sim node, so every
// byte is traced. parseKeyRequest and keyAnswer are the pure wire parts;
// the handler reads the body, asks the loop (decideKeyPress) and answers.
//
// Accepted requests, path KeyPath:
//
//	GET  /record?page=START&OPN=1001         OPN (or ext) names the extension;
//	                                          page, optional: START, SAVE, RECORD or KEEP
//	POST /record  text/xml                    <AnyRoot><Extension>1001</Extension>…</AnyRoot>
//	POST /record  text/xml + SOAPAction       SOAP 1.1 Envelope, Body's first element is the
//	                                          operation, its Extension child names the extension

// KeyPath is the path of the record-key endpoint.
const KeyPath = "/record"

// MaxKeyBody bounds a record-key request body; a bigger one gets 413.
const MaxKeyBody = 64 << 10

// Namespaces of SOAP 1.1 and 1.2 envelopes.
const (
	soap11NS = "http://schemas.xmlsoap.org/soap/envelope/"
	soap12NS = "http://www.w3.org/2003/05/soap-envelope"
)

// maxExtLen bounds an extension named in a request.
const maxExtLen = 32

// KeyPress is a record-key request as the recorder understood it.
type KeyPress struct {
	Ext  string   // the extension whose call it is about
	Page string   // GET: the page parameter, upper case; "" when absent
	Form string   // "GET", "XML" or "SOAP", for the trace
	SOAP bool     // a SOAP 1.1 envelope: the answer is one too
	Op   xml.Name // SOAP: the operation, the Body's first element
}

// keyError is a request refused before the policy sees it.
type keyError struct {
	status int
	reason string
}

func (e *keyError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, http.StatusText(e.status), e.reason)
}

func badKey(status int, format string, args ...any) *keyError {
	return &keyError{status: status, reason: fmt.Sprintf(format, args...)}
}

// parseKeyRequest reads a record-key request: method, URL, headers and the
// whole body (the driver has bounded it). On error press still tells
// whether the body was SOAP, so the refusal can be a SOAP fault.
func parseKeyRequest(method string, u *url.URL, header http.Header, body []byte) (press KeyPress, err *keyError) {
	if u.Path != KeyPath {
		return press, badKey(http.StatusNotFound, "no endpoint %q: the record key's endpoint is %s", u.Path, KeyPath)
	}
	switch method {
	case http.MethodGet:
		return parseKeyQuery(u.Query())
	case http.MethodPost:
	default:
		return press, badKey(http.StatusMethodNotAllowed, "method %s: want GET or POST", method)
	}
	ct := header.Get("Content-Type")
	mt, params, perr := mime.ParseMediaType(ct)
	switch {
	case ct == "":
		return press, badKey(http.StatusUnsupportedMediaType, "POST without Content-Type: want text/xml")
	case perr != nil:
		return press, badKey(http.StatusUnsupportedMediaType, "Content-Type %q: %v", ct, perr)
	case mt != "text/xml" && mt != "application/xml":
		return press, badKey(http.StatusUnsupportedMediaType, "Content-Type %q: want text/xml (SOAP 1.1) or application/xml", mt)
	}
	if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return press, badKey(http.StatusUnsupportedMediaType, "charset %q: want utf-8", cs)
	}
	press, err = parseKeyXML(body)
	if err != nil || !press.SOAP {
		return press, err
	}
	// SOAP 1.1 §6.1.1: "An HTTP client MUST use this header field when
	// issuing a SOAP HTTP Request." Empty ("") is allowed; a value names
	// the operation.
	vals, ok := header["Soapaction"]
	if !ok || len(vals) == 0 {
		return press, badKey(http.StatusBadRequest, "SOAP request without a SOAPAction header (SOAP 1.1 §6.1.1)")
	}
	action := strings.TrimSpace(vals[0])
	if a, uerr := strconv.Unquote(action); uerr == nil {
		action = a
	}
	if action != "" && !strings.HasSuffix(action, press.Op.Local) {
		return press, badKey(http.StatusBadRequest, "SOAPAction %q does not name the operation <%s>", vals[0], press.Op.Local)
	}
	return press, nil
}

// parseKeyQuery reads a GET: OPN or ext names the extension (Mitel's
// $$SIPUSERNAME$$), page says what the key is for.
func parseKeyQuery(q url.Values) (KeyPress, *keyError) {
	press := KeyPress{Form: "GET"}
	for k, v := range q {
		switch {
		case strings.EqualFold(k, "OPN"), strings.EqualFold(k, "ext"):
			if press.Ext == "" && len(v) > 0 {
				press.Ext = strings.TrimSpace(v[0])
			}
		case strings.EqualFold(k, "page"):
			if len(v) > 0 {
				press.Page = strings.ToUpper(strings.TrimSpace(v[0]))
			}
		}
	}
	switch press.Page {
	case "", "START", "SAVE", "RECORD", "KEEP":
	default:
		return press, badKey(http.StatusBadRequest, "page=%q: want START, SAVE, RECORD or KEEP", press.Page)
	}
	if err := checkExt(press.Ext, "query parameter OPN (or ext)"); err != nil {
		return press, err
	}
	return press, nil
}

func checkExt(ext, where string) *keyError {
	switch {
	case ext == "":
		return badKey(http.StatusBadRequest, "no extension: %s is missing or empty", where)
	case len(ext) > maxExtLen:
		return badKey(http.StatusBadRequest, "%s: %d characters is too long for an extension", where, len(ext))
	case strings.IndexFunc(ext, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return badKey(http.StatusBadRequest, "%s %q is not an extension", where, ext)
	}
	return nil
}

// parseKeyXML reads a POST body: a SOAP 1.1 envelope whose Body's first
// element is the operation, or any other document element; either way its
// child Extension (or OPN) names the extension.
func parseKeyXML(body []byte) (KeyPress, *keyError) {
	press := KeyPress{Form: "XML"}
	if len(bytes.TrimSpace(body)) == 0 {
		return press, badKey(http.StatusBadRequest, "empty body: want an XML or SOAP 1.1 request")
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	var (
		depth, reqDepth    int // reqDepth: the element holding Extension
		root               xml.Name
		sawBody, inBody    bool
		capturing, haveExt bool
		ext                strings.Builder
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return press, badKey(http.StatusBadRequest, "body is not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && root.Local != "":
				return press, badKey(http.StatusBadRequest, "body has a second document element <%s>", t.Name.Local)
			case depth == 1:
				root = t.Name
				switch {
				case t.Name.Local == "Envelope" && t.Name.Space == soap11NS:
					press.SOAP, press.Form = true, "SOAP"
				case t.Name.Local == "Envelope" && t.Name.Space == soap12NS:
					return press, badKey(http.StatusBadRequest, "a SOAP 1.2 envelope: this recorder speaks SOAP 1.1")
				default:
					reqDepth = 1
				}
			case press.SOAP && depth == 2 && t.Name.Space == soap11NS && t.Name.Local == "Body":
				sawBody, inBody = true, true
			case press.SOAP && depth == 3 && inBody && reqDepth == 0:
				press.Op, reqDepth = t.Name, 3
			case reqDepth > 0 && depth == reqDepth+1 && !haveExt && (t.Name.Local == "Extension" || t.Name.Local == "OPN"):
				capturing = true
			}
		case xml.CharData:
			if capturing {
				ext.Write(t)
			}
		case xml.EndElement:
			if capturing && depth == reqDepth+1 {
				capturing, haveExt = false, true
			}
			if press.SOAP && depth == 2 {
				inBody = false
			}
			depth--
		}
	}
	switch {
	case root.Local == "":
		return press, badKey(http.StatusBadRequest, "no XML element in the body")
	case press.SOAP && !sawBody:
		return press, badKey(http.StatusBadRequest, "SOAP Envelope has no Body")
	case press.SOAP && press.Op.Local == "":
		return press, badKey(http.StatusBadRequest, "SOAP Body is empty: want an operation element with an Extension")
	case !haveExt:
		in := root.Local
		if press.SOAP {
			in = press.Op.Local
		}
		return press, badKey(http.StatusBadRequest, "no Extension element in <%s>", in)
	}
	press.Ext = strings.TrimSpace(ext.String())
	if err := checkExt(press.Ext, "element Extension"); err != nil {
		return press, err
	}
	return press, nil
}

// keyAnswer is the answer's body: for a SOAP request a SOAP 1.1 envelope
// (<OpResponse> in the operation's namespace, or a Fault: Client for 4xx,
// Server for 5xx), otherwise a Mitel AastraIPPhoneTextScreen the phone can
// show. The HTTP status says the outcome in both cases; SOAP 1.1 §6.2 would
// send faults as 500, we keep the specific status (documented in
// docs/wire.md) so a phone shows the same thing either way.
func keyAnswer(press KeyPress, status int, result KeyResult, text string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	esc := func(s string) { xml.EscapeText(&b, []byte(s)) }
	if !press.SOAP {
		b.WriteString("<AastraIPPhoneTextScreen destroyOnExit=\"yes\">\n<Title>Record</Title>\n<Text>")
		esc(text)
		b.WriteString("</Text>\n</AastraIPPhoneTextScreen>\n")
		return b.Bytes()
	}
	b.WriteString(`<soap:Envelope xmlns:soap="` + soap11NS + `"><soap:Body>`)
	if status >= 400 {
		code := "soap:Client"
		if status >= 500 {
			code = "soap:Server"
		}
		b.WriteString("<soap:Fault><faultcode>" + code + "</faultcode><faultstring>")
		esc(text)
		b.WriteString("</faultstring></soap:Fault>")
	} else {
		// Op comes from a parsed element name, so it is a valid name.
		b.WriteString("<" + press.Op.Local + "Response")
		if press.Op.Space != "" {
			b.WriteString(` xmlns="`)
			esc(press.Op.Space)
			b.WriteString(`"`)
		}
		b.WriteString("><Result>" + result.String() + "</Result><Extension>")
		esc(press.Ext)
		b.WriteString("</Extension><Text>")
		esc(text)
		b.WriteString("</Text></" + press.Op.Local + "Response>")
	}
	b.WriteString("</soap:Body></soap:Envelope>\n")
	return b.Bytes()
}

// keyServers are the running endpoints, closed by stopHTTP.
type keyServers struct {
	servers []*http.Server
}

// startHTTP binds the record key's endpoints on the node and serves them:
// HTTP always, HTTPS when Config.TLS has a certificate.
func (r *Recorder) startHTTP() error {
	type endpoint struct {
		scheme string
		port   uint16
	}
	eps := []endpoint{{"http", r.cfg.HTTPPort}}
	if r.cfg.TLS != nil {
		eps = append(eps, endpoint{"https", r.cfg.HTTPSPort})
	}
	var urls []string
	for _, ep := range eps {
		l, err := r.node.Listen(ep.port, sim.ProtoHTTP)
		if err != nil {
			r.stopHTTP()
			return fmt.Errorf("recorder: record key endpoint: %w", err)
		}
		srv := &http.Server{
			Handler:           r.keyHandler(ep.scheme),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          log.New(traceLog{r: r, scheme: ep.scheme}, "", 0),
			// HTTP/1.1 only, as the phones speak it.
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		}
		go func() {
			var err error
			if ep.scheme == "https" {
				conf := r.cfg.TLS.Clone()
				conf.NextProtos = []string{"http/1.1"}
				err = srv.Serve(tls.NewListener(l, conf))
			} else {
				err = srv.Serve(l)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.net.Errorf(r.node.Name(), netip.AddrPort{}, "record key endpoint %s: %v", ep.scheme, err)
			}
		}()
		r.onDemand.http.servers = append(r.onDemand.http.servers, srv)
		urls = append(urls, fmt.Sprintf("%s://%s%s", ep.scheme, r.node.AddrPort(ep.port), KeyPath))
	}
	r.node.Note("record key endpoint %s, record on demand %s", strings.Join(urls, " and "), r.cfg.OnDemand)
	return nil
}

// stopHTTP closes the endpoints: listeners and open connections.
func (r *Recorder) stopHTTP() {
	for _, srv := range r.onDemand.http.servers {
		srv.Close()
	}
	r.onDemand.http.servers = nil
}

// traceLog turns net/http's server log (TLS handshake errors, bad requests
// it answers itself) into errors in the trace.
type traceLog struct {
	r      *Recorder
	scheme string
}

func (t traceLog) Write(b []byte) (int, error) {
	t.r.net.Errorf(t.r.node.Name(), netip.AddrPort{}, "record key endpoint %s: %s", t.scheme, strings.TrimSpace(string(b)))
	return len(b), nil
}

// keyHandler serves one endpoint: read the body within MaxKeyBody, parse,
// ask the loop, answer.
func (r *Recorder) keyHandler(scheme string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		src, _ := netip.ParseAddrPort(req.RemoteAddr)
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		var press KeyPress
		// answer writes the answer and traces it: a malformed request
		// (bad is true) as an error, a policy answer as a note.
		answer := func(status int, result KeyResult, text string, bad bool) {
			body := keyAnswer(press, status, result, text)
			h := w.Header()
			h.Set("Content-Type", "text/xml; charset=utf-8")
			h.Set("Content-Length", strconv.Itoa(len(body)))
			if status == http.StatusMethodNotAllowed {
				h.Set("Allow", "GET, POST")
			}
			w.WriteHeader(status)
			w.Write(body)
			form := press.Form
			if form == "" {
				form = req.Method
			}
			msg := fmt.Sprintf("record key %s %s (%s): %d %s: %s", scheme, form, strings.TrimSpace(req.UserAgent()), status, http.StatusText(status), text)
			r.node.Publish(RecordKeyServed{From: src, Scheme: scheme, Form: form, Ext: press.Ext, Status: status, Cause: text})
			if bad {
				r.net.Errorf(r.node.Name(), src, "%s", msg)
			} else {
				r.node.Note("from %s: %s", src, msg)
			}
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxKeyBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				answer(http.StatusRequestEntityTooLarge, KeyRefused, fmt.Sprintf("body larger than %d bytes", MaxKeyBody), true)
				return
			}
			answer(http.StatusBadRequest, KeyRefused, fmt.Sprintf("reading the body: %v", err), true)
			return
		}
		p, kerr := parseKeyRequest(req.Method, req.URL, req.Header, body)
		press = p
		if kerr != nil {
			answer(kerr.status, KeyRefused, kerr.reason, true)
			return
		}
		ev := keyPressEvent{press: press, source: src, reply: make(chan keyVerdict, 1)}
		r.post(ev)
		select {
		case v := <-ev.reply:
			answer(v.status, v.result, v.text, false)
		case <-r.loopDone:
			answer(http.StatusServiceUnavailable, KeyRefused, "the recorder is shutting down", false)
		case <-req.Context().Done():
		}
	})
}
