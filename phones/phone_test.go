package phones

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

var phone1IP = netip.MustParseAddr("127.20.1.1")

func TestNewValidates(t *testing.T) {
	l := newTestLab(t)
	nd := l.node("phone1", phone1IP)
	m, _ := LookupModel("7434")
	cfg, err := ParseConfig("1001.cfg", strings.NewReader("sip line1 user name: 1001\nsip recording port: 5070\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(nd, m, cfg, Options{PBX: pbxAddr}); err == nil || !strings.Contains(err.Error(), "fixed recording port 7300") {
		t.Fatalf("New with a moved fixed port: err %v, want the fixed-port error", err)
	}
	cfg, _ = ParseConfig("1001.cfg", strings.NewReader(cfg7434))
	if _, err := New(nd, m, cfg, Options{PBX: pbxAddr, RTPPort: 40001}); err == nil || !strings.Contains(err.Error(), "odd") {
		t.Fatalf("New with an odd RTP port: err %v", err)
	}
	if _, err := New(nd, m, cfg, Options{}); err == nil || !strings.Contains(err.Error(), "registrar ip") {
		t.Fatalf("New without a PBX: err %v, want the registrar error", err)
	}
	p, err := New(nd, m, cfg, Options{PBX: pbxAddr})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Registrar.IsValid() {
		t.Fatal("New changed the caller's Config")
	}
	if got, want := p.UserAgent(), "Mitel 7434 MAC:08000F140101 V:"+defaultFirmware; got != want {
		t.Fatalf("User-Agent %q, want %q", got, want)
	}
	if err := p.Register(ctxT(t)); err == nil || err.Error() != "phones: 1001 is powered off" {
		t.Fatalf("Register while off: %v", err)
	}
}

func TestRegisterAndUnregister(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	w := l.watchNote("phone1", "registered as 1001 (expires 120s)")
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	l.wait(w, "registered note")
	if !p.State().Registered {
		t.Fatal("not registered after 200")
	}
	req := pbx.lastRegister()
	checks := []struct{ name, got, want string }{
		{"Request-URI", req.Recipient.String(), "sip:127.20.0.1"},
		{"From", req.From().Address.String(), "sip:1001@127.20.0.1"},
		{"To", req.To().Address.String(), "sip:1001@127.20.0.1"},
		{"Contact", req.Contact().Address.String(), "sip:1001@127.20.1.1:5060"},
		{"Expires", req.GetHeader("Expires").Value(), "120"},
		{"User-Agent", req.GetHeader("User-Agent").Value(), p.UserAgent()},
		{"source", req.Source(), "127.20.1.1:5060"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("REGISTER %s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if err := p.Unregister(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := pbx.lastRegister().GetHeader("Expires").Value(); got != "0" {
		t.Fatalf("un-REGISTER Expires %q, want 0", got)
	}
	if p.State().Registered {
		t.Fatal("registered after Unregister")
	}
	if err := p.Unregister(ctxT(t)); err == nil || err.Error() != "phones: 1001 is not registered" {
		t.Fatalf("second Unregister: %v", err)
	}

	pbx.status.Store(403)
	err := p.Register(ctxT(t))
	if err == nil || err.Error() != "phones: 1001 register: 403 Forbidden" {
		t.Fatalf("refused Register: err %v", err)
	}
	if p.State().Registered {
		t.Fatal("registered after 403")
	}
}

// upCall registers p and dials 1002 at the fake PBX, which answers with
// media at 127.20.0.1:30000; it returns once the phone is talking.
func upCall(t *testing.T, l *testLab, p *Phone) {
	t.Helper()
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	w := l.watchNote(p.Name(), "talking with 1002")
	if err := p.Dial(ctxT(t), "1002"); err != nil {
		t.Fatal(err)
	}
	l.wait(w, "talking")
	if s := p.State(); s.Call != CallTalking || s.Remote != "1002" {
		t.Fatalf("state %+v, want talking with 1002", s)
	}
}

// startRecording runs INVITE → 200 → ACK from the recorder and returns the
// dialog and the phone's answer.
func startRecording(t *testing.T, l *testLab, rec *fakeRecorder, p *Phone, sessID uint64) (*sipgo.DialogClientSession, media.RecordingAnswer) {
	t.Helper()
	dlg := rec.invite(ctxT(t), p, sessID)
	if err := dlg.WaitAnswer(ctxT(t), sipgo.AnswerOptions{}); err != nil {
		t.Fatalf("recording INVITE: %v", err)
	}
	body := dlg.InviteResponse.Body()
	ans, err := media.ParseRecordingAnswerMedia(body) // checks two sendonly m= lines
	if err != nil {
		t.Fatalf("phone's recording answer: %v\n%s", err, body)
	}
	if n := bytes.Count(body, []byte("a=sendonly")); n != 2 {
		t.Fatalf("answer has %d a=sendonly, want 2:\n%s", n, body)
	}
	if dlg.InviteResponse.Source() != p.RecordingAddr().String() {
		t.Fatalf("200 OK came from %s, want %s", dlg.InviteResponse.Source(), p.RecordingAddr())
	}
	if err := dlg.Ack(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return dlg, ans
}

func TestRecordingSessionForksRTP(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	upCall(t, l, p)

	// The far end talks to the phone, so there is something to fork to rx.
	stop := make(chan struct{})
	defer close(stop)
	go rtpSender(pbx.rtp, p.RTPAddr(), media.PCMA, stop)
	phoneSSRC := collect(t, pbx.rtp, 1)[0].h.SSRC

	if s := p.State(); s.Recording != RecIdle {
		t.Fatalf("recording %s before INVITE", s.Recording)
	}
	w := l.watchNote("phone1", "forking to recorder tx 127.20.0.2:20000 / rx 127.20.0.2:20002")
	dlg, ans := startRecording(t, l, rec, p, 4711)
	if ans.Codec != media.PCMA {
		t.Fatalf("answer codec %s, want PCMA (the call's)", ans.Codec)
	}
	l.wait(w, "forking note")
	if s := p.State(); s.Recording != RecForking || s.RecordingSessions != 1 {
		t.Fatalf("state %+v, want forking, 1 session", s)
	}

	txPkts := collect(t, rec.tx, 25)
	rxPkts := collect(t, rec.rx, 25)
	txSSRC := checkStream(t, "tx", txPkts)
	rxSSRC := checkStream(t, "rx", rxPkts)
	if txSSRC == rxSSRC || txSSRC == phoneSSRC || rxSSRC == 0xFEED0001 || rxSSRC == phoneSSRC {
		t.Fatalf("forked SSRCs tx %08x rx %08x must differ from each other and from the call's (%08x, %08x)", txSSRC, rxSSRC, phoneSSRC, 0xFEED0001)
	}
	for _, pk := range append(txPkts, rxPkts...) {
		if pk.src != p.RTPAddr() {
			t.Fatalf("forked packet from %s, want the call socket %s", pk.src, p.RTPAddr())
		}
	}

	// UPDATE keep-alive (spec §3.2.2).
	target := dlg.InviteResponse.Contact().Address
	res, err := dlg.Do(ctxT(t), sip.NewRequest(sip.UPDATE, target))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("UPDATE: %v %v", res, err)
	}

	// Re-INVITE as session refresher: 200 with the same answer.
	reinv := sip.NewRequest(sip.INVITE, target)
	reinv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	reinv.SetBody(rec.offer(4711))
	res, err = dlg.Do(ctxT(t), reinv)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("re-INVITE: %v %v", res, err)
	}
	if !bytes.Equal(res.Body(), dlg.InviteResponse.Body()) {
		t.Fatalf("re-INVITE answer differs:\n%s\nfirst:\n%s", res.Body(), dlg.InviteResponse.Body())
	}
	if s := p.State(); s.Recording != RecForking {
		t.Fatalf("recording %s after re-INVITE", s.Recording)
	}

	// BYE stops forking: the forked tx stream goes quiet while the call's
	// own RTP goes on.
	stopped := l.watchStream(sim.KindStreamStop, p.RTPAddr(), rec.tx.LocalAddrPort())
	if err := dlg.Bye(ctxT(t)); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	l.wait(stopped, "forked stream to stop")
	if s := p.State(); s.Recording != RecIdle {
		t.Fatalf("recording %s after BYE", s.Recording)
	}
	before := p.Stats()
	eventually(t, "10 more call packets", func() bool { return p.Stats().Sent >= before.Sent+10 })
	if after := p.Stats(); after.ForkedTX != before.ForkedTX || after.ForkedRX != before.ForkedRX {
		t.Fatalf("forking went on after BYE: %+v then %+v", before, after)
	}

	if err := p.HangUp(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if id := <-pbx.byes; id == "" {
		t.Fatal("PBX got no BYE")
	}
	if s := p.State(); s.Call != CallIdle {
		t.Fatalf("call %s after HangUp", s.Call)
	}
}

func TestRecordingRefusedFromRogue(t *testing.T) {
	l := newTestLab(t)
	l.newPBX()
	rogue := l.newRecorder("rogue", rogueIP)
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	upCall(t, l, p)

	w := l.watchNote("phone1", "refused INVITE from 127.20.9.9")
	dlg := rogue.invite(ctxT(t), p, 1)
	err := dlg.WaitAnswer(ctxT(t), sipgo.AnswerOptions{})
	var refused *sipgo.ErrDialogResponse
	if !errors.As(err, &refused) || refused.Res.StatusCode != 403 {
		t.Fatalf("rogue INVITE: %v, want 403", err)
	}
	l.wait(w, "refusal note")
	before := p.Stats()
	eventually(t, "10 more call packets", func() bool { return p.Stats().Sent >= before.Sent+10 })
	if s := p.State(); s.Recording != RecIdle || s.Media.ForkedTX != 0 || s.Media.ForkedRX != 0 {
		t.Fatalf("state after refusal %+v", s)
	}
	for _, e := range l.net.Trace().Recent() {
		if e.Dst.Addr() == rogueIP && e.Proto == sim.ProtoRTP {
			t.Fatalf("RTP reached the rogue: %s", e)
		}
	}
}

func TestLoggedOffPhoneIgnoresInvite(t *testing.T) {
	l := newTestLab(t)
	rec := l.newRecorder("recorder", recorderIP)
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434) // powered on, never registered

	first := l.watchNote("phone1", "ignored INVITE: logged off")
	dlg := rec.invite(ctxT(t), p, 1)
	l.wait(first, "first ignore note")
	// The recorder's transaction retransmits after T1; the phone ignores
	// that too. By then any response to the first would have been sent.
	second := l.watchNote("phone1", "ignored INVITE: logged off")
	l.wait(second, "ignore note for the retransmission")
	for _, e := range l.net.Trace().Recent() {
		if e.Kind == sim.KindMessage && e.Src == p.RecordingAddr() {
			t.Fatalf("logged-off phone answered: %s", e)
		}
	}
	if s := p.State(); s.Recording != RecIdle {
		t.Fatalf("recording %s", s.Recording)
	}
	_ = dlg
}

func TestRecordingPorts(t *testing.T) {
	l := newTestLab(t)
	l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)

	fixed := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if got := fixed.RecordingAddr(); got != netip.MustParseAddrPort("127.20.1.1:7300") {
		t.Fatalf("7434 recording address %s", got)
	}
	if got := fixed.SIPAddr(); got != netip.MustParseAddrPort("127.20.1.1:5060") {
		t.Fatalf("7434 SIP address %s", got)
	}
	for _, port := range []uint16{5060, 7300} {
		if c, err := fixed.Node().ListenPacket(port); err == nil {
			c.Close()
			t.Fatalf("7434 does not hold port %d", port)
		}
	}

	own := l.newPhone("phone2", netip.MustParseAddr("127.20.1.2"), "6867i",
		"sip line1 user name: 1002\nsip local port: 5070\nrecording allowed ip: 127.20.0.2\n")
	want := netip.MustParseAddrPort("127.20.1.2:5070")
	if own.RecordingAddr() != want || own.SIPAddr() != want {
		t.Fatalf("6867i addresses: recording %s, SIP %s, want both %s", own.RecordingAddr(), own.SIPAddr(), want)
	}
	if c, err := own.Node().ListenPacket(7300); err != nil {
		t.Fatalf("6867i holds 7300: %v", err)
	} else {
		c.Close()
	}

	// The 6867i takes the recording INVITE on its one SIP port. With no call
	// the session waits (static mapping) and forks the next call.
	if err := own.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	w := l.watchNote("phone2", "from the next call")
	_, _ = startRecording(t, l, rec, own, 99)
	l.wait(w, "session up with no call")
	if own.State().Recording != RecForking {
		t.Fatalf("recording %s", own.State().Recording)
	}
	started := l.watchStream(sim.KindStreamStart, own.RTPAddr(), rec.tx.LocalAddrPort())
	forkNote := l.watchNote("phone2", "forking to recorder tx 127.20.0.2:20000")
	upCall(t, l, own)
	l.wait(forkNote, "forking note at call start")
	l.wait(started, "forked tx stream")
	checkStream(t, "tx", collect(t, rec.tx, 10))
}

func TestIncomingCall(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Answer(); err == nil || err.Error() != "phones: 1001 is not ringing" {
		t.Fatalf("Answer while idle: %v", err)
	}
	ringing := l.watchNote("phone1", "ringing from 1002")
	dlg, err := pbx.call(ctxT(t), "1002", p)
	if err != nil {
		t.Fatal(err)
	}
	l.wait(ringing, "ringing")
	if s := p.State(); s.Call != CallRinging || s.Remote != "1002" {
		t.Fatalf("state %+v, want ringing from 1002", s)
	}
	talking := l.watchNote("phone1", "talking with 1002")
	if err := p.Answer(); err != nil {
		t.Fatal(err)
	}
	if err := p.Answer(); err == nil {
		t.Fatal("second Answer succeeded")
	}
	if err := dlg.WaitAnswer(ctxT(t), sipgo.AnswerOptions{}); err != nil {
		t.Fatal(err)
	}
	answer, err := media.ParseCall(dlg.InviteResponse.Body())
	if err != nil || answer.Remote != p.RTPAddr() || answer.Codec != media.PCMA {
		t.Fatalf("phone's answer %+v, %v", answer, err)
	}
	if err := dlg.Ack(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	l.wait(talking, "talking")
	collect(t, pbx.rtp, 5) // the phone's tone arrives

	ended := l.watchNote("phone1", "call with 1002 ended by the far end")
	if err := dlg.Bye(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	l.wait(ended, "call end")
	if s := p.State(); s.Call != CallIdle || s.Calls != 1 {
		t.Fatalf("state %+v", s)
	}
}

// TestIncomingCallDeclined declines once the phone has said it rings (its
// 180 is out), then the moment it publishes the ringing state, which may
// be before its INVITE handler has sent the 180: the loop queues 180 then
// 603 for the handler, and the PBX gets the 603 either way.
func TestIncomingCallDeclined(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ringingNote := func() *sim.Watch { return l.watchNote("phone1", "ringing from 1003") }
	ringingState := func() *sim.Watch {
		return sim.WatchState(l.net.Trace(), func(s CallChanged) bool { return s.Phone == "phone1" && s.State == CallRinging })
	}
	for _, watch := range []func() *sim.Watch{ringingNote, ringingState, ringingState} {
		ringing := watch()
		idle := sim.WatchState(l.net.Trace(), func(s CallChanged) bool { return s.Phone == "phone1" && s.State == CallIdle })
		dlg, err := pbx.call(ctxT(t), "1003", p)
		if err != nil {
			t.Fatal(err)
		}
		l.wait(ringing, "ringing")
		if err := p.HangUp(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		err = dlg.WaitAnswer(ctxT(t), sipgo.AnswerOptions{})
		var refused *sipgo.ErrDialogResponse
		if !errors.As(err, &refused) || refused.Res.StatusCode != 603 {
			t.Fatalf("declined call: %v, want 603", err)
		}
		l.wait(idle, "idle state")
		if s := p.State(); s.Call != CallIdle {
			t.Fatalf("call %s after decline", s.Call)
		}
	}
}

func TestDialRefused(t *testing.T) {
	l := newTestLab(t)
	l.newPBX()
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if err := p.Dial(ctxT(t), "1009"); err == nil || err.Error() != "phones: 1001 is not registered" {
		t.Fatalf("Dial unregistered: %v", err)
	}
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	failed := l.watchError("phone1", "call to 1009 failed: 404 Not Found")
	if err := p.Dial(ctxT(t), "1009"); err != nil {
		t.Fatal(err)
	}
	l.wait(failed, "404 in the trace")
	eventually(t, "call to end", func() bool { return p.State().Call == CallIdle })
	if s := p.State(); s.CallError != "404 Not Found" {
		t.Fatalf("CallError %q", s.CallError)
	}
}

func TestForcedLogOffSendsBye(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	dlg, _ := startRecording(t, l, rec, p, 5)
	l.awaitRecording(p, RecForking)
	// RFC 3311 §5.1: the phone that takes UPDATE advertises it; RFC 3261
	// §20.37: and says which extensions it supports (none).
	if a := dlg.InviteResponse.GetHeader("Allow"); a == nil || !strings.Contains(a.Value(), "UPDATE") || !strings.Contains(a.Value(), "BYE") {
		t.Errorf("recording 200 OK Allow: %v", a)
	}
	if dlg.InviteResponse.GetHeader("Supported") == nil {
		t.Error("recording 200 OK has no Supported header")
	}

	res, err := pbx.notifyLogOff(ctxT(t), p)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("NOTIFY: %v %v", res, err)
	}
	bye := <-rec.byes
	if bye.CallID().Value() != dlg.InviteRequest.CallID().Value() {
		t.Fatalf("BYE for Call-ID %s, want %s", bye.CallID().Value(), dlg.InviteRequest.CallID().Value())
	}
	if bye.Source() != p.RecordingAddr().String() {
		t.Fatalf("BYE from %s, want the recording stack %s", bye.Source(), p.RecordingAddr())
	}
	if s := p.State(); s.Registered || s.Recording != RecIdle {
		t.Fatalf("state after forced log-off %+v", s)
	}
	ignored := l.watchNote("phone1", "ignored INVITE: logged off")
	rec.invite(ctxT(t), p, 6)
	l.wait(ignored, "INVITE ignored after forced log-off")

	// The same story in typed state events, each with its cause: what the
	// TUI, the stories and other tests act on instead of note wording.
	var got []string
	for _, e := range l.net.Trace().Recent() {
		switch st := e.State.(type) {
		case RegistrationState:
			got = append(got, fmt.Sprintf("registered=%v (%s)", st.Registered, st.Cause))
		case RecordingState:
			got = append(got, fmt.Sprintf("%s (%s)", st.State, st.Cause))
			if st.State == RecForking && (!st.TX.IsValid() || !st.RX.IsValid()) {
				t.Errorf("forking state without its targets: %+v", st)
			}
		}
	}
	want := "registered=true (200 OK, expires 120s) | offered (INVITE) | forking (ACK) | " +
		"registered=false (forced log-off by the PBX (deactivated) (spec §3.2.3)) | idle (logged-off)"
	if strings.Join(got, " | ") != want {
		t.Errorf("state events:\n got %s\nwant %s", strings.Join(got, " | "), want)
	}
}

func TestUnregisterSendsByePowerOffDoesNot(t *testing.T) {
	l := newTestLab(t)
	l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	startRecording(t, l, rec, p, 5)
	l.awaitRecording(p, RecForking)
	if err := p.Unregister(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if bye := <-rec.byes; bye == nil {
		t.Fatal("no BYE on Unregister")
	}

	// Power cut with a call and a session up: nothing leaves the phone.
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	upCall(t, l, p)
	startRecording(t, l, rec, p, 6)
	l.awaitRecording(p, RecForking)
	var last uint64
	for _, e := range l.net.Trace().Recent() {
		last = e.Seq
	}
	off := l.watchNote("phone1", "powered off")
	p.PowerOff()
	l.wait(off, "powered off")
	for _, e := range l.net.Trace().Recent() {
		if e.Seq > last && e.Kind == sim.KindMessage && e.Src.Addr() == phone1IP {
			t.Fatalf("phone sent after the power cut: %s", e)
		}
	}
	select {
	case b := <-rec.byes:
		t.Fatalf("BYE after power cut: %s", b.StartLine())
	default:
	}
	if s := p.State(); s.Powered || s.Registered || s.Call != CallIdle || s.Recording != RecIdle {
		t.Fatalf("state after power cut %+v", s)
	}
	for _, port := range []uint16{5060, 7300, 40000} {
		c, err := p.Node().ListenPacket(port)
		if err != nil {
			t.Fatalf("port %d still held after power off: %v", port, err)
		}
		c.Close()
	}
	// And it comes back.
	if err := p.PowerOn(); err != nil {
		t.Fatal(err)
	}
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicateInviteAnsweredOnce(t *testing.T) {
	l := newTestLab(t)
	l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	first := rec.invite(ctxT(t), p, 42)
	if err := first.WaitAnswer(ctxT(t), sipgo.AnswerOptions{}); err != nil {
		t.Fatal(err)
	}
	// Spec §3.2.1: the recorder, not having seen the answer in time, sends
	// the INVITE again with a new Call-ID and the same session id.
	dup := l.watchNote("phone1", "repeats session id 42")
	second := rec.invite(ctxT(t), p, 42)
	l.wait(dup, "duplicate note")
	up := l.watchNote("phone1", "recording session up")
	if err := first.Ack(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	l.wait(up, "session up on the first INVITE's ACK")
	secondID := second.InviteRequest.CallID().Value()
	for _, e := range l.net.Trace().Recent() {
		if e.Kind == sim.KindMessage && e.Src == p.RecordingAddr() && bytes.Contains(e.Bytes, []byte(secondID)) {
			t.Fatalf("phone answered the duplicate: %s", e)
		}
	}
}

// pumpSockets is a test lab with a call's RTP socket and a far end's.
func pumpSockets(t *testing.T) (l *testLab, conn, far *sim.PacketConn) {
	t.Helper()
	l = newTestLab(t)
	a := l.node("a", phone1IP)
	b := l.node("b", pbxIP)
	conn, err := a.ListenPacket(40000)
	if err != nil {
		t.Fatal(err)
	}
	if far, err = b.ListenPacket(30000); err != nil {
		t.Fatal(err)
	}
	return l, conn, far
}

func TestMediaPumpDoesNotAllocate(t *testing.T) {
	l, conn, far := pumpSockets(t)
	var fork atomic.Pointer[forkTargets]
	fork.Store(newForkTargets(netip.AddrPortFrom(pbxIP, 20000), netip.AddrPortFrom(pbxIP, 20002)))
	var count mediaCounters
	m, _ := newMediaPump(mediaParams{conn: conn, remote: far.LocalAddrPort(), codec: media.PCMA, send: true, toneHz: 440,
		fork: &fork, count: &count, now: l.net.Now, clock: l.net.Clock()})
	if n := leastAllocs(func() { m.sendFrame(false) }); n != 0 {
		t.Fatalf("sendFrame allocates %.1f per packet", n)
	}
	pkt := append([]byte(nil), m.out[:]...)
	src := far.LocalAddrPort()
	if n := leastAllocs(func() { m.received(pkt, src) }); n != 0 {
		t.Fatalf("received allocates %.1f per packet", n)
	}
	if s := count.snapshot(); s.Sent == 0 || s.ForkedTX != s.Sent || s.Received == 0 || s.ForkedRX != s.Received {
		t.Fatalf("counters %+v", s)
	}
}

// Spec §1.3: an SRTP call protects, unprotects and forks (byte for byte,
// or re-protected with the recorder's keys) without allocating per packet.
func TestMediaPumpSRTPDoesNotAllocate(t *testing.T) {
	for _, recorderKeys := range []bool{false, true} {
		t.Run(fmt.Sprintf("recorder-keys=%v", recorderKeys), func(t *testing.T) {
			l, conn, far := pumpSockets(t)
			key := func() media.SDESKey {
				k, err := media.NewSDESKey(1, media.AEADAES128GCM)
				if err != nil {
					t.Fatal(err)
				}
				return k
			}
			ours := key()
			var fork atomic.Pointer[forkTargets]
			ft := newForkTargets(netip.AddrPortFrom(pbxIP, 20000), netip.AddrPortFrom(pbxIP, 20002))
			if recorderKeys {
				if err := ft.withKeys(key(), key()); err != nil {
					t.Fatal(err)
				}
			}
			fork.Store(ft)
			var count mediaCounters
			// The far end's key is ours, so what we send comes back as what we receive.
			m, err := newMediaPump(mediaParams{conn: conn, remote: far.LocalAddrPort(), codec: media.PCMA, send: true, toneHz: 440,
				fork: &fork, count: &count, now: l.net.Now, clock: l.net.Clock(), ssrc: 77, txKey: ours, rxKey: ours})
			if err != nil {
				t.Fatal(err)
			}
			if n := leastAllocs(func() { m.sendFrame(false) }); n != 0 {
				t.Fatalf("sendFrame allocates %.1f per packet", n)
			}
			pkt := append([]byte(nil), m.wire[:media.HeaderSize+media.FrameSamples+m.txSRTP.Overhead()]...)
			src := far.LocalAddrPort()
			if n := leastAllocs(func() { m.received(pkt, src) }); n != 0 {
				t.Fatalf("received allocates %.1f per packet", n)
			}
			if s := count.snapshot(); s.Sent == 0 || s.ForkedTX != s.Sent || s.Received == 0 || s.ForkedRX != s.Received {
				t.Fatalf("counters %+v", s)
			}
		})
	}
}

func TestHangUpWhileDialingCancels(t *testing.T) {
	l := newTestLab(t)
	l.newPBX()
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ringing := l.watchNote("phone1", "1008 is ringing")
	if err := p.Dial(ctxT(t), "1008"); err != nil {
		t.Fatal(err)
	}
	l.wait(ringing, "ringback")
	if s := p.State(); s.Call != CallDialing || s.Remote != "1008" {
		t.Fatalf("state %+v, want dialing 1008", s)
	}
	cancelled := l.watchNote("phone1", "call to 1008 cancelled")
	if err := p.HangUp(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	l.wait(cancelled, "cancel note")
	sawCancel := false
	for _, e := range l.net.Trace().Recent() {
		if e.Kind == sim.KindMessage && e.Src == p.SIPAddr() && strings.HasPrefix(e.Summary, "CANCEL") {
			sawCancel = true
		}
	}
	if !sawCancel {
		t.Fatal("no CANCEL sent")
	}
	if s := p.State(); s.Call != CallIdle || s.CallError != "" {
		t.Fatalf("state %+v after cancel", s)
	}
}

func TestRecordingBadOfferAndWrongPort(t *testing.T) {
	l := newTestLab(t)
	l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// A call offer (one m= line) is no recording offer: 488 and an error in
	// the trace; the phone goes on.
	bad, _ := media.CallOffer(1, recorderIP, 20000, []media.Codec{media.PCMA})
	problem := l.watchError("phone1", "recording INVITE: sdp")
	dlg := rec.inviteTo(ctxT(t), p.Ext(), p.RecordingAddr(), bad)
	err := dlg.WaitAnswer(ctxT(t), sipgo.AnswerOptions{})
	var refused *sipgo.ErrDialogResponse
	if !errors.As(err, &refused) || refused.Res.StatusCode != 488 {
		t.Fatalf("bad offer: %v, want 488", err)
	}
	l.wait(problem, "error in the trace")

	// A recording INVITE to the 7434's SIP port instead of 7300: 403.
	dlg = rec.inviteTo(ctxT(t), p.Ext(), p.SIPAddr(), rec.offer(3))
	err = dlg.WaitAnswer(ctxT(t), sipgo.AnswerOptions{})
	if !errors.As(err, &refused) || refused.Res.StatusCode != 403 {
		t.Fatalf("INVITE on the SIP port: %v, want 403", err)
	}

	// And a good one still works.
	startRecording(t, l, rec, p, 4)
	l.awaitRecording(p, RecForking)
}

func TestRegistrationRefreshAndRefusal(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)
	// "sip registration period: 2": the PBX grants 2s, the phone refreshes
	// after 1s (docs/wire.md: half the granted expiry).
	p := l.newPhoneOpts("phone1", phone1IP, "7434", cfg7434+"sip registration period: 2\n", Options{PBX: pbxAddr})
	refreshed := l.watchNote("phone1", "registration refreshed (expires 2s)")
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := pbx.lastRegister().GetHeader("Expires").Value(); got != "2" {
		t.Fatalf("Expires %q, want the configured 2", got)
	}
	startRecording(t, l, rec, p, 8)
	l.wait(refreshed, "refresh")
	pbx.mu.Lock()
	first := pbx.registers[0]
	pbx.mu.Unlock()
	second := pbx.lastRegister()
	if first.CallID().Value() != second.CallID().Value() || second.CSeq().SeqNo != first.CSeq().SeqNo+1 {
		t.Fatalf("refresh: Call-ID %s CSeq %d after %s %d, want the same Call-ID and CSeq+1",
			second.CallID().Value(), second.CSeq().SeqNo, first.CallID().Value(), first.CSeq().SeqNo)
	}

	// docs/wire.md: after a forced log-off the PBX refuses the refresh; the
	// phone is logged off and ends its recording session with BYE.
	pbx.status.Store(403)
	lost := l.watchNote("phone1", "registration refresh refused: 403 Forbidden")
	l.wait(lost, "refused refresh")
	if bye := <-rec.byes; bye == nil {
		t.Fatal("no BYE after the refused refresh")
	}
	if s := p.State(); s.Registered || s.Recording != RecIdle {
		t.Fatalf("state %+v", s)
	}
}

func TestIncomingCallCancelled(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ringing := l.watchNote("phone1", "ringing from 1002")
	dlg, err := pbx.call(ctxT(t), "1002", p)
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { answered <- dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}) }()
	l.wait(ringing, "ringing")
	cancelled := l.watchNote("phone1", "call from 1002 cancelled")
	cancel() // WaitAnswer sends CANCEL
	l.wait(cancelled, "cancel note")
	<-answered
	if s := p.State(); s.Call != CallIdle {
		t.Fatalf("call %s after CANCEL", s.Call)
	}
	if err := p.Answer(); err == nil {
		t.Fatal("Answer after CANCEL succeeded")
	}
}

// BenchmarkSendFrameForked is one 20 ms packet of a forked call: tone,
// encode, send, rewrite, send the copy.
func BenchmarkSendFrameForked(b *testing.B) {
	n, err := sim.NewNetwork(sim.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	a, _ := n.AddNode("a", phone1IP)
	far, _ := n.AddNode("b", pbxIP)
	conn, err := a.ListenPacket(40000)
	if err != nil {
		b.Fatal(err)
	}
	sink, err := far.ListenPacket(30000)
	if err != nil {
		b.Fatal(err)
	}
	var fork atomic.Pointer[forkTargets]
	fork.Store(newForkTargets(netip.AddrPortFrom(pbxIP, 20000), netip.AddrPortFrom(pbxIP, 20002)))
	var count mediaCounters
	m, _ := newMediaPump(mediaParams{conn: conn, remote: sink.LocalAddrPort(), codec: media.PCMA, send: true, toneHz: 440,
		fork: &fork, count: &count, now: n.Now, clock: n.Clock()})
	b.ReportAllocs()
	for b.Loop() {
		m.sendFrame(false)
	}
}

// leastAllocs is the fewest allocations per call of f in three runs of
// testing.AllocsPerRun(200, f). AllocsPerRun counts every goroutine's
// allocations, so another test's leftovers on a loaded machine can add to
// one run; an allocation of f's own shows in all three.
func leastAllocs(f func()) float64 {
	least := testing.AllocsPerRun(200, f)
	for range 2 {
		least = min(least, testing.AllocsPerRun(200, f))
	}
	return least
}
