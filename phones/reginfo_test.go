package phones

import (
	"net/netip"
	"strings"
	"testing"
)

// The reg-event body: the phone's own registration or contact terminated
// logs it off; another extension's, another contact's, or an active one
// does not; what is not a reginfo document is an error (RFC 3680 §5.3).
func TestRegInfoLogsOff(t *testing.T) {
	self := netip.MustParseAddrPort("127.20.1.1:5060")
	doc := func(aor, regState, contact, contactState string) string {
		return `<?xml version="1.0"?><reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="partial">` +
			`<registration aor="` + aor + `" id="1" state="` + regState + `">` +
			`<contact id="1" state="` + contactState + `" event="deactivated"><uri>` + contact + `</uri></contact>` +
			`</registration></reginfo>`
	}
	for _, tc := range []struct {
		name, body string
		off        bool
		err        string
	}{
		{"the PBX's log-off", doc("sip:1001@127.20.0.1", "terminated", "sip:1001@127.20.1.1:5060", "terminated"), true, ""},
		{"our contact terminated, the AOR still active", doc("sip:1001@127.20.0.1", "active", "sip:1001@127.20.1.1:5060", "terminated"), true, ""},
		{"our contact without a port", doc("sip:1001@127.20.0.1", "active", "sip:1001@127.20.1.1", "terminated"), true, ""},
		{"the URI as the contact's text", `<reginfo><registration aor="sip:1001@x" state="active"><contact state="terminated">sip:1001@127.20.1.1:5060</contact></registration></reginfo>`, true, ""},
		{"another extension's registration", doc("sip:1002@127.20.0.1", "terminated", "sip:1002@127.20.1.2:5060", "terminated"), false, ""},
		{"another contact of ours", doc("sip:1001@127.20.0.1", "active", "sip:1001@127.20.1.9:5060", "terminated"), false, ""},
		{"our contact on another port", doc("sip:1001@127.20.0.1", "active", "sip:1001@127.20.1.1:5070", "terminated"), false, ""},
		{"all active", doc("sip:1001@127.20.0.1", "active", "sip:1001@127.20.1.1:5060", "active"), false, ""},
		{"a bad AOR", doc("not a uri", "terminated", "sip:1001@127.20.1.1:5060", "terminated"), false, ""},
		{"not XML", "state=\"terminated\"", false, "reginfo: EOF"},
		{"another document", `<presence state="terminated"/>`, false, "expected element type <reginfo>"},
		{"too large", "<reginfo>" + strings.Repeat(" ", maxRegInfo) + "</reginfo>", false, "at most 16384"},
	} {
		off, err := regInfoLogsOff([]byte(tc.body), "1001", self)
		if off != tc.off || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: off %v, err %v; want off %v, err %q", tc.name, off, err, tc.off, tc.err)
		}
	}
}

// FuzzRegInfo: any body; the parser never panics, and a body it refuses
// never logs the phone off.
func FuzzRegInfo(f *testing.F) {
	f.Add([]byte(`<reginfo><registration aor="sip:1001@127.20.0.1" state="terminated"><contact state="terminated"><uri>sip:1001@127.20.1.1:5060</uri></contact></registration></reginfo>`))
	f.Add([]byte(`<reginfo><registration aor="sip:1001@x"><contact state="terminated">sip:1001@127.20.1.1</contact></registration></reginfo>`))
	f.Add([]byte(`<?xml version="1.0"?><reginfo xmlns="urn:ietf:params:xml:ns:reginfo"/>`))
	self := netip.MustParseAddrPort("127.20.1.1:5060")
	f.Fuzz(func(t *testing.T, body []byte) {
		if off, err := regInfoLogsOff(body, "1001", self); err != nil && off {
			t.Fatalf("refused (%v) yet logs off", err)
		}
	})
}
