package phones

import (
	"strings"
	"testing"
	"time"
)

// TestRegisterAs is phone B's side of spec §3.2.3: a user logs in on B (ext
// 1002) with extension 1001. B ends its own recording session with BYE,
// un-REGISTERs 1002, restarts (the user is a major configuration item) and
// REGISTERs 1001 from its address; a recording INVITE for 1001 is answered
// there, with 1001 in the 200 OK's Contact.
func TestRegisterAs(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)
	b := l.newPhoneOpts("phoneB", phone1IP, "7434", "sip line1 user name: 1002\nrecording allowed ip: 127.20.0.2\n",
		Options{PBX: pbxAddr, RegisterExpiry: 120 * time.Second})
	if err := b.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	within(t, pbx.regs, "REGISTER 1002")
	dlg, _ := startRecording(t, l, rec, b, 41)
	l.awaitRecording(b, RecForking)

	restarting := l.watchNote("phoneB", "restarting: sip line1 user name 1002 → 1001")
	if err := b.RegisterAs(ctxT(t), "1001", ""); err != nil {
		t.Fatal(err)
	}
	l.wait(restarting, "restart with the new user")
	bye := within(t, rec.byes, "BYE to the recorder")
	if bye.CallID().Value() != dlg.InviteRequest.CallID().Value() {
		t.Errorf("BYE in %s, want the session's %s", bye.CallID().Value(), dlg.InviteRequest.CallID().Value())
	}
	unreg := within(t, pbx.regs, "un-REGISTER of 1002")
	if unreg.From().Address.User != "1002" || unreg.GetHeader("Expires").Value() != "0" {
		t.Errorf("first REGISTER: From %s Expires %s, want 1002 with 0", unreg.From().Address.User, unreg.GetHeader("Expires").Value())
	}
	reg := within(t, pbx.regs, "REGISTER of 1001")
	if reg.From().Address.User != "1001" || reg.To().Address.User != "1001" || reg.Contact().Address.User != "1001" {
		t.Errorf("REGISTER after the login: From %s To %s Contact %s, want 1001 in each", reg.From(), reg.To(), reg.Contact())
	}
	if reg.CallID().Value() == unreg.CallID().Value() {
		t.Errorf("REGISTER of 1001 reuses the Call-ID of 1002's registration %s", reg.CallID().Value())
	}
	if s := b.State(); !s.Registered || b.Ext() != "1001" {
		t.Errorf("after RegisterAs: ext %s, state %+v", b.Ext(), s)
	}
	// The recorder's next INVITE for 1001 goes to B and is answered as 1001.
	dlg2, _ := startRecording(t, l, rec, b, 42)
	if c := dlg2.InviteResponse.Contact(); c == nil || c.Address.User != "1001" {
		t.Errorf("200 OK to the recording INVITE: Contact %v, want user 1001", dlg2.InviteResponse.Contact())
	}
}

// TestRegisterAsRefused: a bad extension, the phone's own, and a phone on
// a call are refused with what is wrong, and nothing is sent.
func TestRegisterAsRefused(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	for _, tc := range []struct{ ext, want string }{
		{"", `bad extension ""`},
		{"10a1", `bad extension "10a1": want digits`},
		{"1001", "register as 1001: that is already this phone's extension"},
	} {
		if err := p.RegisterAs(ctxT(t), tc.ext, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RegisterAs(%q) = %v, want %q", tc.ext, err, tc.want)
		}
	}
	if len(pbx.regs) != 0 {
		t.Errorf("%d REGISTERs sent for refused logins", len(pbx.regs))
	}
	upCall(t, l, p)
	within(t, pbx.regs, "REGISTER")
	if err := p.RegisterAs(ctxT(t), "1003", ""); err == nil || !strings.Contains(err.Error(), "on a call; hang up first") {
		t.Errorf("RegisterAs on a call = %v", err)
	}
	if p.Ext() != "1001" || !p.State().Registered {
		t.Errorf("a refused login changed the phone: ext %s state %+v", p.Ext(), p.State())
	}
}
