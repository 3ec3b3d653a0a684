package scenarios

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// TestParseRefusesBadStateSelectors: a typo'd kind lists the kinds, a
// typo'd field the type's fields, a bad value the values the field takes,
// each with file:line:column.
func TestParseRefusesBadStateSelectors(t *testing.T) {
	testParseErrors(t, []parseErrorCase{
		{"unknown kind", "steps:\n  - wait: {state: cal, node: 6867i}\n",
			[]string{`t.yaml:2:19: wait.state: unknown state "cal" (did you mean "call"?); states: power, registration, register-failed, call, recording,`}},
		{"unknown field", "steps:\n  - wait: {state: call, node: 6867i, remot: \"1001\"}\n",
			[]string{`t.yaml:2:38: wait: state call has no field "remot" (did you mean "remote"?); its fields: cause, ext, is, phone, remote (and node, count, timeout)`}},
		{"a message key", "steps:\n  - expect: {state: recording-closed, text: closed}\n",
			[]string{`t.yaml:2:39: expect: text selects messages, not states; a state is selected by node and the fields of recording-closed:`, "cause, codec,", "tx.lost,"}},
		{"enum value", "steps:\n  - wait: {state: recording, node: \"7434\", is: forkin}\n",
			[]string{`t.yaml:2:48: wait.is: state recording's is is never "forkin" (did you mean "forking"?); valid: idle, offered, forking`}},
		{"bool value", "steps:\n  - expect: {state: session, node: recorder, up: yes please}\n",
			[]string{`t.yaml:2:50: expect.up: state session's up is never "yes please"; valid: true, false`}},
		{"wrong node", "steps:\n  - wait: {state: recording-closed, node: \"7434\"}\n",
			[]string{`t.yaml:2:43: wait.node: 7434 publishes no recording-closed state; only the recorder publishes it`}},
		{"phone state of the recorder", "steps:\n  - wait: {state: call, node: recorder}\n",
			[]string{`t.yaml:2:31: wait.node: recorder publishes no call state; only phones publish it (7434, 6867i)`}},
		{"unknown node", "steps:\n  - wait: {state: call, node: 6868i}\n",
			[]string{`t.yaml:2:31: wait.node: unknown node "6868i" (did you mean "6867i"?)`}},
		{"order item", "steps:\n  - expect-order:\n      - {state: call, node: 6867i, is: idle}\n      - {state: power, node: 6867i, count: 2}\n",
			[]string{`t.yaml:4:37: expect-order item: state power has no field "count"; its fields: ext, on, phone (and node)`}},
		{"a state key misspelt", "steps:\n  - wait: {stat: call}\n",
			[]string{`t.yaml:2:12: wait: unknown key "stat" (did you mean "state"?)`}},
	})
}

// TestStateSelectorMatches: fields are matched by their JSON names on the
// typed value (enums by name, nested fields with a dot, a list by one of
// its elements), aliases included; nothing is read from the summary.
func TestStateSelectorMatches(t *testing.T) {
	s, err := Parse("t.yaml", []byte(`steps:
  - wait: {state: call, node: 6867i, is: idle, remote: "1001"}
  - wait: {state: recording-closed, node: recorder, ext: "1001", cause: "call cleared", kept: true, tx.lost: 0}
  - wait: {state: csta-link, monitoring: "1002", up: true}
  - wait: {state: recording, node: "7434", is: forking, tx: "127.20.0.2:20000"}
`))
	if err != nil {
		t.Fatal(err)
	}
	closed := recorder.RecordingClosed{Kept: true}
	closed.Meta.Extension, closed.Meta.Reason = "1001", "call cleared"
	for i, tc := range []struct {
		step int
		e    sim.Event
		want bool
	}{
		{0, state("6867i", phones.CallChanged{State: phones.CallIdle, Remote: "1001"}), true},
		{0, state("6867i", phones.CallChanged{State: phones.CallTalking, Remote: "1001"}), false},
		{0, state("7434", phones.CallChanged{State: phones.CallIdle, Remote: "1001"}), false},
		{0, sim.Event{Kind: sim.KindNote, From: "6867i", Summary: "6867i call with 1001 idle"}, false},
		{1, state("recorder", closed), true},
		{1, state("recorder", recorder.RecordingClosed{Recording: closed.Recording}), false}, // discarded
		{2, state("recorder", recorder.CSTALinkState{Up: true, Monitoring: []string{"1001", "1002"}}), true},
		{2, state("recorder", recorder.CSTALinkState{Up: true, Monitoring: []string{"1001"}}), false},
		{3, state("7434", phones.RecordingState{State: phones.RecForking, TX: netip.MustParseAddrPort("127.20.0.2:20000")}), true},
	} {
		m := s.Steps[tc.step].Wait.Match
		if got := m.Match(tc.e); got != tc.want {
			t.Errorf("%d: %s on %v: got %v, want %v", i, m, tc.e.State, got, tc.want)
		}
	}
	if got := s.Steps[1].Wait.Match.String(); got != `recorder STATE recording-closed ext=1001 cause="call cleared" kept=true tx.lost=0` {
		t.Errorf("String: %s", got)
	}
}

func state(node string, st sim.State) sim.Event {
	return sim.Event{Kind: sim.KindState, Proto: sim.ProtoLab, From: node, Summary: st.String(), State: st}
}

// TestEveryStateKindHasFields: each kind names a distinct type with
// matchable fields, and every field of a state type is reachable.
func TestEveryStateKindHasFields(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range StateKinds {
		if seen[k.typ.String()] {
			t.Errorf("%s: type %s listed twice", k.Name, k.typ)
		}
		seen[k.typ.String()] = true
		if len(k.fields) == 0 {
			t.Errorf("%s: no fields", k.Name)
		}
	}
	k, _ := findStateKind("recording-closed")
	for _, want := range []string{"wav", "json", "call_id", "extension", "reason", "kept", "tx.received", "rx.lost", "start"} {
		if _, ok := k.field(want); !ok {
			t.Errorf("recording-closed has no field %s; fields %v", want, k.FieldNames())
		}
	}
}

// TestReadmeListsEveryStateKind: the README's table of `state:` kinds has
// a row for each.
func TestReadmeListsEveryStateKind(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range StateKinds {
		if !strings.Contains(string(b), "| `"+k.Name+"` |") {
			t.Errorf("README.md has no row for state %s", k.Name)
		}
	}
}

// TestLibraryMatchesNoNoteText: library stories select node states by
// their typed events; `text:` is for wire messages only (notes are prose).
func TestLibraryMatchesNoNoteText(t *testing.T) {
	all, err := Library()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		for _, st := range s.Steps {
			var ms []Matcher
			switch {
			case st.Wait != nil:
				ms = []Matcher{st.Wait.Match}
			case st.Expect != nil:
				ms = []Matcher{st.Expect.Match}
			default:
				ms = st.Order
			}
			for _, m := range ms {
				if m.State == nil && (m.Proto == "LAB" || (m.Proto == "" && m.Text != "")) {
					t.Errorf("%s: %s matches a note's words; select the node's state instead (README.md \"Matching states\")", st.Pos, m)
				}
			}
		}
	}
}
