package recorder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// Whole-lab tests of spec §3.2.2 and §3.2.4 with the real PBX, phones and
// recorder, the network impaired through sim. Each test runs on its own
// 127.26.<n>.x plan.

// e2eLab builds and starts the default lab (a 7434 and a 6867i) with rec
// as the recorder and waits until the recorder knows both phones.
func e2eLab(t *testing.T, subnet int, rec lab.RecorderSpec, timers ...lab.Timers) *odLab {
	t.Helper()
	dir := t.TempDir()
	topo := lab.Default()
	if len(timers) > 0 {
		topo.Timers = timers[0]
	}
	topo.PBXAddr = netip.MustParseAddr(fmt.Sprintf("127.26.%d.1", subnet))
	topo.RecorderAddr = netip.MustParseAddr(fmt.Sprintf("127.26.%d.2", subnet))
	topo.PhoneBase = netip.MustParseAddr(fmt.Sprintf("127.26.%d.11", subnet))
	topo.Recorder = rec
	l, err := lab.Build(topo, lab.Options{OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	o := &odLab{t: t, lab: l, dir: dir, ctx: ctx}
	t.Cleanup(func() {
		o.close()
		cancel()
	})
	known := o.lab.Net.Trace().WatchN(2, func(e sim.Event) bool {
		return e.Kind == sim.KindNote && e.From == "recorder" && strings.HasPrefix(e.Summary, "device 100")
	})
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	o.wait(known, "CSTA device info for both phones")
	return o
}

func (o *odLab) wait(w *sim.Watch, what string) sim.Event {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), labWait)
	defer cancel()
	e, err := w.Wait(ctx)
	if err != nil {
		o.t.Fatalf("timed out waiting for %s", what)
	}
	return e
}

var (
	callIDRe = regexp.MustCompile(`(?mi)^(?:Call-ID|i):\s*(\S+)`)
	cseqRe   = regexp.MustCompile(`(?mi)^CSeq:\s*(\d+)`)
)

// sipSent lists the distinct SIP requests of method from → to in the trace
// (retransmissions folded) as "Call-ID CSeq", in order.
func sipSent(events []sim.Event, from, to, method string) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range events {
		if e.Kind != sim.KindMessage || e.Proto != sim.ProtoSIP || e.From != from || e.To != to || !strings.HasPrefix(e.Summary, method+" ") {
			continue
		}
		id, cseq := callIDRe.FindSubmatch(e.Bytes), cseqRe.FindSubmatch(e.Bytes)
		if id == nil || cseq == nil {
			continue
		}
		k := string(id[1]) + " " + string(cseq[1])
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func e2eMeta(t *testing.T, path string) recorder.Meta {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m recorder.Meta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// TestLabKeepAliveRecovery is spec §3.2.2 end to end: everything the 7434
// sends the recorder over SIP is lost, so its answers to UPDATE and to the
// re-INVITE never arrive; the recorder recovers with a new INVITE (the
// network is mended as it does); the phone replaces its session without
// BYE; the call's one file per party goes on, nothing lost, nothing twice.
func TestLabKeepAliveRecovery(t *testing.T) {
	// No §3.2.1 second INVITE here (InviteRetransmit at AnswerTimeout), and
	// room for a loaded machine to lift the blackhole before the recovery
	// INVITE itself counts as unanswered: this test is about §3.2.2 alone.
	o := e2eLab(t, 1, lab.RecorderSpec{KeepAlive: 200 * time.Millisecond},
		lab.Timers{AnswerTimeout: 2 * time.Second, InviteRetransmit: 2 * time.Second})
	net := o.lab.Net
	upAgain := net.Trace().WatchN(2, func(e sim.Event) bool {
		return e.Kind == sim.KindNote && e.From == "recorder" && strings.HasPrefix(e.Summary, "recording session ") && strings.Contains(e.Summary, "-1001 up")
	})
	rtp := o.forked("7434")
	o.call("7434", "6867i", o.watchNote("recorder", "-1001 up"), o.watchNote("recorder", "-1002 up"))
	rtp()
	// The next "forking" note of the 7434 is the recovered session's.
	forked := o.watchNote("7434", "forking to recorder")

	reinvite := o.watchNote("recorder", "re-INVITE 1001 at")
	recovery := o.watchNote("recorder", "dropped without BYE, new INVITE")
	id, err := net.Impair(sim.Impairment{From: "7434", To: "recorder", Proto: sim.ProtoSIP, Blackhole: true})
	if err != nil {
		t.Fatal(err)
	}
	reinvite()
	recovery()
	// The recovery INVITE's 200 OK is retransmitted until the ACK, so it
	// gets through once the network is mended.
	if err := net.Lift(id); err != nil {
		t.Fatal(err)
	}
	o.wait(upAgain, "the recovered session up")
	forked()
	ended := o.watchNote("recorder", "-1001 ended: call cleared")
	o.hangUp("7434", o.watchNote("recorder", "-1001 closed (call cleared)"), o.watchNote("recorder", "-1002 closed (call cleared)"))
	ended()

	events := net.Trace().Recent()
	invites := sipSent(events, "recorder", "7434", "INVITE")
	if len(invites) != 3 {
		t.Fatalf("INVITEs to the 7434: %q; want the first, the re-INVITE and the recovery INVITE", invites)
	}
	first, re, rec := strings.Fields(invites[0]), strings.Fields(invites[1]), strings.Fields(invites[2])
	if re[0] != first[0] || re[1] == first[1] {
		t.Errorf("re-INVITE %v, want the first's dialog %s with a higher CSeq", re, first[0])
	}
	if rec[0] == first[0] {
		t.Errorf("recovery INVITE in the old dialog %s; want a new Call-ID", first[0])
	}
	if byes := sipSent(events, "7434", "recorder", "BYE"); len(byes) != 0 {
		t.Errorf("the 7434 sent BYE to the recorder: %q; spec §3.2.2 says it sends none", byes)
	}
	byes := sipSent(events, "recorder", "7434", "BYE")
	if len(byes) != 1 || strings.Fields(byes[0])[0] != rec[0] {
		t.Errorf("BYEs to the 7434: %q; want one, in the recovered dialog %s", byes, rec[0])
	}

	wavs := o.recordingsOf("1001")
	if len(wavs) != 1 {
		t.Fatalf("recordings of 1001: %v; want one for the call", wavs)
	}
	m := e2eMeta(t, strings.TrimSuffix(wavs[0], ".wav")+".json")
	st := o.phone("7434").Stats()
	if m.Recoveries != 1 || m.Reason != recorder.ReasonCallCleared {
		t.Errorf("meta: recoveries %d reason %q", m.Recoveries, m.Reason)
	}
	if m.TX.Received != int64(st.ForkedTX) || m.RX.Received != int64(st.ForkedRX) {
		t.Errorf("recorded tx %d rx %d, the 7434 forked %d and %d: every copy must land once", m.TX.Received, m.RX.Received, st.ForkedTX, st.ForkedRX)
	}
	if m.TX.Duplicates != 0 || m.RX.Duplicates != 0 || m.Lost() != 0 {
		t.Errorf("tx %+v rx %+v: want no duplicates and no loss", m.TX, m.RX)
	}
}

// TestLabPowerOffStatic is spec §3.2.4 end to end with static mapping: the
// 6867i loses power mid-session and sends nothing; the recorder's UPDATE,
// re-INVITE and recovery INVITE go unanswered and the dead session is
// dropped without BYE. Power back, registered: CSTA reports it and the
// recorder INVITEs at once.
func TestLabPowerOffStatic(t *testing.T) {
	o := e2eLab(t, 2, lab.RecorderSpec{Mapping: "static", KeepAlive: 200 * time.Millisecond})
	net := o.lab.Net
	rtp := o.forked("6867i")
	o.call("7434", "6867i", o.watchNote("recorder", "recording session 1002 up"))
	rtp()

	dropped := o.watchNote("recorder", "recording session 1002 ended: "+recorder.ReasonNoAnswer)
	closed := o.watchClosed("1002") // the files are final only then: a file worker writes them
	ph := o.phone("6867i")
	ph.PowerOff()
	dropped()
	closed()
	o.hangUp("7434")

	events := net.Trace().Recent()
	if byes := sipSent(events, "6867i", "recorder", "BYE"); len(byes) != 0 {
		t.Errorf("the powered-off 6867i sent BYE: %q", byes)
	}
	if byes := sipSent(events, "recorder", "6867i", "BYE"); len(byes) != 0 {
		t.Errorf("the recorder sent BYE to the dead 6867i: %q", byes)
	}
	wavs := o.recordingsOf("1002")
	if len(wavs) != 1 {
		t.Fatalf("recordings of 1002: %v", wavs)
	}
	if m := e2eMeta(t, strings.TrimSuffix(wavs[0], ".wav")+".json"); m.Reason != recorder.ReasonNoAnswer || m.Packets() == 0 {
		t.Errorf("meta: reason %q packets %d", m.Reason, m.Packets())
	}

	// Power back: the phone registers with a new Call-ID (a new boot
	// cycle). Whether the PBX reports that as BackInService while the old
	// binding has not expired is the PBX's decision; the recorder's side of
	// it is TestDeadPhoneCleanup.
	if err := ph.PowerOn(); err != nil {
		t.Fatal(err)
	}
	if err := ph.Register(o.ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLabCSTABlackholeCallGone is issue 12's stale "rec forking": the CSTA
// link is cut mid-call, so the call's ConnectionCleared never reaches the
// recorder. The phone stops forking when its call ends (spec §3.2); a
// keep-alive interval of no media later the recorder takes the call as
// cleared and ends the dynamic session with BYE, and the phone's
// recording state goes idle as its call did.
func TestLabCSTABlackholeCallGone(t *testing.T) {
	o := e2eLab(t, 3, lab.RecorderSpec{KeepAlive: 300 * time.Millisecond})
	net := o.lab.Net
	rtp := o.forked("7434")
	o.call("7434", "6867i", o.watchNote("recorder", "-1001 up"), o.watchNote("recorder", "-1002 up"))
	rtp()
	down := o.watch("the recorder's CSTA link down", func(e sim.Event) bool {
		st, ok := e.State.(recorder.CSTALinkState)
		return ok && !st.Up
	})
	if _, err := net.Impair(sim.Impairment{From: "pbx", To: "recorder", Both: true, Proto: sim.ProtoCSTA, Blackhole: true}); err != nil {
		t.Fatal(err)
	}
	down()
	gone := o.watchNote("recorder", "since the CSTA link was lost")
	idle := []func() sim.Event{}
	for _, ph := range []string{"7434", "6867i"} {
		idle = append(idle, o.watch(ph+"'s recording idle", func(e sim.Event) bool {
			st, ok := e.State.(phones.RecordingState)
			return ok && st.Phone == ph && st.State == phones.RecIdle
		}))
	}
	o.hangUpBoth("7434", "6867i", o.watchClosed("1001"), o.watchClosed("1002"))
	gone()
	for _, w := range idle {
		w()
	}
	if byes := sipSent(net.Trace().Recent(), "recorder", "7434", "BYE"); len(byes) != 1 {
		t.Errorf("BYEs to the 7434: %q; want the one that ends the session", byes)
	}
	m := e2eMeta(t, strings.TrimSuffix(o.recordingsOf("1001")[0], ".wav")+".json")
	if m.Reason != recorder.ReasonCallCleared {
		t.Errorf("1001's recording ended %q, want %q", m.Reason, recorder.ReasonCallCleared)
	}
}
