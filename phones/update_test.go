package phones

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/sim/media"
)

func TestMajorChanges(t *testing.T) {
	m6867, _ := LookupModel("6867i")
	m7434, _ := LookupModel("7434")
	base := "sip line1 user name: 1001\nrecording allowed ip: 127.20.0.2\nsip line1 registrar ip: 127.20.0.1\n"
	tests := []struct {
		name  string
		model Model
		extra string
		want  string // MajorChanges joined by "; ", "" for none
	}{
		{"same", m6867, "", ""},
		{"softkey and display name: no restart", m6867, "sip line1 display name: Desk\nsoftkey1 type: xml\nsoftkey1 value: http://127.20.0.2:8080/record\n", ""},
		{"registration period: no restart", m6867, "sip registration period: 60\n", ""},
		{"firmware", m6867, "firmware version: 6.4.0.100\n", "firmware 6.3.0.1020 → 6.4.0.100"},
		{"6700 family: a new SIP port moves the recording port", m6867, "sip local port: 5070\n", "sip local port 5060 → 5070; recording port 5060 → 5070"},
		{"7434: SIP port moves, recording stays on 7300", m7434, "sip local port: 5070\n", "sip local port 5060 → 5070"},
		{"allowed list", m6867, "recording allowed ip: 127.20.0.3\n", "recording allowed ip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old, err := ParseConfig("old.cfg", strings.NewReader(base))
			if err != nil {
				t.Fatal(err)
			}
			text := base + tc.extra
			if strings.HasPrefix(tc.extra, "recording allowed ip") {
				text = strings.Replace(base, "127.20.0.2", "127.20.0.3", 1)
			}
			next, err := ParseConfig("new.cfg", strings.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(MajorChanges(old, next, tc.model), "; "); got != tc.want {
				t.Errorf("MajorChanges = %q, want %q", got, tc.want)
			}
		})
	}
}

const cfg6867 = `sip line1 user name: 1001
recording allowed ip: 127.20.0.2
`

// newPhoneFile makes a powered-on phone whose configuration is a file on
// disk (as the lab writes OutDir/config/<name>.cfg), so an update order can
// re-read it.
func (l *testLab) newPhoneFile(name, modelName, text string, opts Options) (*Phone, string) {
	l.t.Helper()
	path := filepath.Join(l.t.TempDir(), name+".cfg")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		l.t.Fatal(err)
	}
	m, err := LookupModel(modelName)
	if err != nil {
		l.t.Fatal(err)
	}
	cfg, err := ParseConfig(path, strings.NewReader(text))
	if err != nil {
		l.t.Fatal(err)
	}
	opts.SIPRegister = true // the fake PBX is a SIP registrar (lab_test.go)
	p, err := New(l.node(name, phone1IP), m, cfg, opts)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := p.PowerOn(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(p.PowerOff)
	return p, path
}

// TestUpdateOrderRestarts is spec §3.2.5 on a 6867i: the PBX's NOTIFY
// check-sync makes the phone unregister (BYE to the recorder), re-read its
// file, restart because the firmware and the SIP port changed (the 6700/
// 6800/6900 recording port moves with it) and register again from the new
// port; the recorder's next INVITE must go there.
func TestUpdateOrderRestarts(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)
	p, path := l.newPhoneFile("phone1", "6867i", cfg6867, Options{PBX: pbxAddr, RegisterExpiry: 120 * time.Second})
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	recv := func() string { return within(t, pbx.regs, "REGISTER").GetHeader("Expires").Value() }
	if got := recv(); got != "120" {
		t.Fatalf("REGISTER Expires %s", got)
	}
	dlg, _ := startRecording(t, l, rec, p, 21)
	l.awaitRecording(p, RecForking)

	if err := os.WriteFile(path, []byte(cfg6867+"firmware version: 6.4.0.100\nsip local port: 5070\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	restarting := l.watchNote("phone1", "restarting: firmware 6.3.0.1020 → 6.4.0.100, sip local port 5060 → 5070, recording port 5060 → 5070")
	registered := l.watchNote("phone1", "registered as 1001")
	res, err := pbx.notifyCheckSync(ctxT(t), p)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("NOTIFY check-sync: %v %v", res, err)
	}
	bye := within(t, rec.byes, "BYE to the recorder")
	if bye.CallID().Value() != dlg.InviteRequest.CallID().Value() {
		t.Errorf("BYE in %s, want the session's %s", bye.CallID().Value(), dlg.InviteRequest.CallID().Value())
	}
	if got := recv(); got != "0" {
		t.Errorf("after the order: REGISTER Expires %s, want 0 (unregister)", got)
	}
	l.wait(restarting, "restart")
	l.wait(registered, "registered again")
	reg := within(t, pbx.regs, "REGISTER after restart")
	if c := reg.Contact(); c == nil || c.Address.Port != 5070 {
		t.Errorf("REGISTER after restart: Contact %v, want port 5070", reg.Contact())
	}
	if ua := reg.GetHeader("User-Agent").Value(); !strings.HasSuffix(ua, "V:6.4.0.100") {
		t.Errorf("User-Agent %q, want the new firmware", ua)
	}
	if got := p.RecordingAddr().Port(); got != 5070 {
		t.Errorf("recording port %d after the update, want 5070", got)
	}
	// The recorder's next INVITE, to the new port, is answered.
	startRecording(t, l, rec, p, 22)
	l.awaitRecording(p, RecForking)
}

// TestUpdateOrderWithoutRestart: a minor change (a softkey) is taken
// without a restart; the phone unregisters and registers again on the same
// sockets. A staged configuration wins over the file.
func TestUpdateOrderWithoutRestart(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	p, _ := l.newPhoneFile("phone1", "6867i", cfg6867, Options{PBX: pbxAddr, RegisterExpiry: 120 * time.Second})
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	within(t, pbx.regs, "REGISTER")
	staged, err := ParseConfig("staged.cfg", strings.NewReader(cfg6867+"sip line1 display name: Front desk\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.StageConfig(staged); err != nil {
		t.Fatal(err)
	}
	bad, _ := ParseConfig("bad.cfg", strings.NewReader("recording allowed ip: 127.20.0.2\n"))
	if err := p.StageConfig(bad); err == nil {
		t.Error("StageConfig took a configuration without a user")
	}
	powered := l.watchNote("phone1", "powered on")
	reread := l.watchNote("phone1", "configuration re-read from staged.cfg: no firmware or major change, no restart")
	registered := l.watchNote("phone1", "registered as 1001")
	if res, err := pbx.notifyCheckSync(ctxT(t), p); err != nil || res.StatusCode != 200 {
		t.Fatalf("NOTIFY check-sync: %v %v", res, err)
	}
	l.wait(reread, "configuration re-read")
	l.wait(registered, "registered again")
	if got := within(t, pbx.regs, "un-REGISTER").GetHeader("Expires").Value(); got != "0" {
		t.Errorf("first REGISTER after the order: Expires %s, want 0", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if e, err := powered.Wait(ctx); err == nil {
		t.Errorf("restarted: %v", e)
	}
	if s := p.State(); !s.Registered || !s.Powered {
		t.Errorf("state %+v", s)
	}
}

// TestGatekeeperLost is spec §3.2.6: the PBX restarts. The phone's
// keep-alive OPTIONS goes unanswered; the phone sends BYE to the recorder,
// tries to unregister, and registers again every RegisterRetry until the
// PBX is back.
func TestGatekeeperLost(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)
	p := l.newPhoneOpts("phone1", phone1IP, "7434", cfg7434, Options{PBX: pbxAddr, ToneHz: media.ToneFrequency(1),
		RegisterExpiry: 120 * time.Second, KeepAlive: 100 * time.Millisecond, RegisterRetry: 100 * time.Millisecond})
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	within(t, pbx.regs, "REGISTER")
	within(t, pbx.options, "keep-alive OPTIONS")
	dlg, _ := startRecording(t, l, rec, p, 31)
	l.awaitRecording(p, RecForking)

	lost := l.watchNote("phone1", "logged off: PBX does not answer the keep-alive OPTIONS")
	retrying := l.watchNote("phone1", "un-REGISTER unanswered")
	pbx.stop()
	l.wait(lost, "keep-alive failure")
	bye := within(t, rec.byes, "BYE to the recorder")
	if bye.CallID().Value() != dlg.InviteRequest.CallID().Value() {
		t.Errorf("BYE in %s, want %s", bye.CallID().Value(), dlg.InviteRequest.CallID().Value())
	}
	l.wait(retrying, "un-REGISTER tried")
	if s := p.State(); s.Registered || s.Recording != RecIdle {
		t.Errorf("state while the PBX is down: %+v", s)
	}

	for len(pbx.options) > 0 {
		<-pbx.options // answered before the restart
	}
	registered := l.watchNote("phone1", "registered as 1001")
	pbx.start()
	l.wait(registered, "registered again after the PBX restart")
	if got := within(t, pbx.regs, "REGISTER retry").GetHeader("Expires").Value(); got != "120" {
		t.Errorf("REGISTER to the restarted PBX: Expires %s", got)
	}
	within(t, pbx.options, "keep-alive OPTIONS after the restart")
	if s := p.State(); !s.Registered {
		t.Errorf("state %+v", s)
	}
}

// within receives from ch or fails after waitLimit.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
