package phones

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/reclab/reclab/sim"
)

func TestBuildRecordKeyRequest(t *testing.T) {
	talking := RecordKeyVars{
		SIPUserName: "1001", DisplayName: "Front Desk & Co", RemoteNumber: "1002",
		CallDirection: "Outgoing", LineState: "CONNECTED", LocalIP: "127.20.1.1", CallDuration: "12",
	}
	idle := RecordKeyVars{SIPUserName: "1001", LineState: "IDLE", LocalIP: "127.20.1.1"}
	soap := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body><Record xmlns="urn:x"><Ext>$$SIPUSERNAME$$</Ext><Name>$$DISPLAYNAME$$</Name></Record></s:Body></s:Envelope>`
	tests := []struct {
		name    string
		key     Softkey
		vars    RecordKeyVars
		want    RecordKeyRequest
		wantErr string
	}{
		{
			name: "GET with every variable",
			key:  Softkey{Index: 1, Type: "xml", Value: "http://127.20.0.2:8080/record?page=START&OPN=$$SIPUSERNAME$$&remote=$$REMOTENUMBER$$&dir=$$CALLDIRECTION$$&state=$$LINESTATE$$&ip=$$LOCALIP$$&d=$$CALLDURATION$$"},
			vars: talking,
			want: RecordKeyRequest{Method: "GET", URL: "http://127.20.0.2:8080/record?page=START&OPN=1001&remote=1002&dir=Outgoing&state=CONNECTED&ip=127.20.1.1&d=12"},
		},
		{
			name: "a display name with a space and & stays one parameter",
			key:  Softkey{Index: 1, Type: "XML", Value: "http://127.20.0.2:8080/record?name=$$DISPLAYNAME$$&x=1"},
			vars: talking,
			want: RecordKeyRequest{Method: "GET", URL: "http://127.20.0.2:8080/record?name=Front%20Desk%20%26%20Co&x=1"},
		},
		{
			name: "no call: call variables empty",
			key:  Softkey{Index: 2, Type: "xml", Value: "http://127.20.0.2:8080/record?OPN=$$SIPUSERNAME$$&remote=$$REMOTENUMBER$$&d=$$CALLDURATION$$"},
			vars: idle,
			want: RecordKeyRequest{Method: "GET", URL: "http://127.20.0.2:8080/record?OPN=1001&remote=&d="},
		},
		{
			name: "an unknown variable is kept as written",
			key:  Softkey{Index: 1, Type: "xml", Value: "http://127.20.0.2:8080/record?OPN=$$SIPUSRNAME$$&x=$$$$SIPUSERNAME$$"},
			vars: idle,
			want: RecordKeyRequest{Method: "GET", URL: "http://127.20.0.2:8080/record?OPN=$$SIPUSRNAME$$&x=$$1001"},
		},
		{
			name: "POST XML: values XML-escaped, default content type",
			key:  Softkey{Index: 1, Type: "xml", Value: "http://127.20.0.2:8080/record", Body: "<R><E>$$SIPUSERNAME$$</E><N>$$DISPLAYNAME$$</N></R>"},
			vars: talking,
			want: RecordKeyRequest{Method: "POST", URL: "http://127.20.0.2:8080/record", Body: []byte("<R><E>1001</E><N>Front Desk &amp; Co</N></R>"), ContentType: "text/xml; charset=utf-8"},
		},
		{
			name: "POST SOAP 1.1: SOAPAction from the operation",
			key:  Softkey{Index: 1, Type: "xml", Value: "https://127.20.0.2:8443/record", Body: soap},
			vars: talking,
			want: RecordKeyRequest{Method: "POST", URL: "https://127.20.0.2:8443/record",
				Body:        []byte(strings.NewReplacer("$$SIPUSERNAME$$", "1001", "$$DISPLAYNAME$$", "Front Desk &amp; Co").Replace(soap)),
				ContentType: "text/xml; charset=utf-8", SOAPAction: `"urn:x#Record"`},
		},
		{
			name: "POST with the key's content type and a body that is not XML",
			key:  Softkey{Index: 1, Type: "xml", Value: "http://127.20.0.2:8080/record", Body: "<R>$$SIPUSERNAME$$", ContentType: "application/xml"},
			vars: idle,
			want: RecordKeyRequest{Method: "POST", URL: "http://127.20.0.2:8080/record", Body: []byte("<R>1001"), ContentType: "application/xml"},
		},
		{name: "not an xml key", key: Softkey{Index: 3, Type: "speeddial", Value: "1234"}, wantErr: `softkey3 is of type "speeddial"`},
		{name: "not http", key: Softkey{Index: 1, Type: "xml", Value: "ftp://127.20.0.2/record"}, wantErr: "want an http:// or https:// URL"},
		{name: "bad URL", key: Softkey{Index: 1, Type: "xml", Value: "http://127.20.0.2:80:80/%zz"}, wantErr: "softkey1 value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BuildRecordKeyRequest(tt.key, tt.vars)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != tt.want.Method || got.URL != tt.want.URL || string(got.Body) != string(tt.want.Body) ||
				got.ContentType != tt.want.ContentType || got.SOAPAction != tt.want.SOAPAction {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRecordKeyDisplay(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{`<?xml version="1.0"?><AastraIPPhoneTextScreen><Title>Record</Title><Text>1001 is not on a call</Text></AastraIPPhoneTextScreen>`, "1001 is not on a call"},
		{`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>no Extension</faultstring></s:Fault></s:Body></s:Envelope>`, "no Extension"},
		{"plain text answer\nsecond line", "plain text answer"},
		{"", ""},
	} {
		if got := RecordKeyDisplay([]byte(tt.body)); got != tt.want {
			t.Errorf("RecordKeyDisplay(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestLineState(t *testing.T) {
	for s, want := range map[CallState]string{CallIdle: "IDLE", CallDialing: "CALLING", CallRinging: "INCOMING", CallTalking: "CONNECTED"} {
		if got := lineState(s); got != want {
			t.Errorf("lineState(%s) = %s, want %s", s, got, want)
		}
	}
}

func FuzzBuildRecordKeyRequest(f *testing.F) {
	f.Add("http://127.20.0.2:8080/record?OPN=$$SIPUSERNAME$$", "", "Front & <Desk>")
	f.Add("https://127.20.0.2:8443/record", "<R><E>$$SIPUSERNAME$$</E><N>$$DISPLAYNAME$$</N></R>", "a\"b")
	f.Fuzz(func(t *testing.T, value, body, name string) {
		key := Softkey{Index: 1, Type: "xml", Value: value, Body: body}
		req, err := BuildRecordKeyRequest(key, RecordKeyVars{SIPUserName: "1001", DisplayName: name})
		if err != nil {
			return
		}
		if _, err := http.NewRequest(req.Method, req.URL, nil); err != nil {
			t.Fatalf("built URL %q that net/http refuses: %v", req.URL, err)
		}
		// Values are XML-escaped: substitution adds no markup.
		if strings.Count(string(req.Body), "<") != strings.Count(body, "<") {
			t.Fatalf("display name %q not XML-escaped: %q from %q", name, req.Body, body)
		}
	})
}

// TestPressRecordKeyThroughSim: the key's request leaves through the
// phone's sim node (traced, from the phone's address) with the Mitel
// User-Agent; a server on another node answers.
func TestPressRecordKeyThroughSim(t *testing.T) {
	l := newTestLab(t)
	srvNode := l.node("recorder", netip.MustParseAddr("127.20.0.2"))
	ln, err := srvNode.Listen(8080, sim.ProtoHTTP)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *http.Request, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, "<AastraIPPhoneTextScreen><Text>1001 is not on a call</Text></AastraIPPhoneTextScreen>")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	node := l.node("7434", netip.MustParseAddr("127.20.1.1"))
	cfg, err := ParseConfig("7434.cfg", strings.NewReader("sip line1 user name: 1001\nsip line1 registrar ip: 127.20.0.1\n"+
		"mac address: 08:00:0f:11:22:33\nfirmware version: 6.3.0.1020\nsoftkey1 type: xml\nsoftkey1 label: Record\n"+
		"softkey1 value: http://127.20.0.2:8080/record?OPN=$$SIPUSERNAME$$&state=$$LINESTATE$$&remote=$$REMOTENUMBER$$\n"))
	if err != nil {
		t.Fatal(err)
	}
	model, _ := LookupModel("7434")
	p, err := New(node, model, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.PressRecordKey(context.Background()); err == nil {
		t.Fatal("a powered-off phone pressed its key")
	}
	if err := p.PowerOn(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.PowerOff)

	sent := l.net.Trace().Watch(func(e sim.Event) bool {
		return e.Kind == sim.KindMessage && e.Proto == sim.ProtoHTTP && e.From == "7434" && e.To == "recorder" &&
			e.Summary == "GET /record?OPN=1001&state=IDLE&remote="
	})
	shown := l.watchNote("7434", `record key: recorder answered 409 Conflict: "1001 is not on a call"`)
	status, body, err := p.PressRecordKey(ctxT(t))
	if err != nil || status != http.StatusConflict || !strings.Contains(body, "not on a call") {
		t.Fatalf("press: %d %q %v", status, body, err)
	}
	r := <-got
	if ua := r.UserAgent(); ua != "Mitel 7434 MAC:08000F112233 V:6.3.0.1020" {
		t.Errorf("User-Agent %q", ua)
	}
	if src, _ := netip.ParseAddrPort(r.RemoteAddr); src.Addr() != node.Addr() {
		t.Errorf("request came from %s, not the phone's address", r.RemoteAddr)
	}
	if _, err := sent.Wait(ctxT(t)); err != nil {
		t.Fatal("the GET is not in the trace")
	}
	if _, err := shown.Wait(ctxT(t)); err != nil {
		t.Fatal("the phone did not show the answer")
	}
}
