package scenarios

import (
	"strings"
	"testing"
)

// Plan says each step in one line, in order, with its place in the file.
func TestPlanSaysEachStep(t *testing.T) {
	s, err := Parse("p.yaml", []byte(`steps:
  - say: 7434 calls
    dial: {phone: "7434", to: 6867i}
  - wait: {from: pbx, to: "7434", proto: SIP, response: 180}
  - say: only words
  - expect: {from: recorder, to: "7434", proto: SIP, method: INVITE, count: 1}
  - expect-order: [{from: pbx, proto: SIP, response: 180}, {from: pbx, proto: SIP, response: 200}]
  - expect-phone: {phone: "7434", registered: true, call: talking}
  - expect-recording: {phone: "7434", left: "7434", right: 6867i, max-lost: 0, forked: true}
  - expect-recording: {phone: 6867i, exists: false}
  - wait: 2s
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`  1  p.yaml:2:5  dial 7434 → 1002  — say "7434 calls"`,
		`  2  p.yaml:4:5  wait for pbx → 7434 SIP 180 (timeout 10s)`,
		`  3  p.yaml:5:5  say "only words"`,
		`  4  p.yaml:6:5  check recorder → 7434 SIP INVITE seen 1 time(s)`,
		`  5  p.yaml:7:5  check in order: pbx → * SIP 180, then pbx → * SIP 200`,
		`  6  p.yaml:8:5  check phone 7434: registered true, call talking`,
		`  7  p.yaml:9:5  check recording of 7434: left channel 7434's tone, right channel 6867i's tone, at most 0 packets lost, every forked packet recorded once`,
		`  8  p.yaml:10:5  check no recording of 6867i`,
		`  9  p.yaml:11:5  wait 2s`,
	}
	got := s.Plan()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
