package scenarios

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// A story selects a node's typed state (sim.KindState) with `state: KIND`,
// `node:` and any of the type's fields (README.md "Matching states"). The
// fields are the state type's JSON names, as trace.jsonl writes them, so
// what a person reads there is what a story can match; nothing matches the
// wording of a note.

// StateKind is one kind of typed state a story can select.
type StateKind struct {
	Name      string // the `state:` value
	Help      string
	Publisher string // "phone" or "recorder": which nodes publish it
	typ       reflect.Type
	fields    []stateField
}

// stateField is one matchable field of a state type.
type stateField struct {
	Name    string   // the key in a story: the JSON name, "is" for "state"
	Choices []string // the values it can take, when they are few (bools, enums)
	index   []int    // reflect path from the state struct
}

// StateKinds is the vocabulary of `state:`, in the order README.md lists it.
var StateKinds = []StateKind{
	stateKind[phones.PowerState]("power", "phone", "a phone's power: on true/false"),
	stateKind[phones.RegistrationState]("registration", "phone", "a phone's registration with the PBX"),
	stateKind[phones.RegisterFailed]("register-failed", "phone", "a REGISTER (unregister: true: the un-REGISTER) that got no 200 OK"),
	stateKind[phones.CallChanged]("call", "phone", "a phone's call: is idle, dialing, ringing, talking"),
	stateKind[phones.RecordingState]("recording", "phone", "a phone's recording session: is idle, offered, forking"),
	stateKind[phones.InviteUnanswered]("invite-unanswered", "phone", "a recording INVITE the phone sends no response to (cause: logged off, same session id, retransmission)"),
	stateKind[phones.RecordKeyAnswered]("record-key", "phone", "a record-key press and the recorder's answer (status 0: none)"),
	stateKind[recorder.CSTALinkState]("csta-link", "recorder", "the recorder's CSTA link to the PBX"),
	stateKind[recorder.CallEstablished]("call-established", "recorder", "a monitored call the recorder learnt over CSTA and decided on"),
	stateKind[recorder.InviteSent]("invite-sent", "recorder", "a recording INVITE the recorder sent (cause: new session, retransmission, session refresher)"),
	stateKind[recorder.SessionChanged]("session", "recorder", "a recording session up (the phone forks) or ended, with its cause"),
	stateKind[recorder.RecordingStarted]("recording-started", "recorder", "a recording file opened (one per call)"),
	stateKind[recorder.RecordingClosed]("recording-closed", "recorder", "a recording file final: kept true (written) or false (discarded), its sidecar's fields; ext and cause name extension and reason"),
	stateKind[recorder.RecordKeyServed]("record-key-served", "recorder", "a record-key request the recorder answered"),
}

// stateAliases names fields of a kind that other kinds spell otherwise, so
// every kind has ext and cause where it has them at all.
var stateAliases = map[string]map[string]string{
	"recording-closed": {"ext": "extension", "cause": "reason"},
}

// StateKindNames lists the kinds.
func StateKindNames() []string {
	out := make([]string, len(StateKinds))
	for i, k := range StateKinds {
		out[i] = k.Name
	}
	return out
}

func findStateKind(name string) (*StateKind, bool) {
	for i := range StateKinds {
		if StateKinds[i].Name == name {
			return &StateKinds[i], true
		}
	}
	return nil, false
}

func stateKind[T sim.State](name, publisher, help string) StateKind {
	t := reflect.TypeFor[T]()
	k := StateKind{Name: name, Help: help, Publisher: publisher, typ: t}
	k.fields = structFields(t, "", nil)
	return k
}

// FieldNames lists the kind's field keys, aliases included.
func (k *StateKind) FieldNames() []string {
	var out []string
	for _, f := range k.fields {
		out = append(out, f.Name)
	}
	for a := range stateAliases[k.Name] {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

func (k *StateKind) field(name string) (stateField, bool) {
	if real, ok := stateAliases[k.Name][name]; ok {
		name = real
	}
	for _, f := range k.fields {
		if f.Name == name {
			return f, true
		}
	}
	return stateField{}, false
}

var (
	stringer      = reflect.TypeFor[fmt.Stringer]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// structFields walks t's exported fields as encoding/json names them:
// the JSON tag's name, or the Go name in lower case; an untagged struct
// (embedded or not) lends its fields without a prefix, a tagged one with
// "name.". A field called "state" is "is" (`state:` names the kind).
func structFields(t reflect.Type, prefix string, index []int) []stateField {
	var out []stateField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		idx := append(slices.Clone(index), i)
		ft := sf.Type
		if ft.Kind() == reflect.Struct && !ft.Implements(stringer) && !ft.Implements(textMarshaler) {
			p := prefix
			if tag != "" {
				p = prefix + tag + "."
			}
			out = append(out, structFields(ft, p, idx)...)
			continue
		}
		name := tag
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		if prefix == "" && name == "state" {
			name = "is"
		}
		out = append(out, stateField{Name: prefix + name, Choices: choices(ft), index: idx})
	}
	return out
}

// choices lists the values of a bool or of an enum: a named integer type
// whose String gives names until it falls back to "Type(n)".
func choices(t reflect.Type) []string {
	if t.Kind() == reflect.Bool {
		return []string{"true", "false"}
	}
	if !t.Implements(stringer) || !t.ConvertibleTo(reflect.TypeFor[int]()) || t.Kind() == reflect.Struct {
		return nil
	}
	var out []string
	for i := 0; i < 64; i++ {
		s := reflect.ValueOf(i).Convert(t).Interface().(fmt.Stringer).String()
		if s == fmt.Sprintf("%s(%d)", t.Name(), i) {
			break
		}
		out = append(out, s)
	}
	return out
}

// valueTexts is a field's value as a story writes it: its text form as in
// trace.jsonl (an address, a time in RFC 3339), else a Stringer's name (a
// call state: idle, not 0), a bool's true/false, a number in decimal; a
// list gives each element.
func valueTexts(v reflect.Value) []string {
	if v.Kind() == reflect.Slice {
		var out []string
		for i := 0; i < v.Len(); i++ {
			out = append(out, valueTexts(v.Index(i))...)
		}
		return out
	}
	if v.Type().Implements(textMarshaler) {
		if b, err := v.Interface().(encoding.TextMarshaler).MarshalText(); err == nil {
			return []string{string(b)}
		}
	}
	if v.Type().Implements(stringer) {
		return []string{v.Interface().(fmt.Stringer).String()}
	}
	switch v.Kind() {
	case reflect.String:
		return []string{v.String()}
	case reflect.Bool:
		return []string{strconv.FormatBool(v.Bool())}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return []string{strconv.FormatInt(v.Int(), 10)}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return []string{strconv.FormatUint(v.Uint(), 10)}
	case reflect.Float32, reflect.Float64:
		return []string{strconv.FormatFloat(v.Float(), 'g', -1, 64)}
	}
	return []string{fmt.Sprint(v.Interface())}
}

// StateMatch selects typed state events: the kind, and fields that must
// equal the values given (a list field must contain it).
type StateMatch struct {
	Kind   *StateKind
	Fields []FieldMatch // in the order the story gives them
}

// FieldMatch is one `field: value` of a StateMatch.
type FieldMatch struct {
	Name, Value string
	field       stateField
}

func (s *StateMatch) match(e sim.Event) bool {
	if e.Kind != sim.KindState || e.State == nil {
		return false
	}
	v := reflect.ValueOf(e.State)
	if v.Type() != s.Kind.typ {
		return false
	}
	for _, f := range s.Fields {
		if !slices.Contains(valueTexts(v.FieldByIndex(f.field.index)), f.Value) {
			return false
		}
	}
	return true
}

func (s *StateMatch) String() string {
	parts := []string{s.Kind.Name}
	for _, f := range s.Fields {
		v := f.Value
		if v == "" || strings.ContainsAny(v, " \t\"") {
			v = strconv.Quote(v)
		}
		parts = append(parts, f.Name+"="+v)
	}
	return strings.Join(parts, " ")
}

// stateMatchKeys are the keys of a state selector besides the type's fields.
var stateMatchKeys = []string{"state", "node"}

// hasKey reports whether the mapping n has key k.
func hasKey(n ast.Node, k string) bool {
	_, ok := mappingValue(n, k)
	return ok
}

func mappingValue(n ast.Node, k string) (ast.Node, bool) {
	for _, mv := range mappingValues(n) {
		if mv.Key.String() == k {
			return mv.Value, true
		}
	}
	return nil, false
}

// mappingValues is the keys and values of a mapping; none for anything else.
func mappingValues(n ast.Node) []*ast.MappingValueNode {
	switch t := unwrap(n).(type) {
	case *ast.MappingNode:
		return t.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{t}
	}
	return nil
}

// stateMatcher reads a mapping with a `state:` key into m: the kind, the
// node and the kind's fields; own are the step's other keys (count,
// timeout, …), handed to fn. Every problem names the key and what is
// valid there.
func (d *decoder) stateMatcher(n ast.Node, what string, m *Matcher, own []string, fn func(k string, v ast.Node)) {
	kv, _ := mappingValue(n, "state")
	name := d.str(kv, what+".state")
	kind, ok := findStateKind(name)
	if !ok {
		if name != "" {
			d.fail(kv, "%s.state: unknown state %q%s; states: %s", what, name, suggest(name, StateKindNames()), strings.Join(StateKindNames(), ", "))
		}
		return
	}
	sm := &StateMatch{Kind: kind}
	m.State = sm
	seen := map[string]bool{}
	for _, mv := range mappingValues(n) {
		k := mv.Key.String()
		if seen[k] {
			d.fail(mv.Key, "%s: key %q given twice", what, k)
			continue
		}
		seen[k] = true
		switch {
		case k == "state":
		case k == "node":
			m.From = d.nodeName(mv.Value, what+".node")
			d.checkPublisher(mv.Value, what, kind, m.From)
		case slices.Contains(own, k):
			fn(k, mv.Value)
		default:
			f, ok := kind.field(k)
			if !ok && slices.Contains(matchKeys, k) {
				d.fail(mv.Key, "%s: %s selects messages, not states; a state is selected by node and the fields of %s: %s", what, k, kind.Name, strings.Join(kind.FieldNames(), ", "))
				continue
			}
			if !ok {
				valid := kind.FieldNames()
				d.fail(mv.Key, "%s: state %s has no field %q%s; its fields: %s (and %s)", what, kind.Name, k,
					suggest(k, append(valid, own...)), strings.Join(valid, ", "), strings.Join(append(slices.Clone(stateMatchKeys[1:]), own...), ", "))
				continue
			}
			v := d.str(mv.Value, what+"."+k)
			if f.Choices != nil && !slices.Contains(f.Choices, v) {
				if c := caseFold(v, f.Choices); c != "" {
					v = c
				} else {
					d.fail(mv.Value, "%s.%s: state %s's %s is never %q%s; valid: %s", what, k, kind.Name, k, v, suggest(v, f.Choices), strings.Join(f.Choices, ", "))
				}
			}
			sm.Fields = append(sm.Fields, FieldMatch{Name: k, Value: v, field: f})
		}
	}
}

func caseFold(s string, valid []string) string {
	for _, v := range valid {
		if strings.EqualFold(s, v) {
			return v
		}
	}
	return ""
}

// checkPublisher refuses a node that never publishes the kind.
func (d *decoder) checkPublisher(n ast.Node, what string, kind *StateKind, node string) {
	if node == "" {
		return
	}
	isPhone := slices.Contains(d.phones, node)
	if (kind.Publisher == "phone") != isPhone || (kind.Publisher == "recorder" && node != "recorder") {
		who := "only the recorder publishes it"
		if kind.Publisher == "phone" {
			who = "only phones publish it (" + strings.Join(d.phones, ", ") + ")"
		}
		d.fail(n, "%s.node: %s publishes no %s state; %s", what, node, kind.Name, who)
	}
}
