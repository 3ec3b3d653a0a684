package recorder

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/reclab/reclab/sim"
)

const testSOAP = `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/><soap:Body><Record xmlns="urn:reclab:recorder"><Extension> 1001 </Extension></Record></soap:Body></soap:Envelope>`

func TestParseKeyRequest(t *testing.T) {
	xmlCT := http.Header{"Content-Type": {"text/xml; charset=utf-8"}}
	soapCT := http.Header{"Content-Type": {"text/xml; charset=utf-8"}, "Soapaction": {`"urn:reclab:recorder#Record"`}}
	tests := []struct {
		name       string
		method     string
		url        string
		header     http.Header
		body       string
		want       KeyPress
		wantStatus int
		wantReason string
	}{
		{name: "GET OPN", method: "GET", url: "/record?page=START&OPN=1001",
			want: KeyPress{Ext: "1001", Page: "START", Form: "GET"}},
		{name: "GET ext, page in any case", method: "GET", url: "/record?ext=1002&page=save",
			want: KeyPress{Ext: "1002", Page: "SAVE", Form: "GET"}},
		{name: "GET no page", method: "GET", url: "/record?opn=1001", want: KeyPress{Ext: "1001", Form: "GET"}},
		{name: "GET empty extension", method: "GET", url: "/record?page=START&OPN=", wantStatus: 400, wantReason: "no extension: query parameter OPN (or ext) is missing or empty"},
		{name: "GET unknown page", method: "GET", url: "/record?page=DELETE&OPN=1001", wantStatus: 400, wantReason: `page="DELETE"`},
		{name: "GET extension with a space", method: "GET", url: "/record?OPN=10%2001", wantStatus: 400, wantReason: "is not an extension"},
		{name: "wrong path", method: "GET", url: "/start?OPN=1001", wantStatus: 404, wantReason: `no endpoint "/start"`},
		{name: "PUT", method: "PUT", url: "/record", wantStatus: 405, wantReason: "method PUT"},
		{name: "POST plain XML", method: "POST", url: "/record", header: xmlCT, body: "<RecordRequest><Extension>1001</Extension><Remote>1002</Remote></RecordRequest>",
			want: KeyPress{Ext: "1001", Form: "XML"}},
		{name: "POST XML with OPN", method: "POST", url: "/record", header: http.Header{"Content-Type": {"application/xml"}}, body: "<r><OPN>1003</OPN></r>",
			want: KeyPress{Ext: "1003", Form: "XML"}},
		{name: "POST SOAP", method: "POST", url: "/record", header: soapCT, body: testSOAP,
			want: KeyPress{Ext: "1001", Form: "SOAP", SOAP: true, Op: xml.Name{Space: "urn:reclab:recorder", Local: "Record"}}},
		{name: "POST SOAP with empty SOAPAction", method: "POST", url: "/record",
			header: http.Header{"Content-Type": {"text/xml"}, "Soapaction": {`""`}}, body: testSOAP,
			want: KeyPress{Ext: "1001", Form: "SOAP", SOAP: true, Op: xml.Name{Space: "urn:reclab:recorder", Local: "Record"}}},
		{name: "POST SOAP without SOAPAction", method: "POST", url: "/record", header: xmlCT, body: testSOAP,
			wantStatus: 400, wantReason: "without a SOAPAction header"},
		{name: "POST SOAP, SOAPAction names another operation", method: "POST", url: "/record",
			header: http.Header{"Content-Type": {"text/xml"}, "Soapaction": {`"urn:reclab:recorder#Delete"`}}, body: testSOAP,
			wantStatus: 400, wantReason: "does not name the operation <Record>"},
		{name: "POST SOAP 1.2", method: "POST", url: "/record", header: xmlCT,
			body:       `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><Record><Extension>1</Extension></Record></e:Body></e:Envelope>`,
			wantStatus: 400, wantReason: "SOAP 1.2"},
		{name: "POST SOAP without Body", method: "POST", url: "/record", header: soapCT,
			body:       `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/></soap:Envelope>`,
			wantStatus: 400, wantReason: "SOAP Envelope has no Body"},
		{name: "POST SOAP empty Body", method: "POST", url: "/record", header: soapCT,
			body:       `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>`,
			wantStatus: 400, wantReason: "SOAP Body is empty"},
		{name: "POST not well-formed", method: "POST", url: "/record", header: xmlCT, body: "<RecordRequest><Extension>1001</Extension>",
			wantStatus: 400, wantReason: "body is not well-formed XML: XML syntax error on line 1: unexpected EOF"},
		{name: "POST mismatched tags", method: "POST", url: "/record", header: xmlCT, body: "<a><Extension>1</b></a>",
			wantStatus: 400, wantReason: "body is not well-formed XML"},
		{name: "POST two roots", method: "POST", url: "/record", header: xmlCT, body: "<a><Extension>1</Extension></a><b/>",
			wantStatus: 400, wantReason: "second document element <b>"},
		{name: "POST no Extension", method: "POST", url: "/record", header: xmlCT, body: "<RecordRequest><Ext>1001</Ext></RecordRequest>",
			wantStatus: 400, wantReason: "no Extension element in <RecordRequest>"},
		{name: "POST Extension too deep", method: "POST", url: "/record", header: xmlCT, body: "<R><X><Extension>1001</Extension></X></R>",
			wantStatus: 400, wantReason: "no Extension element in <R>"},
		{name: "POST empty Extension (variable not substituted)", method: "POST", url: "/record", header: xmlCT, body: "<R><Extension></Extension></R>",
			wantStatus: 400, wantReason: "no extension: element Extension is missing or empty"},
		{name: "POST empty body", method: "POST", url: "/record", header: xmlCT, body: "  ",
			wantStatus: 400, wantReason: "empty body"},
		{name: "POST text", method: "POST", url: "/record", header: xmlCT, body: "just text",
			wantStatus: 400, wantReason: "no XML element in the body"},
		{name: "POST no Content-Type", method: "POST", url: "/record", body: "<R/>",
			wantStatus: 415, wantReason: "POST without Content-Type"},
		{name: "POST JSON", method: "POST", url: "/record", header: http.Header{"Content-Type": {"application/json"}}, body: "{}",
			wantStatus: 415, wantReason: `Content-Type "application/json"`},
		{name: "POST latin-1", method: "POST", url: "/record", header: http.Header{"Content-Type": {"text/xml; charset=iso-8859-1"}}, body: "<R/>",
			wantStatus: 415, wantReason: `charset "iso-8859-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			got, kerr := parseKeyRequest(tt.method, u, h, []byte(tt.body))
			if tt.wantStatus != 0 {
				if kerr == nil || kerr.status != tt.wantStatus || !strings.Contains(kerr.reason, tt.wantReason) {
					t.Fatalf("got %+v, %v; want %d with %q", got, kerr, tt.wantStatus, tt.wantReason)
				}
				return
			}
			if kerr != nil {
				t.Fatal(kerr)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestKeyAnswer(t *testing.T) {
	soap := KeyPress{Ext: "1001", SOAP: true, Op: xml.Name{Space: "urn:reclab:recorder", Local: "Record"}}
	tests := []struct {
		name   string
		press  KeyPress
		status int
		result KeyResult
		text   string
		want   []string
	}{
		{"screen", KeyPress{Ext: "1001"}, 409, KeyRefused, "1001 is not on a call",
			[]string{`<?xml version="1.0" encoding="UTF-8"?>`, "<AastraIPPhoneTextScreen", "<Text>1001 is not on a call</Text>"}},
		{"screen escapes", KeyPress{}, 400, KeyRefused, "no Extension element in <R&D>",
			[]string{"<Text>no Extension element in &lt;R&amp;D&gt;</Text>"}},
		{"SOAP response", soap, 200, KeyStarted, "recording of 1001 started",
			[]string{`<RecordResponse xmlns="urn:reclab:recorder"><Result>started</Result><Extension>1001</Extension><Text>recording of 1001 started</Text></RecordResponse>`}},
		{"SOAP client fault", soap, 404, KeyRefused, "extension 1001 is not monitored",
			[]string{"<soap:Fault><faultcode>soap:Client</faultcode><faultstring>extension 1001 is not monitored</faultstring></soap:Fault>"}},
		{"SOAP server fault", soap, 503, KeyRefused, "down", []string{"<faultcode>soap:Server</faultcode>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := keyAnswer(tt.press, tt.status, tt.result, tt.text)
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("answer %s lacks %s", body, w)
				}
			}
			// Every answer is well-formed XML.
			d := xml.NewDecoder(strings.NewReader(string(body)))
			for {
				if _, err := d.Token(); err != nil {
					if err.Error() != "EOF" {
						t.Errorf("answer is not well-formed: %v\n%s", err, body)
					}
					break
				}
			}
		})
	}
}

func TestDecideKeyPress(t *testing.T) {
	phone := netip.MustParseAddr("127.20.1.1")
	dev := DeviceInfo{IP: phone, RecordingPort: 7300, Model: "7434"}
	call := Call{ID: "000000000000000000000001", Calling: "1001", Called: "1002"}
	base := keyFacts{ext: "1001", source: phone, monitored: true, device: dev, known: true, call: call, onCall: true}
	with := func(f func(*keyFacts)) keyFacts { k := base; f(&k); return k }
	tests := []struct {
		name   string
		facts  keyFacts
		status int
		result KeyResult
		start  bool
		keep   bool
		text   string
	}{
		{"off", with(func(k *keyFacts) { k.mode = OnDemandOff }), 403, KeyRefused, false, false, "record on demand is off"},
		{"not monitored", with(func(k *keyFacts) { k.mode = StartOnDemand; k.monitored = false }), 404, KeyRefused, false, false, "extension 1001 is not monitored"},
		{"another host", with(func(k *keyFacts) { k.mode = StartOnDemand; k.source = netip.MustParseAddr("127.20.9.9") }), 403, KeyRefused, false, false, "request from 127.20.9.9, but 1001 is registered at 127.20.1.1"},
		{"no call", with(func(k *keyFacts) { k.mode = SaveOnDemand; k.onCall = false }), 409, KeyRefused, false, false, "1001 is not on a call"},
		{"start", with(func(k *keyFacts) { k.mode = StartOnDemand }), 200, KeyStarted, true, false, "recording of 1001 started"},
		{"start again", with(func(k *keyFacts) { k.mode = StartOnDemand; k.recording = true }), 200, KeyRecording, false, false, "already recording"},
		{"start, address unknown", with(func(k *keyFacts) { k.mode = StartOnDemand; k.known = false }), 503, KeyRefused, false, false, "no address known for 1001"},
		{"unknown device, unknown source: no call", with(func(k *keyFacts) { k.mode = StartOnDemand; k.known = false; k.onCall = false }), 409, KeyRefused, false, false, "not on a call"},
		{"save", with(func(k *keyFacts) { k.mode = SaveOnDemand; k.recording = true }), 200, KeyKept, false, true, "will be kept"},
		{"save again", with(func(k *keyFacts) { k.mode = SaveOnDemand; k.recording = true; k.kept = true }), 200, KeyKeptAgain, false, false, "already kept"},
		{"save, not recorded", with(func(k *keyFacts) { k.mode = SaveOnDemand }), 503, KeyRefused, false, false, "is not being recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := decideKeyPress(tt.facts)
			if v.status != tt.status || v.result != tt.result || v.start != tt.start || v.keep != tt.keep || !strings.Contains(v.text, tt.text) {
				t.Errorf("got %+v; want %d %s start=%v keep=%v %q", v, tt.status, tt.result, tt.start, tt.keep, tt.text)
			}
		})
	}
}

func TestOnDemandConfig(t *testing.T) {
	for in, want := range map[string]OnDemand{"": OnDemandOff, "off": OnDemandOff, "Start": StartOnDemand, " save ": SaveOnDemand} {
		if got, err := ParseOnDemand(in); err != nil || got != want {
			t.Errorf("ParseOnDemand(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := ParseOnDemand("always"); err == nil || !strings.Contains(err.Error(), `"always"; valid: off, start, save`) {
		t.Errorf("ParseOnDemand(always): %v", err)
	}
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{OnDemand: StartOnDemand, Mapping: Static}, "Config.OnDemand start needs dynamic mapping, not static"},
		{Config{OnDemand: 7}, "Config.OnDemand on-demand(7) is none of off, start, save"},
		{Config{HTTPPort: 8000, HTTPSPort: 8000, TLS: nil}, ""},
	} {
		err := tt.cfg.withDefaults().validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	c := Config{}.withDefaults()
	if c.HTTPPort != 8080 || c.HTTPSPort != 8443 {
		t.Errorf("default ports %d/%d, want 8080/8443", c.HTTPPort, c.HTTPSPort)
	}
}

// TestKeyHandlerLimits: what the handler refuses before the loop: a body
// over MaxKeyBody (413) and a method other than GET and POST (405, Allow).
// The recorder is not started; no socket is opened.
func TestKeyHandlerLimits(t *testing.T) {
	n, err := sim.NewNetwork(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	node, err := n.AddNode("recorder", netip.MustParseAddr("127.21.9.2"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(node, Config{OnDemand: StartOnDemand, Monitored: []string{"1001"}})
	if err != nil {
		t.Fatal(err)
	}
	h := r.keyHandler("http")

	big := "<R><Extension>1001</Extension>" + strings.Repeat(" ", MaxKeyBody) + "</R>"
	req := httptest.NewRequest("POST", "/record", strings.NewReader(big))
	req.Header.Set("Content-Type", "text/xml")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "body larger than 65536 bytes") {
		t.Errorf("big body: %d %s", w.Code, w.Body)
	}
	if ct, cl := w.Header().Get("Content-Type"), w.Header().Get("Content-Length"); ct != "text/xml; charset=utf-8" || cl == "" {
		t.Errorf("answer headers: Content-Type %q, Content-Length %q", ct, cl)
	}

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("DELETE", "/record?OPN=1001", nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, POST" {
		t.Errorf("DELETE: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

func FuzzParseKeyXML(f *testing.F) {
	f.Add([]byte(testSOAP))
	f.Add([]byte("<RecordRequest><Extension>1001</Extension></RecordRequest>"))
	f.Add([]byte("<a><Extension>1</b></a>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		press, err := parseKeyXML(body)
		if err != nil {
			if err.status != http.StatusBadRequest || err.reason == "" {
				t.Fatalf("refusal %v: want 400 with a reason", err)
			}
			return
		}
		if checkExt(press.Ext, "x") != nil {
			t.Fatalf("accepted extension %q", press.Ext)
		}
		// Whatever was accepted can be answered in well-formed XML.
		ans := keyAnswer(press, 200, KeyStarted, press.Ext)
		d := xml.NewDecoder(strings.NewReader(string(ans)))
		for {
			if _, err := d.Token(); err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("answer not well-formed: %v\n%s", err, ans)
				}
				break
			}
		}
	})
}
