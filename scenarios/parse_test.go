package scenarios

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseRefusesBrokenFiles: every problem is named with file:line:column
// and what was expected there; unknown actions, phones, models, protocols
// and nodes come with the valid choices.
func TestParseRefusesBrokenFiles(t *testing.T) {
	testParseErrors(t, []parseErrorCase{
		{"yaml syntax", "steps:\n  - dial: {phone: \"7434\", to: [1\n",
			[]string{"t.yaml:2:31: a `[` is not closed on its line: close it with `]` (the YAML parser: sequence end token ']' not found)", "     2 |   - dial: {phone: \"7434\", to: [1\n       |                               ^", "as in scenarios/README.md:\n    steps:\n"}},
		// Bounded input (issue 11 item 8).
		{"nesting", "steps:\n  - say: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n",
			[]string{"t.yaml:2:42: brackets nested 5000 deep; a scenario nests at most 32"}},
		{"brackets in quotes and comments do not count", "steps:\n  - say: \"" + strings.Repeat("[", 100) + "\"   # " + strings.Repeat("{", 100) + "\n  - dail: x\n",
			[]string{`t.yaml:3:5: step: unknown action "dail"`}},
		{"size", "steps:\n  - say: \"" + strings.Repeat("x", MaxScenarioBytes) + "\"\n",
			[]string{"t.yaml: 1048595 bytes: a scenario file may have at most 1048576"}},
		{"duration", "steps:\n  - wait: 2562047h\n",
			[]string{"t.yaml:2:11: wait: 2562047h is longer than a scenario's longest duration, 24h0m0s"}},
		{"unknown action", "steps:\n  - dail: {phone: \"7434\", to: 6867i}\n",
			[]string{`t.yaml:2:5: step: unknown action "dail" (did you mean "dial"?); valid: say, register, unregister, dial,`}},
		{"unknown phone", "steps:\n  - answer: 6868i\n",
			[]string{`t.yaml:2:13: answer: unknown phone "6868i" (did you mean "6867i"?); phones: 7434, 6867i`}},
		{"unknown model", "lab:\n  phones:\n    - {name: a, ext: \"1\", model: 7435}\nsteps:\n  - answer: a\n",
			[]string{`t.yaml:3:34: phone model: unknown model "7435" (did you mean "7431", "7433" or "7434"?); valid: 4422,`}},
		{"unknown protocol", "steps:\n  - wait: {from: pbx, proto: SIPP}\n",
			[]string{`t.yaml:2:30: wait.proto: unknown value "SIPP" (did you mean "SIP"?); valid: SIP, RTP, CSTA, HTTP, LAB`}},
		{"unknown node", "steps:\n  - expect: {from: pbxx, to: recorder}\n",
			[]string{`t.yaml:2:20: expect.from: unknown node "pbxx" (did you mean "pbx"?); nodes: pbx, recorder, 7434, 6867i, scenario`}},
		{"bad duration", "steps:\n  - wait: 3 seconds\n",
			[]string{`t.yaml:2:11: wait: want a duration such as 500ms, 3s or 1m, got "3 seconds"`}},
		{"two actions", "steps:\n  - answer: 6867i\n    hang-up: \"7434\"\n",
			[]string{"t.yaml:3:14: step: one action per step, this one has answer and hang-up"}},
		{"unknown mapping", "lab:\n  recorder: {mapping: dynamc}\nsteps:\n  - answer: 6867i\n",
			[]string{`t.yaml:2:23: lab.recorder.mapping: unknown value "dynamc" (did you mean "dynamic"?); valid: dynamic, static`}},
		{"monitored extension nobody has", "lab:\n  recorder: {monitored: [\"1009\"]}\nsteps:\n  - answer: 6867i\n",
			[]string{`lab.recorder.monitored[0]: extension "1009" is no phone's; extensions: 1001, 1002`}},
		{"forged invite without rogue", "steps:\n  - forged-invite: \"7434\"\n",
			[]string{"t.yaml:2:20: forged-invite: the lab has no rogue host; add `rogue: true` under `lab:`"}},
		{"duplicate extension", "lab:\n  phones:\n    - {name: a, ext: \"1\", model: 7434}\n    - {name: b, ext: \"1\", model: 7434}\nsteps:\n  - answer: a\n",
			[]string{"t.yaml:4:7: phone b: extension 1 is a's already"}},
		{"unknown top-level key", "stpes: []\n",
			[]string{`t.yaml:1:1: scenario: unknown key "stpes" (did you mean "steps"?)`, "no steps"}},
		{"response out of range", "steps:\n  - expect: {proto: SIP, response: 99}\n",
			[]string{"t.yaml:2:36: expect.response: want a SIP status code 100–699, got 99"}},
		{"mapping where a value belongs", "steps:\n  - answer: {phone: 6867i}\n",
			[]string{"t.yaml:2:13: answer: want a value, got a mapping"}},
	})
}

// parseErrorCase is a file Parse must refuse, and pieces of what it says.
type parseErrorCase struct {
	name, src string
	want      []string
}

func testParseErrors(t *testing.T, cases []parseErrorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.src))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestParseDefaults: a file without lab: gets the default lab; timers,
// phone starts and dial targets by phone name are read.
func TestParseDefaults(t *testing.T) {
	s, err := Parse("dir/story.yaml", []byte(`
lab:
  phones:
    - {name: a, ext: "2001", model: 6867, start: powered}
    - {name: b, ext: "2002", model: 4422}
  timers: {keep-alive: 3s, register-expiry: 60s, sip-t1: 100ms}
steps:
  - say: a dials b
    dial: {phone: a, to: b}
  - wait: {to: recorder, proto: RTP, stopped: true, count: 2, timeout: 5s}
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "story" || s.Lab.Phones[0].Model != "6867i" || s.Lab.Phones[0].Start != "powered" {
		t.Errorf("got %+v", s)
	}
	if st := s.Steps[0]; st.Kind != "dial" || st.To != "2002" || st.Say != "a dials b" || st.Pos.Line != 8 {
		t.Errorf("dial step %+v", st)
	}
	if w := s.Steps[1].Wait; w == nil || w.Count != 2 || !w.Match.Stopped || w.Timeout.Seconds() != 5 {
		t.Errorf("wait step %+v", s.Steps[1])
	}
	topo := s.Topology()
	if topo.Recorder.KeepAlive.Seconds() != 3 || topo.RegisterExpiry.Seconds() != 60 {
		t.Errorf("the story's timers should reach the topology as written: %+v", topo)
	}
	d, err := Parse("d.yaml", []byte("steps:\n  - answer: 6867i\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Lab.Phones) != 2 || d.Lab.Phones[0].Name != "7434" {
		t.Errorf("default lab: %+v", d.Lab.Phones)
	}
}

// TestLibraryParses: every embedded file is valid.
func TestLibraryParses(t *testing.T) {
	lib, err := Library()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range lib {
		if err := Preflight(s); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"basic-call", "one-party-monitored", "phone-families", "forged-invite"} {
		b, err := libraryFS.ReadFile("library/" + n + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("steps:\n  - wait: {from: pbx, proto: SIP, method: INVITE}\n"))
	// The broken corpus: structureError reads the lines around each error.
	broken, _ := filepath.Glob(filepath.Join("testdata", "broken", "*.yaml"))
	for _, p := range broken {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse("f.yaml", b)
		if err == nil && len(s.Steps) == 0 {
			t.Fatal("accepted a scenario without steps")
		}
	})
}

// TestReadmeExamplesParse: every YAML example of README.md is a valid
// scenario.
func TestReadmeExamplesParse(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(b), "```yaml\n")
	if len(parts) < 4 {
		t.Fatalf("README.md has %d YAML examples, want at least 3", len(parts)-1)
	}
	for i, p := range parts[1:] {
		src, _, _ := strings.Cut(p, "```")
		if _, err := Parse(fmt.Sprintf("README.md example %d", i+1), []byte(src)); err != nil {
			t.Errorf("%v", err)
		}
	}
}
