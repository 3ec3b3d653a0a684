package pbx_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/reclab/reclab/internal/labtest"
	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/sim"
)

// Forged in-dialog requests against a call of the default lab (issue 11
// item 3): a BYE with the call's own Call-ID and tags, sent to the PBX
// from the caller's address on another port or from another host, and to
// each phone from the PBX's address on another port, gets 403; one with
// invented tags 481. The call talks on, both phones keep forking to the
// recorder, and the caller's own hang-up ends it.
func TestForgedCallByesRefused(t *testing.T) {
	l, ctx := startDefaultLab(t)
	caller, callee := l.Phones[0], l.Phones[1] // 7434 (1001), 6867i (1002)
	tr := l.Net.Trace()
	wait := func(w *sim.Watch, what string) {
		t.Helper()
		if _, err := w.Wait(ctx); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	ringing := sim.WatchState(tr, func(s phones.CallChanged) bool { return s.Phone == callee.Name() && s.State == phones.CallRinging })
	talking := sim.WatchStateN(tr, 2, func(s phones.CallChanged) bool { return s.State == phones.CallTalking })
	forking := sim.WatchStateN(tr, 2, func(s phones.RecordingState) bool { return s.State == phones.RecForking })
	if err := caller.Dial(ctx, callee.Ext()); err != nil {
		t.Fatal(err)
	}
	wait(ringing, "ringing")
	if err := callee.Answer(); err != nil {
		t.Fatal(err)
	}
	wait(talking, "both phones talking")
	wait(forking, "both phones forking")

	// The legs' dialogs as the trace saw them: each INVITE and its 200 OK.
	type dialog struct{ callID, uacTag, uasTag string }
	legOf := func(uac, uas string) dialog {
		var d dialog
		for _, e := range tr.Recent() {
			if e.Kind != sim.KindMessage || e.Proto != sim.ProtoSIP {
				continue
			}
			msg, err := sip.ParseMessage(e.Bytes)
			if err != nil || msg.CSeq() == nil || msg.CSeq().MethodName != sip.INVITE {
				continue
			}
			if req, ok := msg.(*sip.Request); ok && e.From == uac && e.To == uas && d.callID == "" {
				d.callID = req.CallID().Value()
				d.uacTag, _ = req.From().Params.Get("tag")
			}
			if res, ok := msg.(*sip.Response); ok && e.From == uas && e.To == uac && res.StatusCode == 200 && res.CallID().Value() == d.callID {
				d.uasTag, _ = res.To().Params.Get("tag")
			}
		}
		if d.callID == "" || d.uacTag == "" || d.uasTag == "" {
			t.Fatalf("no dialog %s → %s in the trace: %+v", uac, uas, d)
		}
		return d
	}
	aLeg, bLeg := legOf(caller.Name(), "pbx"), legOf("pbx", callee.Name())

	forger := func(node string, ip netip.Addr, port uint16) *sim.SIPStack {
		t.Helper()
		nd, ok := l.Net.Node(node)
		if !ok {
			var err error
			if nd, err = l.Net.AddNode(node, ip); err != nil {
				t.Fatal(err)
			}
		}
		st, err := nd.StartSIP(port, "forger", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	onCaller := forger(caller.Name(), netip.Addr{}, 5099)
	onPBX := forger("pbx", netip.Addr{}, 5098)
	elsewhere := forger("forger", netip.MustParseAddr("127.20.9.8"), 5060)
	pbxAddr := l.PBX.Addr()

	bye := func(st *sim.SIPStack, dst netip.AddrPort, d dialog, fromTag, toTag string) int {
		t.Helper()
		req := labtest.InDialogRequest(sip.BYE, dst, d.callID, fromTag, toTag, 1000)
		res, err := st.Client.Do(ctx, req)
		if err != nil {
			t.Fatalf("BYE from %s: %v", st.Addr, err)
		}
		return res.StatusCode
	}
	for _, tc := range []struct {
		name           string
		st             *sim.SIPStack
		dst            netip.AddrPort
		d              dialog
		fromTag, toTag string
		want           int
	}{
		{"to the PBX from the caller's address on another port, the A-leg's tags", onCaller, pbxAddr, aLeg, aLeg.uacTag, aLeg.uasTag, 403},
		{"to the PBX from another host, the A-leg's tags", elsewhere, pbxAddr, aLeg, aLeg.uacTag, aLeg.uasTag, 403},
		{"to the PBX from another host, the B-leg's tags", elsewhere, pbxAddr, bLeg, bLeg.uasTag, bLeg.uacTag, 403},
		{"to the PBX from another host, an unknown Call-ID", elsewhere, pbxAddr, dialog{callID: "forged@127.20.9.8"}, "x", "y", 481},
		{"to the caller from the PBX's address on another port", onPBX, caller.SIPAddr(), aLeg, aLeg.uasTag, aLeg.uacTag, 403},
		{"to the callee from the PBX's address on another port", onPBX, callee.SIPAddr(), bLeg, bLeg.uacTag, bLeg.uasTag, 403},
		{"to the caller with invented tags", onPBX, caller.SIPAddr(), aLeg, "x", "y", 481},
	} {
		if code := bye(tc.st, tc.dst, tc.d, tc.fromTag, tc.toTag); code != tc.want {
			t.Errorf("BYE %s: %d, want %d", tc.name, code, tc.want)
		}
		for _, p := range []*phones.Phone{caller, callee} {
			if s := p.State(); s.Call != phones.CallTalking || s.Recording != phones.RecForking {
				t.Fatalf("after a BYE %s: %s is %s, recording %s; want talking and forking", tc.name, p.Name(), s.Call, s.Recording)
			}
		}
	}
	idle := sim.WatchStateN(tr, 2, func(s phones.CallChanged) bool { return s.State == phones.CallIdle })
	if err := caller.HangUp(ctx); err != nil {
		t.Fatal(err)
	}
	wait(idle, "both phones idle after the caller hangs up")
	for _, e := range tr.Recent() {
		if e.Kind == sim.KindError && e.From == "pbx" && strings.Contains(e.Summary, "refused: leg") {
			return // the PBX said why it refused
		}
	}
	t.Error("the PBX's refusals left no error event naming the leg's peer")
}

// startDefaultLab builds and starts the lab of `reclab run basic-call`
// (every node, the phones registered with their passwords); it closes at
// the test's end. ctx bounds the test's waits.
func startDefaultLab(t *testing.T) (*lab.Lab, context.Context) {
	t.Helper()
	l, err := lab.Build(lab.Default(), lab.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return l, ctx
}
