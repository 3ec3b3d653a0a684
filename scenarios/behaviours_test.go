package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/sim"
)

// TestBehaviourStepForms: the step forms the spec §3.2.1–§3.2.6 stories
// use — a one-way impairment of the next N packets, an update order that
// edits the phone's file first, register-as, the recorder and phone timers
// — parse to what the runner needs, and mistakes are named.
func TestBehaviourStepForms(t *testing.T) {
	s, err := Parse("b.yaml", []byte(`
lab:
  timers: {phone-keep-alive: 2s, answer-timeout: 3s, invite-retransmit: 300ms}
steps:
  - impair: {from: "7434", to: recorder, proto: SIP, delay: 1s, count: 1}
  - firmware-update: {phone: 6867i, config: {sip local port: 5064}}
  - firmware-update: "7434"
  - register-as: {phone: 6867i, ext: "1001"}
`))
	if err != nil {
		t.Fatal(err)
	}
	im := s.Steps[0].Impair
	if !im.OneWay || im.Count != 1 || im.Between != [2]string{"7434", "recorder"} || im.Delay != time.Second {
		t.Errorf("impair: %+v", im)
	}
	if got := describeImpair("impair", im); got != "impair 7434 → recorder SIP: delay 1s, next 1 packet(s)" {
		t.Errorf("step line %q", got)
	}
	if c := s.Steps[1].Config; s.Steps[1].Phone != "6867i" || c["sip local port"] != "5064" {
		t.Errorf("firmware-update with config: %+v", s.Steps[1])
	}
	if s.Steps[2].Phone != "7434" || s.Steps[2].Config != nil {
		t.Errorf("plain firmware-update: %+v", s.Steps[2])
	}
	if st := s.Steps[3]; st.Phone != "6867i" || st.Ext != "1001" {
		t.Errorf("register-as: %+v", st)
	}
	tm := s.Topology().Timers
	if tm.PhoneKeepAlive != 2*time.Second || tm.AnswerTimeout != 3*time.Second || tm.InviteRetransmit != 300*time.Millisecond {
		t.Errorf("timers %+v", tm)
	}
	if err := Preflight(s); err != nil {
		t.Errorf("every action exists now: %v", err)
	}

	for _, tc := range []struct{ src, want string }{
		{"steps:\n  - impair: {from: \"7434\", delay: 1s}\n", "impair: needs between: [A, B], or from: A and to: B for one way"},
		{"steps:\n  - impair: {between: [\"7434\", pbx], delay: 1s, count: 0}\n", "impair.count: want 1 or more packets, got 0"},
		{"steps:\n  - firmware-update: {config: {sip local port: 5064}}\n", "firmware-update: needs phone"},
	} {
		_, err := Parse("b.yaml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.src, err, tc.want)
		}
	}
}

// TestMethodAloneMatchesRequests: `method: BYE` without `response` is the
// request, so "no BYE from the phone" is not failed by its 200 OK to the
// recorder's BYE; with `response` it names the answered method.
func TestMethodAloneMatchesRequests(t *testing.T) {
	bye := sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, From: "7434", To: "recorder", Summary: "BYE sip:recorder@127.20.0.2:5060"}
	ok := sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, From: "7434", To: "recorder", Summary: "200 OK (BYE)"}
	req := Matcher{From: "7434", Proto: "SIP", Method: "BYE"}
	res := Matcher{From: "7434", Proto: "SIP", Method: "BYE", Response: 200}
	if !req.Match(bye) || req.Match(ok) {
		t.Errorf("method BYE: request %v, response %v; want true, false", req.Match(bye), req.Match(ok))
	}
	if res.Match(bye) || !res.Match(ok) {
		t.Errorf("response 200 to BYE: request %v, response %v; want false, true", res.Match(bye), res.Match(ok))
	}
}

// TestTimeline: flow.md's slide is the narration and the actions in lab
// time, without waits and check results.
func TestTimeline(t *testing.T) {
	note := func(at time.Duration, s string) sim.Event {
		return sim.Event{Kind: sim.KindNote, Proto: sim.ProtoLab, From: "scenario", At: at, Summary: s}
	}
	r := &Run{Scenario: &Scenario{Section: "§3.2.4", Description: "power | off"}, events: []sim.Event{
		note(0, "spec §3.2.4: the power is cut"),
		note(10*time.Millisecond, "▸ power-off 7434"),
		note(20*time.Millisecond, "▸ wait for recorder → * LAB"),
		{Kind: sim.KindMessage, Proto: sim.ProtoSIP, From: "recorder", To: "7434", Summary: "UPDATE sip:1001@127.20.1.1:7300"},
		note(4*time.Second, "PASS  no 7434 → recorder SIP BYE"),
	}}
	want := "spec §3.2.4: power \\| off\n\n| time | what happens |\n| ---: | --- |\n" +
		"| 0.0s | spec §3.2.4: the power is cut |\n| 0.0s | `power-off 7434` |\n"
	if got := r.Timeline(); got != want {
		t.Errorf("timeline:\n%s\nwant:\n%s", got, want)
	}
}
