package tui

import (
	"bufio"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/reclab/reclab/sim"
)

// loadTrace reads a trace.jsonl that `reclab run` wrote (testdata holds
// basic-call's ladder events): a real call's SIP, CSTA and RTP.
func loadTrace(t testing.TB, file string) []sim.Event {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kinds := map[string]sim.Kind{}
	for k := sim.KindMessage; k <= sim.KindState; k++ {
		kinds[k.String()] = k
	}
	var out []sim.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var j struct {
			Seq                        uint64
			At                         float64
			Kind, Proto, Src, Dst      string
			From, To, Summary, Message string
			Packets                    uint64
		}
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		p, err := sim.ParseProto(j.Proto)
		if err != nil {
			t.Fatal(err)
		}
		e := sim.Event{Seq: j.Seq, At: time.Duration(j.At * float64(time.Second)), Kind: kinds[j.Kind], Proto: p,
			From: j.From, To: j.To, Summary: j.Summary, Bytes: []byte(j.Message), Packets: j.Packets}
		e.Src, _ = netip.ParseAddrPort(j.Src)
		e.Dst, _ = netip.ParseAddrPort(j.Dst)
		out = append(out, e)
	}
	return out
}

// basicCallBackend is a fake lab of basic-call's two phones.
func basicCallBackend() *fakeBackend {
	b := newFakeBackend()
	b.nodes.Phones = []PhoneView{
		{Name: "7434", Ext: "1001", Model: "7434", Addr: netip.MustParseAddr("127.20.1.1"), RecPort: 7300},
		{Name: "6867i", Ext: "1002", Model: "6867i", Addr: netip.MustParseAddr("127.20.1.2"), RecPort: 5070},
	}
	return b
}

func TestCallsOfARealCall(t *testing.T) {
	events := loadTrace(t, "testdata/basic-call.jsonl")
	cs := calls(events, map[string]string{"1001": "7434", "1002": "6867i"})
	if len(cs) != 1 {
		t.Fatalf("%d calls, want 1", len(cs))
	}
	c := cs[0]
	if c.caller != "1001" || c.callee != "1002" || c.callerNode != "7434" || c.calleeNode != "6867i" {
		t.Errorf("call %+v", c)
	}
	// Both legs, and the recorder's session with each phone (spec §3.2).
	if legs := len(c.legs) - c.recorded; legs != 2 || c.recorded != 2 {
		t.Errorf("%d legs, %d recording sessions; want 2 and 2", legs, c.recorded)
	}
	// Two streams between the phones, two forked from each.
	if c.streams != 6 {
		t.Errorf("%d streams, want 6", c.streams)
	}
	if c.state() != "completed" {
		t.Errorf("state %q, want completed", c.state())
	}
	var inCall, regs int
	for _, e := range events {
		if c.member(e) {
			inCall++
			if strings.HasPrefix(e.Summary, "REGISTER") || strings.Contains(e.Summary, "MonitorStart") {
				regs++
			}
		}
	}
	if regs != 0 || inCall != c.messages {
		t.Errorf("the call holds %d REGISTER/MonitorStart; %d members, counted %d", regs, inCall, c.messages)
	}
	ds := dialogs(events)
	var invites int
	for _, d := range ds {
		if d.method == "INVITE" {
			invites++
			if d.state != "completed" {
				t.Errorf("dialog %s %s→%s: %s, want completed", d.callID, d.fromNode, d.toNode, d.state)
			}
		}
	}
	if invites != 4 {
		t.Errorf("%d INVITE dialogs, want 4 (two legs, two recording sessions)", invites)
	}
}

// Golden screens of a real call: the call list, the call's own ladder,
// that ladder with the why line under each arrow, and the dialog list.
func TestCallScreensGolden(t *testing.T) {
	events := loadTrace(t, "testdata/basic-call.jsonl")
	for _, tc := range []struct {
		name string
		keys []string
	}{
		{"calls", []string{"C"}},
		{"call-ladder", []string{"C", "enter", "g", "j", "j", "j", "j"}},
		{"call-ladder-why", []string{"C", "enter", "w", "g", "j", "j", "j", "j", "j", "j", "j", "j", "j"}},
		{"call-ladder-delta", []string{"C", "enter", "T", "g", "j", "j", "j"}},
		{"dialogs", []string{"D", "up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := basicCallBackend()
			b.gate = make(chan struct{})
			m := New(context.Background(), b)
			for _, e := range append(events, b.upEvents()...) {
				b.trace.Publish(e)
			}
			goldenScreen(t, m, b, 120, 40, "6867i (1002): sidecar counts", tc.keys)
		})
	}
}

// Every event of the real call has a cause, and the ones a trainer asks
// about name it: the recorder's INVITE its CSTA event, the 180 the INVITE
// it answers, the fork the recorder's ACK.
func TestEveryArrowHasItsWhy(t *testing.T) {
	b := basicCallBackend()
	m := New(context.Background(), b)
	t.Cleanup(m.sub.Close)
	m.Update(batchMsg{events: loadTrace(t, "testdata/basic-call.jsonl")})
	want := map[string]string{
		"INVITE sip:1001@127.20.1.1:7300":                   "CSTA #",
		"180 Ringing (INVITE)":                              "answers #",
		"RTP stream 127.20.1.1:40000 → recorder tx started": "forking: the recorder's #",
		"REGISTER sip:127.20.0.1":                           "egistration", // registration, or REGISTER again with the digest answer
	}
	for i, e := range m.events {
		if m.why[i] == "" {
			t.Errorf("#%d %s has no why", e.Seq, e.Summary)
		}
		if w, ok := want[e.Summary]; ok && !strings.Contains(m.why[i], w) && !strings.Contains(m.why[i], "digest challenge") {
			t.Errorf("#%d %s: why %q, want it to say %q", e.Seq, e.Summary, m.why[i], w)
		}
	}
}

// Step mode (H): the ladder's last line is the message the lab holds for
// the next '.', as its HeldMessage state names it; '.' asks the lab for one
// step.
func TestStepModeGolden(t *testing.T) {
	b := basicCallBackend()
	b.avail[ActHold], b.avail[ActStepMsg] = true, true
	m := New(context.Background(), b)
	events := loadTrace(t, "testdata/basic-call.jsonl")
	for _, e := range append(events[:40], b.upEvents()...) {
		b.trace.Publish(e)
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 40))
	s := &screen{tm: tm}
	s.waitFor(t, "lab up")
	tm.Send(key("H"))
	s.waitFor(t, "STEPPING", "did step mode on")
	held := sim.HeldMessage{From: "recorder", To: "7434", Proto: sim.ProtoSIP, Summary: "INVITE sip:1001@127.20.1.1:7300",
		Dst: netip.MustParseAddrPort("127.20.1.1:7300"), Held: 1}
	b.trace.Publish(sim.Event{Kind: sim.KindState, Proto: sim.ProtoLab, From: "recorder", Summary: held.String(), State: held})
	s.waitFor(t, "⏸ next: SIP recorder → 7434")
	tm.Send(key("."))
	s.waitFor(t, "did step on")
	tm.Send(key("q"))
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(waitLong)).(*Model)
	golden.RequireEqual(t, []byte(fm.View()))
	var kinds []ActionKind
	for _, a := range b.actions() {
		kinds = append(kinds, a.Kind)
	}
	if len(kinds) != 2 || kinds[0] != ActHold || kinds[1] != ActStepMsg {
		t.Errorf("actions %v, want step mode on, then one step", kinds)
	}
}
