package phones

import (
	"net/netip"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/reclab/reclab/internal/labtest"
	"github.com/reclab/reclab/sim"
)

// admit, one rule at a time (RFC 3261 §12.2.2).
func TestRecDialogAdmit(t *testing.T) {
	peer := netip.MustParseAddrPort("127.20.0.2:5060")
	d := &recDialog{id: "cid__us__them", peer: peer, remoteCSeq: 5, inviteCSeq: 5}
	for _, tc := range []struct {
		name   string
		method sip.RequestMethod
		id     string
		cseq   uint32
		src    netip.AddrPort
		want   int
	}{
		{"the recorder's UPDATE", sip.UPDATE, d.id, 6, peer, 0},
		{"a repeat of that CSeq", sip.UPDATE, d.id, 6, peer, 500},
		{"a lower CSeq", sip.BYE, d.id, 1, peer, 500},
		{"another port of the recorder's address", sip.BYE, d.id, 7, netip.MustParseAddrPort("127.20.0.2:5099"), 403},
		{"invented tags", sip.BYE, "cid__x__y", 7, peer, 481},
		{"the ACK of the INVITE", sip.ACK, d.id, 5, peer, 0},
		{"an ACK of nothing", sip.ACK, d.id, 9, peer, 400},
		{"a re-INVITE", sip.INVITE, d.id, 7, peer, 0},
		{"its ACK", sip.ACK, d.id, 7, peer, 0},
		{"the recorder's BYE", sip.BYE, d.id, 8, peer, 0},
	} {
		if code, why := d.admit(tc.method, tc.id, tc.cseq, tc.src); code != tc.want {
			t.Errorf("%s: %d (%s), want %d", tc.name, code, why, tc.want)
		}
	}
}

// Forged in-dialog requests from lab addresses (issue 11 item 3): from the
// recorder's IP but another port, with invented tags, with an old CSeq; a
// NOTIFY from the PBX's IP but another port. Each is refused, and forking
// and the registration go on.
func TestForgedInDialogRequestsRefused(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	dlg, _ := startRecording(t, l, rec, p, 5)
	l.awaitRecording(p, RecForking)
	callID, fromTag, toTag, cseq := dialogIDs(&dlg.Dialog)

	forger, err := rec.node.StartSIP(5099, "forger", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	sendForgeries(t, map[string]*sim.SIPStack{"recorder": rec.stack, "forger": forger}, p.RecordingAddr(), callID, []forgery{
		{"BYE from the recorder's IP but another port, invented tags, CSeq 1", "forger", sip.BYE, "x", "y", 1, 403},
		{"BYE from another port with the dialog's own tags", "forger", sip.BYE, fromTag, toTag, cseq + 1, 403},
		{"BYE from the recorder's socket with invented tags", "recorder", sip.BYE, "x", "y", cseq + 1, 481},
		{"UPDATE from the recorder's socket with an old CSeq", "recorder", sip.UPDATE, fromTag, toTag, cseq, 500},
	}, func(name string) {
		if s := p.State(); s.Recording != RecForking {
			t.Fatalf("after %s: recording session %s, want still forking", name, s.Recording)
		}
	})

	// A NOTIFY that would log the phone off, from the PBX's IP but not its
	// SIP port.
	notifier, err := pbx.node.StartSIP(5098, "notifier", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer notifier.Close()
	contact := p.SIPAddr()
	req := sip.NewRequest(sip.NOTIFY, sip.Uri{User: p.Ext(), Host: contact.Addr().String(), Port: int(contact.Port())})
	req.AppendHeader(sip.NewHeader("Event", "reg"))
	req.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=deactivated"))
	req.SetDestination(contact.String())
	res, err := notifier.Client.Do(ctxT(t), req)
	if err != nil || res.StatusCode != 403 {
		t.Fatalf("NOTIFY from %s: %v %v, want 403", notifier.Addr, res, err)
	}
	if s := p.State(); !s.Registered || s.Recording != RecForking {
		t.Fatalf("after the forged NOTIFY: %+v", s)
	}

	// The recorder's own keep-alive is still served: the session is whole.
	upd := sip.NewRequest(sip.UPDATE, dlg.InviteResponse.Contact().Address)
	res, err = dlg.Do(ctxT(t), upd)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the recorder's UPDATE after the forgeries: %v %v", res, err)
	}
}

// Forged in-dialog requests against a call dialog (issue 11 item 3, RFC
// 3261 §12.2.2): the dialog's own Call-ID and tags from the PBX's IP on
// another port or from another lab host get 403; invented tags from the
// PBX's own socket 481; a CSeq below the last one the PBX sent 500. The
// call goes on through all of them and ends when the phone hangs up.
func TestForgedCallRequestsRefused(t *testing.T) {
	l := newTestLab(t)
	pbx := l.newPBX()
	rec := l.newRecorder("recorder", recorderIP)
	p := l.newPhone("phone1", phone1IP, "7434", cfg7434)
	if err := p.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ringing := l.watchNote("phone1", "ringing from 1002")
	dlg, err := pbx.call(ctxT(t), "1002", p)
	if err != nil {
		t.Fatal(err)
	}
	l.wait(ringing, "ringing")
	talking := l.watchNote("phone1", "talking with 1002")
	if err := p.Answer(); err != nil {
		t.Fatal(err)
	}
	if err := dlg.WaitAnswer(ctxT(t), sipgo.AnswerOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := dlg.Ack(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	l.wait(talking, "talking")
	callID, pbxTag, phoneTag, seq := dialogIDs(&dlg.Dialog)

	forger, err := pbx.node.StartSIP(5098, "forger", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	stacks := map[string]*sim.SIPStack{"pbx": pbx.stack, "forger": forger, "recorder": rec.stack}
	sendForgeries(t, stacks, p.SIPAddr(), callID, []forgery{
		{"BYE from the PBX's IP but another port, the dialog's tags", "forger", sip.BYE, pbxTag, phoneTag, seq + 2, 403},
		{"BYE from another lab host, the dialog's tags", "recorder", sip.BYE, pbxTag, phoneTag, seq + 2, 403},
		{"UPDATE from another port, the dialog's tags", "forger", sip.UPDATE, pbxTag, phoneTag, seq + 2, 403},
		{"BYE from the PBX's socket with invented tags", "pbx", sip.BYE, "x", "y", seq + 2, 481},
		{"BYE from the PBX's socket with the caller's tag and an invented one", "pbx", sip.BYE, pbxTag, "y", seq + 2, 481},
		{"UPDATE from the PBX's socket in the dialog", "pbx", sip.UPDATE, pbxTag, phoneTag, seq + 2, 200},
		{"BYE from the PBX's socket with a CSeq below that UPDATE's", "pbx", sip.BYE, pbxTag, phoneTag, seq + 1, 500},
	}, func(name string) {
		if s := p.State(); s.Call != CallTalking {
			t.Fatalf("after %s: call %s, want still talking", name, s.Call)
		}
	})
	collect(t, pbx.rtp, 5) // the phone still sends its tone

	idle := sim.WatchState(l.net.Trace(), func(s CallChanged) bool { return s.Phone == "phone1" && s.State == CallIdle })
	if err := p.HangUp(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	l.wait(idle, "call end")
}

// forgery is one forged in-dialog request: its name, the stack it is sent
// from, its method, tags and CSeq, and the answer it must get.
type forgery struct {
	name, stack string
	method      sip.RequestMethod
	ftag, ttag  string
	seq         uint32
	want        int
}

// sendForgeries sends each forgery in the dialog callID to dst from its
// stack, checks its answer, and runs after to check nothing changed.
func sendForgeries(t *testing.T, stacks map[string]*sim.SIPStack, dst netip.AddrPort, callID string, fs []forgery, after func(name string)) {
	t.Helper()
	for _, f := range fs {
		req := labtest.InDialogRequest(f.method, dst, callID, f.ftag, f.ttag, f.seq)
		res, err := stacks[f.stack].Client.Do(ctxT(t), req)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if res.StatusCode != f.want {
			t.Errorf("%s: %d %s, want %d", f.name, res.StatusCode, res.Reason, f.want)
		}
		after(f.name)
	}
}

// dialogIDs are what a forger copies from a dialog its sender opened: the
// Call-ID, the sender's and the phone's tags, the INVITE's CSeq.
func dialogIDs(d *sipgo.Dialog) (callID, senderTag, phoneTag string, seq uint32) {
	senderTag, _ = d.InviteRequest.From().Params.Get("tag")
	phoneTag, _ = d.InviteResponse.To().Params.Get("tag")
	return d.InviteRequest.CallID().Value(), senderTag, phoneTag, d.InviteRequest.CSeq().SeqNo
}
