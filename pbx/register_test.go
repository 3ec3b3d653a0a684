package pbx

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
)

func TestParseRegister(t *testing.T) {
	const head = "REGISTER sip:127.20.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.20.1.1:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:1001@127.20.0.1>;tag=1\r\nTo: <sip:1001@127.20.0.1>\r\n" +
		"Call-ID: c1\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
	const ua = "User-Agent: Mitel 7434 MAC:02:00:00:00:00:01 V:6.2\r\n"
	const contact = "Contact: <sip:1001@127.20.1.1:5060>\r\n"
	tests := []struct {
		name    string
		headers string
		want    registerRequest
		wantErr string // substring of the error; "" for none
	}{
		{"7434: fixed recording port 7300 (spec §3.2)", ua + contact + "Expires: 120\r\n",
			registerRequest{Ext: "1001", Contact: mustAP("127.20.1.1:5060"), Model: "7434", RecordingPort: 7300, Expires: 120 * time.Second}, ""},
		{"6867i: the recording port is the contact port", "User-Agent: Mitel 6867i MAC:x V:1\r\nContact: <sip:1001@127.20.1.1:5070>\r\nExpires: 60\r\n",
			registerRequest{Ext: "1001", Contact: mustAP("127.20.1.1:5070"), Model: "6867i", RecordingPort: 5070, Expires: 60 * time.Second}, ""},
		{"no Expires: the maximum", contact,
			registerRequest{Ext: "1001", Contact: mustAP("127.20.1.1:5060"), RecordingPort: 5060, Expires: time.Hour}, ""},
		{"capped at the maximum", contact + "Expires: 86400\r\n",
			registerRequest{Ext: "1001", Contact: mustAP("127.20.1.1:5060"), RecordingPort: 5060, Expires: time.Hour}, ""},
		{"contact expires wins over Expires (RFC 3261 §10.2.1.1)", "Contact: <sip:1001@127.20.1.1>;expires=30\r\nExpires: 120\r\n",
			registerRequest{Ext: "1001", Contact: mustAP("127.20.1.1:5060"), RecordingPort: 5060, Expires: 30 * time.Second}, ""},
		{"un-REGISTER", contact + "Expires: 0\r\n",
			registerRequest{Ext: "1001", Contact: mustAP("127.20.1.1:5060"), RecordingPort: 5060}, ""},
		{"wildcard un-REGISTER", "Contact: *\r\nExpires: 0\r\n", registerRequest{Ext: "1001", Wildcard: true}, ""},
		{"bad Expires", contact + "Expires: soon\r\n", registerRequest{}, `Expires "soon" is not a number of seconds`},
		{"negative Expires", contact + "Expires: -1\r\n", registerRequest{}, `Expires "-1"`},
		{"bad contact expires", "Contact: <sip:1001@127.20.1.1>;expires=x\r\n", registerRequest{}, `Contact expires="x"`},
		{"no Contact", "Expires: 60\r\n", registerRequest{}, "Contact is missing"},
		{"wildcard with an expiry", "Contact: *\r\nExpires: 60\r\n", registerRequest{}, "only with Expires: 0"},
		{"contact host is a name", "Contact: <sip:1001@phone.example>\r\n", registerRequest{}, `host "phone.example" is not an IPv4 address`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := sip.ParseMessage([]byte(head + tc.headers + "Content-Length: 0\r\n\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseRegister(msg.(*sip.Request), time.Hour)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	msg, _ := sip.ParseMessage([]byte(strings.Replace(head, "To: <sip:1001@127.20.0.1>", "To: <sip:127.20.0.1>", 1) + contact + "\r\n"))
	if _, err := parseRegister(msg.(*sip.Request), time.Hour); err == nil || !strings.Contains(err.Error(), "To has no user") {
		t.Fatalf("To without user: %v", err)
	}
}

func TestRegisterRefreshUnregister(t *testing.T) {
	l := newTestLab(t, Config{MaxExpiry: 600 * time.Second})
	rec := l.recorder("rec", 2)
	ref := rec.monitor("1001")
	a := l.phone("a", "1001", 11, "7434")

	res := a.mustRegister("120")
	if got := res.GetHeader("Expires"); got == nil || got.Value() != "120" {
		t.Fatalf("200 OK Expires: %v, want 120", got)
	}
	c := res.Contact()
	if c == nil || c.Address.Host != l.ip(11).String() || c.Address.Port != 5060 {
		t.Fatalf("200 OK Contact: %v, want the phone's", c)
	}
	if v, _ := c.Params.Get("expires"); v != "120" {
		t.Fatalf("200 OK Contact expires=%q, want 120", v)
	}
	bis := rec.expect("BackInServiceEvent")[0].(csta.BackInServiceEvent)
	want := csta.DeviceInfo{IP: l.ip(11), RecordingPort: 7300, Model: "7434"}
	if bis.CrossRefID != ref || bis.Device != "1001" || bis.Info == nil || *bis.Info != want {
		t.Fatalf("BackInService: %+v, want ref %s, 1001, %v", bis, ref, want)
	}
	if reg, ok := l.pbx.Lookup("1001"); !ok || reg.Contact != a.st.Addr || reg.RecordingAddr().Port() != 7300 {
		t.Fatalf("Lookup 1001: %+v %v", reg, ok)
	}

	// A refresh asking more than the maximum gets the maximum, and no CSTA
	// event: the next one the recorder sees is the un-REGISTER's.
	res = a.mustRegister("7200")
	if got := res.GetHeader("Expires").Value(); got != "600" {
		t.Fatalf("refresh: Expires %s, want the maximum 600", got)
	}
	res = a.mustRegister("0")
	if got := res.GetHeader("Expires").Value(); got != "0" {
		t.Fatalf("un-REGISTER: Expires %s, want 0", got)
	}
	oos := rec.expect("OutOfServiceEvent")[0].(csta.OutOfServiceEvent)
	if oos.Device != "1001" || oos.Info == nil || oos.Info.IP != l.ip(11) {
		t.Fatalf("OutOfService: %+v", oos)
	}
	if _, ok := l.pbx.Lookup("1001"); ok {
		t.Fatal("1001 still registered after un-REGISTER")
	}
	if n := len(l.pbx.Registrations()); n != 0 {
		t.Fatalf("%d registrations left", n)
	}

	// Not in the directory: 404.
	x := l.phone("x", "4711", 19, "7434")
	if res := x.register("60", nil); res.StatusCode != 404 {
		t.Fatalf("REGISTER 4711: %d, want 404", res.StatusCode)
	}
}

func TestRegistrationExpires(t *testing.T) {
	l := newTestLab(t, Config{})
	rec := l.recorder("rec", 2)
	rec.monitor("1002")
	b := l.phone("b", "1002", 12, "6867i")
	expired := l.watch(func(e sim.Event) bool {
		return e.Kind == sim.KindNote && strings.Contains(e.Summary, "registration of 1002")
	})
	b.mustRegister("1")
	rec.expect("BackInServiceEvent")
	oos := rec.expect("OutOfServiceEvent")[0].(csta.OutOfServiceEvent)
	if oos.Info == nil || oos.Info.IP != l.ip(12) || oos.Info.RecordingPort != 5060 || oos.Info.Model != "6867i" {
		t.Fatalf("OutOfService on expiry: %+v", oos)
	}
	expired()
	if _, ok := l.pbx.Lookup("1002"); ok {
		t.Fatal("1002 still registered after expiry")
	}
}

// spec §3.2.3, docs/wire.md "Registration": phone B registers phone A's
// extension; A gets the reg-event NOTIFY, the recorder learns B's address,
// A's refresh is refused.
func TestForcedLogOff(t *testing.T) {
	l := newTestLab(t, Config{})
	rec := l.recorder("rec", 2)
	ref := rec.monitor("1001")
	a := l.phone("a", "1001", 11, "7434")
	b := l.phone("b", "1001", 12, "6867i")
	a.mustRegister("3600")
	rec.expect("BackInServiceEvent")

	b.mustRegister("3600")
	evs := rec.expect("OutOfServiceEvent", "BackInServiceEvent")
	oos, bis := evs[0].(csta.OutOfServiceEvent), evs[1].(csta.BackInServiceEvent)
	if oos.CrossRefID != ref || oos.Info == nil || oos.Info.IP != l.ip(11) {
		t.Fatalf("OutOfService should name A's address %s: %+v", l.ip(11), oos)
	}
	if bis.CrossRefID != ref || bis.Info == nil || *bis.Info != (csta.DeviceInfo{IP: l.ip(12), RecordingPort: 5060, Model: "6867i"}) {
		t.Fatalf("BackInService should name B: %+v", bis)
	}

	n := recv(t, a.notifies, "the log-off NOTIFY at A")
	for h, want := range map[string]string{"Event": "reg", "Subscription-State": "terminated;reason=deactivated", "Content-Type": "application/reginfo+xml"} {
		if got := n.GetHeader(h); got == nil || got.Value() != want {
			t.Errorf("NOTIFY %s: %v, want %q", h, got, want)
		}
	}
	if !bytes.Contains(n.Body(), []byte(`state="terminated" event="deactivated"`)) || !bytes.Contains(n.Body(), []byte(a.st.Addr.String())) {
		t.Errorf("NOTIFY body does not terminate A's contact:\n%s", n.Body())
	}
	if n.Recipient.Host != l.ip(11).String() || n.Recipient.User != "1001" {
		t.Errorf("NOTIFY went to %s", n.Recipient.String())
	}

	if res := a.register("3600", nil); res.StatusCode != 403 {
		t.Fatalf("A's refresh after log-off: %d, want 403", res.StatusCode)
	}
	if reg, _ := l.pbx.Lookup("1001"); reg.Contact != b.st.Addr {
		t.Fatalf("1001 bound to %s, want B %s", reg.Contact, b.st.Addr)
	}
	if len(b.notifies) != 0 {
		t.Fatal("B got a NOTIFY")
	}
}

// Bad input: 400, an error event naming the source and what was wrong, and
// the PBX goes on.
func TestMalformedRegister(t *testing.T) {
	l := newTestLab(t, Config{})
	a := l.phone("a", "1001", 11, "7434")
	tests := []struct {
		name, problem string
		edit          func(*sip.Request)
	}{
		{"bad Expires", `Expires "tomorrow"`, func(r *sip.Request) {
			r.RemoveHeader("Expires")
			r.AppendHeader(sip.NewHeader("Expires", "tomorrow"))
		}},
		{"no Contact", "Contact is missing", func(r *sip.Request) { r.RemoveHeader("Contact") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errEv := l.watch(func(e sim.Event) bool {
				return e.Kind == sim.KindError && e.From == "pbx" && strings.Contains(e.Summary, tc.problem)
			})
			if res := a.register("60", tc.edit); res.StatusCode != 400 {
				t.Fatalf("%d %s, want 400", res.StatusCode, res.Reason)
			}
			e := errEv()
			if e.Src != a.st.Addr || !strings.Contains(e.Summary, a.st.Addr.String()) || !strings.Contains(e.Summary, "REGISTER") {
				t.Fatalf("error event should name the source %s and REGISTER: %s (src %s)", a.st.Addr, e.Summary, e.Src)
			}
		})
	}
	a.mustRegister("60") // the PBX still serves
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// FuzzParseRegister: whatever headers a REGISTER carries, parseRegister
// either refuses it with a badRequest or returns a binding the registrar can
// keep (an extension, an IPv4 contact unless wildcard, expiry within the max).
func FuzzParseRegister(f *testing.F) {
	for _, h := range []string{
		"Contact: <sip:1001@127.20.1.1:5060>\r\nExpires: 120\r\nUser-Agent: Mitel 7434 MAC:x V:1\r\n",
		"Contact: <sip:1001@127.20.1.1>;expires=30\r\n",
		"Contact: *\r\nExpires: 0\r\n",
		"Contact: <sip:1001@127.20.1.1:99999>\r\n",
		"Expires: 4294967296\r\n",
	} {
		f.Add(h)
	}
	const head = "REGISTER sip:127.20.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.20.1.1:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:1001@127.20.0.1>;tag=1\r\nTo: <sip:1001@127.20.0.1>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\n"
	f.Fuzz(func(t *testing.T, headers string) {
		msg, err := sip.ParseMessage([]byte(head + headers + "\r\n"))
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		rr, err := parseRegister(req, time.Hour)
		if err != nil {
			var bad *badRequest
			if !errors.As(err, &bad) || !strings.HasPrefix(err.Error(), "pbx: REGISTER: ") {
				t.Fatalf("error %v is not a named bad request", err)
			}
			return
		}
		if rr.Ext == "" || rr.Expires < 0 || rr.Expires > time.Hour {
			t.Fatalf("bad result %+v", rr)
		}
		if !rr.Wildcard && (!rr.Contact.Addr().Is4() || rr.Contact.Port() == 0 || rr.RecordingPort <= 0) {
			t.Fatalf("bad contact in %+v", rr)
		}
	})
}
