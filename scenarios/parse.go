package scenarios

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/phones/model"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim/media"
)

// maxErrors bounds how many problems one file reports.
const maxErrors = 20

// ParseError lists every problem found in a scenario file, each with its
// file:line:column.
type ParseError struct {
	Problems []string
}

func (e *ParseError) Error() string { return strings.Join(e.Problems, "\n") }

// Parse reads a scenario from YAML. Every problem is reported with
// file:line:column and what was expected there, and unknown actions, phone
// names, models and protocols with the valid choices; nothing runs.
func Parse(file string, src []byte) (*Scenario, error) {
	// Bounded input (issue 11 item 8): a 200 KB file of nested brackets
	// took the YAML parser to 4.4 GB before this.
	if len(src) > MaxScenarioBytes {
		return nil, &ParseError{[]string{fmt.Sprintf("%s: %d bytes: a scenario file may have at most %d (the library's largest has under 4,000)", file, len(src), MaxScenarioBytes)}}
	}
	if line, col, depth := flowDepth(src); depth > MaxScenarioNesting {
		return nil, &ParseError{[]string{fmt.Sprintf("%s:%d:%d: brackets nested %d deep; a scenario nests at most %d", file, line, col, depth, MaxScenarioNesting)}}
	}
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		var se *yaml.SyntaxError
		if errors.As(err, &se) && se.Token != nil {
			return nil, &ParseError{[]string{structureError(file, src, se.Token.Position.Line, se.Token.Position.Column, se.Message)}}
		}
		return nil, &ParseError{[]string{fmt.Sprintf("%s: %v", file, err)}}
	}
	d := &decoder{file: file}
	s := &Scenario{Source: file, Name: strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, &ParseError{[]string{fmt.Sprintf("%s:1:1: want one YAML document with name, lab and steps", file)}}
	}
	d.scenario(f.Docs[0].Body, s)
	if len(d.problems) > 0 {
		return nil, &ParseError{d.problems}
	}
	return s, nil
}

// Limits of a scenario file.
const (
	MaxScenarioBytes   = 1 << 20 // 1 MiB
	MaxScenarioNesting = 32      // [ and { inside each other
	MaxDuration        = 24 * time.Hour
)

// flowDepth finds the deepest nesting of YAML flow brackets ([ and {)
// outside quotes and comments, and where it first reaches past
// MaxScenarioNesting.
func flowDepth(src []byte) (line, col, deepest int) {
	depth, ln, c := 0, 1, 0
	var quote byte
	comment := false
	for _, b := range src {
		c++
		switch {
		case b == '\n':
			ln, c, comment = ln+1, 0, false
			if quote == '"' || quote == '\'' {
				continue // a quoted scalar may span lines
			}
		case comment:
		case quote != 0:
			if b == quote {
				quote = 0
			}
		case b == '"' || b == '\'':
			quote = b
		case b == '#':
			comment = true
		case b == '[' || b == '{':
			depth++
			if depth > deepest {
				deepest = depth
				if depth == MaxScenarioNesting+1 {
					line, col = ln, c
				}
			}
		case b == ']' || b == '}':
			depth = max(depth-1, 0)
		}
	}
	return line, col, deepest
}

type decoder struct {
	file     string
	problems []string
	nodes    []string // valid node names for matchers
	phones   []string // phone names
	exts     map[string]string
	rogue    bool
}

func (d *decoder) pos(n ast.Node) Pos {
	// A block mapping's token is its first ':'; people look for the key.
	switch t := unwrap(n).(type) {
	case *ast.MappingValueNode:
		n = t.Key
	case *ast.MappingNode:
		if !t.IsFlowStyle && len(t.Values) > 0 {
			n = t.Values[0].Key
		}
	}
	if n == nil || n.GetToken() == nil {
		return Pos{File: d.file, Line: 1, Column: 1}
	}
	p := n.GetToken().Position
	return Pos{File: d.file, Line: p.Line, Column: p.Column}
}

func (d *decoder) fail(n ast.Node, format string, args ...any) {
	if len(d.problems) == maxErrors {
		d.problems = append(d.problems, "… (more problems not shown)")
	}
	if len(d.problems) > maxErrors {
		return
	}
	d.problems = append(d.problems, d.pos(n).String()+": "+fmt.Sprintf(format, args...))
}

// fields walks a mapping, refusing keys not in allowed (and duplicates).
// Keys are handled in the order of allowed, so a later key may rely on an
// earlier one (lab before steps).
func (d *decoder) fields(n ast.Node, what string, allowed []string, fn func(key string, v ast.Node)) {
	m, ok := unwrap(n).(*ast.MappingNode)
	if !ok {
		if mv, ok2 := unwrap(n).(*ast.MappingValueNode); ok2 {
			m = &ast.MappingNode{BaseNode: mv.BaseNode, Values: []*ast.MappingValueNode{mv}}
			ok = true
		}
	}
	if !ok {
		d.fail(n, "%s: want a mapping with keys %s, got %s", what, strings.Join(allowed, ", "), describe(n))
		return
	}
	seen := map[string]ast.Node{}
	for _, mv := range m.Values {
		k := mv.Key.String()
		if !slices.Contains(allowed, k) {
			noun := "key"
			if what == "step" {
				noun = "action"
			}
			d.fail(mv.Key, "%s: unknown %s %q%s; valid: %s", what, noun, k, suggest(k, allowed), strings.Join(allowed, ", "))
			continue
		}
		if _, dup := seen[k]; dup {
			d.fail(mv.Key, "%s: key %q given twice", what, k)
			continue
		}
		seen[k] = mv.Value
	}
	for _, k := range allowed {
		if v, ok := seen[k]; ok {
			fn(k, v)
		}
	}
}

// unwrap skips tags and anchors; aliases are not followed.
func unwrap(n ast.Node) ast.Node {
	for {
		switch t := n.(type) {
		case *ast.TagNode:
			n = t.Value
		case *ast.AnchorNode:
			n = t.Value
		default:
			return n
		}
	}
}

func describe(n ast.Node) string {
	switch unwrap(n).(type) {
	case nil, *ast.NullNode:
		return "nothing"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", scalarText(n))
}

func scalarText(n ast.Node) string {
	switch t := unwrap(n).(type) {
	case *ast.StringNode:
		return t.Value
	case ast.ScalarNode:
		if t.GetToken() != nil {
			return t.GetToken().Value
		}
	}
	return ""
}

func isScalar(n ast.Node) bool {
	switch unwrap(n).(type) {
	case *ast.NullNode, *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode, *ast.AliasNode, nil:
		return false
	}
	_, ok := unwrap(n).(ast.ScalarNode)
	return ok
}

func (d *decoder) str(n ast.Node, what string) string {
	if !isScalar(n) {
		d.fail(n, "%s: want a value, got %s", what, describe(n))
		return ""
	}
	return scalarText(n)
}

func (d *decoder) list(n ast.Node, what string) []ast.Node {
	s, ok := unwrap(n).(*ast.SequenceNode)
	if !ok {
		d.fail(n, "%s: want a list, got %s", what, describe(n))
		return nil
	}
	return s.Values
}

func (d *decoder) strs(n ast.Node, what string) []string {
	var out []string
	for _, v := range d.list(n, what) {
		out = append(out, d.str(v, what))
	}
	return out
}

func (d *decoder) duration(n ast.Node, what string) time.Duration {
	s := d.str(n, what)
	if s == "" {
		return 0
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		d.fail(n, "%s: want a duration such as 500ms, 3s or 1m, got %q", what, s)
		return 0
	}
	if v > MaxDuration {
		d.fail(n, "%s: %s is longer than a scenario's longest duration, %s", what, s, MaxDuration)
		return 0
	}
	return v
}

func (d *decoder) integer(n ast.Node, what string) int {
	s := d.str(n, what)
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		d.fail(n, "%s: want a whole number ≥ 0, got %q", what, s)
	}
	return v
}

func (d *decoder) boolean(n ast.Node, what string) bool {
	s := d.str(n, what)
	v, err := strconv.ParseBool(s)
	if err != nil {
		d.fail(n, "%s: want true or false, got %q", what, s)
	}
	return v
}

func (d *decoder) fraction(n ast.Node, what string) float64 {
	s := d.str(n, what)
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if strings.HasSuffix(s, "%") {
		v /= 100
	}
	if err != nil || v < 0 || v > 1 {
		d.fail(n, "%s: want a fraction between 0 and 1 (or a percentage), got %q", what, s)
		return 0
	}
	return v
}

func (d *decoder) choice(n ast.Node, what string, valid []string) string {
	s := d.str(n, what)
	for _, v := range valid {
		if strings.EqualFold(s, v) {
			return v
		}
	}
	if s != "" || isScalar(n) {
		d.fail(n, "%s: unknown value %q%s; valid: %s", what, s, suggest(s, valid), strings.Join(valid, ", "))
	}
	return s
}

func (d *decoder) scenario(n ast.Node, s *Scenario) {
	labSeen, given := false, false
	d.fields(n, "scenario", []string{"name", "section", "description", "lab", "steps"}, func(k string, v ast.Node) {
		switch k {
		case "name":
			s.Name = d.str(v, "name")
		case "section":
			s.Section = d.str(v, "section")
		case "description":
			s.Description = d.str(v, "description")
		case "lab":
			labSeen = true
			d.lab(v, &s.Lab)
		case "steps":
			if !labSeen {
				d.defaultLab(&s.Lab)
			}
			items := d.list(v, "steps")
			given = len(items) > 0
			for _, sn := range items {
				if st, ok := d.step(sn); ok {
					s.Steps = append(s.Steps, st)
				}
			}
		}
	})
	if s.Steps == nil && (!given || len(d.problems) == 0) {
		d.fail(n, "scenario: no steps; add `steps:` with at least one action, wait or check")
	}
}

// defaultLab is the lab of a scenario without `lab:` (lab.Default).
func (d *decoder) defaultLab(l *LabSpec) {
	for _, p := range lab.Default().Phones {
		l.Phones = append(l.Phones, PhoneSpec{PhoneSpec: p})
	}
	d.learnNodes(l)
}

func (d *decoder) learnNodes(l *LabSpec) {
	d.exts = map[string]string{}
	d.phones = nil
	for _, p := range l.Phones {
		d.phones = append(d.phones, p.Name)
		d.exts[p.Ext] = p.Name
	}
	d.rogue = l.Rogue
	d.nodes = append([]string{"pbx", "recorder"}, d.phones...)
	if l.Rogue {
		d.nodes = append(d.nodes, "rogue")
	}
	d.nodes = append(d.nodes, "scenario")
}

func (d *decoder) lab(n ast.Node, l *LabSpec) {
	d.fields(n, "lab", []string{"phones", "recorder", "timers", "rogue", "srtp"}, func(k string, v ast.Node) {
		switch k {
		case "phones":
			for _, pn := range d.list(v, "lab.phones") {
				d.phone(pn, l)
			}
		case "recorder":
			d.recorder(v, &l.Recorder)
		case "timers":
			d.timers(v, &l.Timers)
		case "rogue":
			l.Rogue = d.boolean(v, "lab.rogue")
		case "srtp":
			l.SRTP = d.choice(v, "lab.srtp", srtpChoices)
		}
	})
	if len(l.Phones) == 0 {
		d.defaultLab(l)
	} else {
		d.learnNodes(l)
	}
	for i, ext := range l.Recorder.Monitored {
		if _, ok := d.exts[ext]; !ok {
			d.fail(n, "lab.recorder.monitored[%d]: extension %q is no phone's; extensions: %s", i, ext, strings.Join(sortedKeys(d.exts), ", "))
		}
	}
}

func (d *decoder) phone(n ast.Node, l *LabSpec) {
	var p PhoneSpec
	d.fields(n, "phone", []string{"name", "ext", "model", "config", "start", "srtp"}, func(k string, v ast.Node) {
		switch k {
		case "name":
			p.Name = d.str(v, "phone name")
		case "ext":
			p.Ext = d.str(v, "phone ext")
			if strings.Trim(p.Ext, "0123456789") != "" || p.Ext == "" {
				d.fail(v, "phone ext: want digits, got %q", p.Ext)
			}
		case "model":
			p.Model = d.str(v, "phone model")
			if m, err := phones.LookupModel(p.Model); err != nil {
				var names []string
				for _, m := range model.All() {
					names = append(names, m.Name)
				}
				d.fail(v, "phone model: unknown model %q%s; valid: %s", p.Model, suggest(p.Model, names), strings.Join(names, ", "))
			} else {
				p.Model = m.Name
			}
		case "config":
			p.Config = map[string]string{}
			d.anyFields(v, "phone config", func(key string, kv ast.Node) { p.Config[key] = d.str(kv, "phone config "+key) })
		case "start":
			p.Start = d.choice(v, "phone start", phoneStarts)
		case "srtp":
			p.SRTP = d.choice(v, "phone srtp", srtpChoices)
		}
	})
	if p.Model == "" {
		d.fail(n, "phone: no model; every phone needs `model:` (e.g. 7434, 6867i)")
	}
	if p.Ext == "" {
		d.fail(n, "phone: no ext; every phone needs an extension (`ext: 1001`)")
	}
	if p.Name == "" {
		p.Name = p.Model
	}
	for _, o := range l.Phones {
		if o.Name == p.Name {
			d.fail(n, "phone: name %q used twice", p.Name)
		}
		if o.Ext == p.Ext && p.Ext != "" {
			d.fail(n, "phone %s: extension %s is %s's already", p.Name, p.Ext, o.Name)
		}
	}
	if slices.Contains([]string{"pbx", "recorder", "rogue", "scenario"}, p.Name) {
		d.fail(n, "phone: name %q is a lab node's", p.Name)
	}
	l.Phones = append(l.Phones, p)
}

// anyFields walks a mapping with free keys (a phone's configuration).
func (d *decoder) anyFields(n ast.Node, what string, fn func(key string, v ast.Node)) {
	m, ok := unwrap(n).(*ast.MappingNode)
	if !ok {
		if mv, ok2 := unwrap(n).(*ast.MappingValueNode); ok2 {
			fn(mv.Key.String(), mv.Value)
			return
		}
		d.fail(n, "%s: want a mapping of `parameter: value`, got %s", what, describe(n))
		return
	}
	for _, mv := range m.Values {
		fn(mv.Key.String(), mv.Value)
	}
}

func (d *decoder) recorder(n ast.Node, r *RecorderSpec) {
	d.fields(n, "lab.recorder", []string{"mapping", "monitored", "on-demand", "keep-alive", "srtp-keys"}, func(k string, v ast.Node) {
		switch k {
		case "mapping":
			r.Mapping = d.choice(v, "lab.recorder.mapping", mappings)
		case "monitored":
			r.Monitored = d.strs(v, "lab.recorder.monitored")
		case "on-demand":
			r.OnDemand = d.choice(v, "lab.recorder.on-demand", onDemand)
		case "keep-alive":
			r.KeepAlive = d.duration(v, "lab.recorder.keep-alive")
		case "srtp-keys":
			r.SRTPKeys = d.choice(v, "lab.recorder.srtp-keys", recorder.SRTPKeysNames())
		}
	})
}

// srtpChoices are the values of `srtp:` (spec §1.3): a crypto suite, or off.
var srtpChoices = append([]string{"off"}, media.CryptoSuites()...)

func (d *decoder) timers(n ast.Node, t *TimerSpec) {
	d.fields(n, "lab.timers", []string{"register-expiry", "register-retry", "keep-alive", "csta-keep-alive", "stream-idle", "sip-t1", "phone-keep-alive", "answer-timeout", "invite-retransmit"}, func(k string, v ast.Node) {
		dur := d.duration(v, "lab.timers."+k)
		switch k {
		case "register-expiry":
			t.RegisterExpiry = dur
		case "register-retry":
			t.RegisterRetry = dur
		case "keep-alive":
			t.KeepAlive = dur
		case "csta-keep-alive":
			t.CSTAKeepAlive = dur
		case "stream-idle":
			t.StreamIdle = dur
		case "sip-t1":
			t.SIPT1 = dur
		case "phone-keep-alive":
			t.PhoneKeepAlive = dur
		case "answer-timeout":
			t.AnswerTimeout = dur
		case "invite-retransmit":
			t.InviteRetransmit = dur
		}
	})
}

func (d *decoder) phoneName(n ast.Node, what string) string {
	s := d.str(n, what)
	if s == "" {
		return ""
	}
	if !slices.Contains(d.phones, s) {
		if name, ok := d.exts[s]; ok {
			return name
		}
		d.fail(n, "%s: unknown phone %q%s; phones: %s", what, s, suggest(s, d.phones), strings.Join(d.phones, ", "))
	}
	return s
}

func (d *decoder) nodeName(n ast.Node, what string) string {
	s := d.str(n, what)
	if s != "" && !slices.Contains(d.nodes, s) {
		if name, ok := d.exts[s]; ok {
			return name
		}
		d.fail(n, "%s: unknown node %q%s; nodes: %s", what, s, suggest(s, d.nodes), strings.Join(d.nodes, ", "))
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// suggest names the valid choices closest to a misspelling, if any is
// close: the one, or up to three as close as each other ("4424": 4422,
// 4423 or 4425).
func suggest(s string, valid []string) string {
	var best []string
	bestD := min(3, len(s)/2+1)
	for _, v := range valid {
		d := editDistance(strings.ToLower(s), strings.ToLower(v))
		switch {
		case d < bestD:
			best, bestD = []string{v}, d
		case d == bestD && len(best) > 0 && len(best) < 3:
			best = append(best, v)
		}
	}
	if len(best) == 0 {
		return ""
	}
	q := make([]string, len(best))
	for i, b := range best {
		q[i] = strconv.Quote(b)
	}
	if len(q) == 1 {
		return fmt.Sprintf(" (did you mean %s?)", q[0])
	}
	return fmt.Sprintf(" (did you mean %s or %s?)", strings.Join(q[:len(q)-1], ", "), q[len(q)-1])
}

// editDistance is Levenshtein's with a swap of two neighbours counted as
// one edit (optimal string alignment), for short words: "dail" is one edit
// from "dial", two from "wait".
func editDistance(a, b string) int {
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			rows[i][j] = min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				rows[i][j] = min(rows[i][j], rows[i-2][j-2]+1)
			}
		}
	}
	return rows[len(a)][len(b)]
}
