package scenarios

import (
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Action is one step key of the format: what it does, for `reclab list
// --actions`, the README and error messages.
type Action struct {
	Name  string
	Usage string // the YAML form
	Help  string
	parse func(d *decoder, v ast.Node, st *Step)
}

// Actions is the vocabulary of `steps:`, in the order README.md lists it.
var Actions = []Action{
	{"register", "register: PHONE", "the phone registers with the PBX", phoneArg},
	{"unregister", "unregister: PHONE", "the phone logs off (REGISTER Expires: 0)", phoneArg},
	{"dial", "dial: {phone: PHONE, to: PHONE|NUMBER}", "the phone calls another phone or a number", parseDial},
	{"answer", "answer: PHONE", "the ringing phone answers", phoneArg},
	{"hang-up", "hang-up: PHONE", "the phone ends its call", phoneArg},
	{"power-off", "power-off: PHONE", "power is cut: no BYE, no un-REGISTER", phoneArg},
	{"power-on", "power-on: PHONE", "the phone boots (it does not register until told)", phoneArg},
	{"record-key", "record-key: PHONE", "the user presses the record softkey (record on demand)", phoneArg},
	{"register-as", "register-as: {phone: PHONE, ext: EXT}", "a second phone registers an extension that is in use: the first is logged off (spec §3.2.3)", parseRegisterAs},
	{"firmware-update", "firmware-update: PHONE | {phone: PHONE, config: {PARAM: VALUE}}", "the PBX orders a firmware/configuration update; config first edits the phone's configuration file", parseUpdate},
	{"pbx-restart", "pbx-restart:", "the PBX stops and starts again", noArg},
	{"pbx-stop", "pbx-stop:", "the PBX goes down", noArg},
	{"pbx-start", "pbx-start:", "the PBX comes back", noArg},
	{"impair", "impair: {between: [A, B] | from: A, to: B, proto: P|all, drop: F|all, delay: D, duplicate: F, count: N}", "network impairment between two nodes, both ways (from/to: one way; count: the next N packets only)", parseImpair},
	{"lift", "lift: {between: [A, B], proto: P|all} | lift:", "lift the impairments between A and B (all of them with no argument)", parseLift},
	{"forged-invite", "forged-invite: PHONE", "the rogue host sends a recording INVITE to the phone's recording port", parseForged},
	{"rogue-register", "rogue-register: {ext: EXT, guess: PASSWORD}", "the rogue host REGISTERs the extension with its own Contact, answering the challenge with a guessed password if given", parseRogueRegister},
	{"wait", "wait: DURATION | {MATCH, count: N, timeout: D}", "pause, or wait until events match (MATCH: a message's from, to, proto, …, or a typed state's state: KIND, node: NODE, FIELD: VALUE)", parseWait},
	{"expect", "expect: {MATCH, count|at-least|at-most: N, seen: BOOL}", "check the messages or typed states seen so far", parseExpect},
	{"expect-order", "expect-order: [MATCH, MATCH, ...]", "check that messages or typed states were seen in this order", parseOrder},
	{"expect-phone", "expect-phone: {phone: PHONE, powered, registered: BOOL, call: STATE, recording: STATE}", "check a phone's state", parseState},
	{"expect-recording", "expect-recording: {phone: PHONE, exists, min-duration, left, right, max-lost, forked, encrypted, on-disk: N}", "check the phone's recording", parseRecording},
}

// ActionNames lists the step keys.
func ActionNames() []string {
	out := make([]string, len(Actions))
	for i, a := range Actions {
		out[i] = a.Name
	}
	return out
}

func findAction(name string) (Action, bool) {
	for _, a := range Actions {
		if a.Name == name {
			return a, true
		}
	}
	return Action{}, false
}

// Matcher keys and the protocols they take.
var (
	matchKeys   = []string{"from", "to", "proto", "method", "response", "text", "port", "stopped"}
	protocols   = []string{"SIP", "RTP", "CSTA", "HTTP", "LAB", "RAS"}
	impairProto = []string{"SIP", "RTP", "CSTA", "HTTP", "RAS", "all"}
	callStates  = []string{"idle", "dialing", "ringing", "talking"}
	recStates   = []string{"idle", "offered", "forking"}
)

// argKeys are the keys of each action that takes a mapping.
var argKeys = map[string][]string{
	"dial":             {"phone", "to"},
	"register-as":      {"phone", "ext"},
	"firmware-update":  {"phone", "config"},
	"rogue-register":   {"ext", "guess"},
	"impair":           {"between", "from", "to", "proto", "drop", "delay", "duplicate", "count"},
	"lift":             {"between", "proto"},
	"expect-phone":     {"phone", "powered", "registered", "call", "recording"},
	"expect-recording": {"phone", "exists", "min-duration", "left", "right", "max-lost", "forked", "encrypted", "on-disk"},
	"wait":             append(slices.Clone(matchKeys), "count", "timeout", "state", "node"),
	"expect":           append(slices.Clone(matchKeys), "count", "at-least", "at-most", "seen", "state", "node"),
}

// DefaultTimeout bounds a wait that names none.
const DefaultTimeout = 10 * time.Second

func (d *decoder) step(n ast.Node) (Step, bool) {
	st := Step{Pos: d.pos(n)}
	valid := append([]string{"say"}, ActionNames()...)
	if d.underIndented(n, valid) {
		return st, false
	}
	var kinds []string
	d.fields(n, "step", valid, func(k string, v ast.Node) {
		if k == "say" {
			st.Say = d.str(v, "say")
			return
		}
		kinds = append(kinds, k)
		if len(kinds) > 1 {
			d.fail(v, "step: one action per step, this one has %s; split it into two steps: start `%s` on a line of its own with `- `", strings.Join(kinds, " and "), k)
			return
		}
		st.Kind = k
		a, _ := findAction(k)
		a.parse(d, v, &st)
	})
	if st.Kind == "" && st.Say == "" {
		return st, false
	}
	return st, true
}

// underIndented finds an action with nothing after its colon followed by
// keys that are its arguments but start in its own column ("wait:" then
// "from: pbx" below it, not indented): YAML reads them as more actions of
// the step. It says so once, and reports whether it did.
func (d *decoder) underIndented(n ast.Node, valid []string) bool {
	m, ok := unwrap(n).(*ast.MappingNode)
	if !ok {
		return false
	}
	for i, mv := range m.Values {
		k := mv.Key.String()
		keys, takes := argKeys[k]
		if _, empty := unwrap(mv.Value).(*ast.NullNode); !takes || !empty {
			continue
		}
		var stray []string
		for _, o := range m.Values[i+1:] {
			ok := o.Key.String()
			if slices.Contains(valid, ok) || !slices.Contains(keys, ok) {
				break
			}
			stray = append(stray, ok)
		}
		if len(stray) == 0 {
			continue
		}
		verb, it := "starts", "it"
		if len(stray) > 1 {
			verb, it = "start", "them"
		}
		d.fail(m.Values[i+1].Key, "step: %s %s in the column of `%s:`, so YAML reads %s as more actions of the step, not as %s's; indent %s two spaces more than `%s:`, or write %s: {%s: …}",
			quoteJoin(stray), verb, k, it, k, it, k, k, stray[0])
		return true
	}
	return false
}

func quoteJoin(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = "`" + k + "`"
	}
	return strings.Join(q, " and ")
}

func phoneArg(d *decoder, v ast.Node, st *Step) { st.Phone = d.phoneName(v, st.Kind) }

func noArg(d *decoder, v ast.Node, st *Step) {
	switch t := unwrap(v).(type) {
	case nil, *ast.NullNode:
	case *ast.MappingNode:
		if len(t.Values) > 0 {
			d.fail(v, "%s: takes nothing; write `- %s:`", st.Kind, st.Kind)
		}
	default:
		d.fail(v, "%s: takes nothing; write `- %s:`", st.Kind, st.Kind)
	}
}

func parseDial(d *decoder, v ast.Node, st *Step) {
	d.fields(v, "dial", argKeys["dial"], func(k string, x ast.Node) {
		switch k {
		case "phone":
			st.Phone = d.phoneName(x, "dial.phone")
		case "to":
			to := d.str(x, "dial.to")
			if slices.Contains(d.phones, to) {
				for ext, name := range d.exts {
					if name == to {
						to = ext
					}
				}
			} else if strings.Trim(to, "0123456789*#") != "" || to == "" {
				d.fail(x, "dial.to: %q is neither a phone (%s) nor a number", to, strings.Join(d.phones, ", "))
			}
			st.To = to
		}
	})
	if st.Phone == "" || st.To == "" {
		d.fail(v, "dial: needs phone and to, e.g. {phone: 7434, to: 6867i}")
	}
}

func parseRegisterAs(d *decoder, v ast.Node, st *Step) {
	d.fields(v, "register-as", argKeys["register-as"], func(k string, x ast.Node) {
		switch k {
		case "phone":
			st.Phone = d.phoneName(x, "register-as.phone")
		case "ext":
			st.Ext = d.str(x, "register-as.ext")
		}
	})
	if st.Phone == "" || st.Ext == "" {
		d.fail(v, "register-as: needs phone and ext")
	}
}

func parseUpdate(d *decoder, v ast.Node, st *Step) {
	if isScalar(v) {
		phoneArg(d, v, st)
		return
	}
	d.fields(v, "firmware-update", argKeys["firmware-update"], func(k string, x ast.Node) {
		switch k {
		case "phone":
			st.Phone = d.phoneName(x, "firmware-update.phone")
		case "config":
			st.Config = map[string]string{}
			d.anyFields(x, "firmware-update.config", func(key string, kv ast.Node) {
				st.Config[key] = d.str(kv, "firmware-update.config "+key)
			})
		}
	})
	if st.Phone == "" {
		d.fail(v, "firmware-update: needs phone")
	}
}

func parseForged(d *decoder, v ast.Node, st *Step) {
	st.Phone = d.phoneName(v, "forged-invite")
	if !d.rogue {
		d.fail(v, "forged-invite: the lab has no rogue host; add `rogue: true` under `lab:`")
	}
}

func parseRogueRegister(d *decoder, v ast.Node, st *Step) {
	d.fields(v, "rogue-register", argKeys["rogue-register"], func(k string, x ast.Node) {
		switch k {
		case "ext":
			st.Ext = d.str(x, "rogue-register.ext")
		case "guess":
			st.Guess = d.str(x, "rogue-register.guess")
		}
	})
	if st.Ext == "" {
		d.fail(v, "rogue-register: needs ext")
	}
	if !d.rogue {
		d.fail(v, "rogue-register: the lab has no rogue host; add `rogue: true` under `lab:`")
	}
}

func (d *decoder) between(x ast.Node, imp *Impairment) {
	names := d.list(x, "between")
	if len(names) != 2 {
		d.fail(x, "between: want two nodes, e.g. [7434, recorder]")
		return
	}
	for i, n := range names {
		imp.Between[i] = d.nodeName(n, "between")
	}
}

func parseImpair(d *decoder, v ast.Node, st *Step) {
	imp := &Impairment{Proto: "all"}
	d.fields(v, "impair", argKeys["impair"], func(k string, x ast.Node) {
		switch k {
		case "between":
			d.between(x, imp)
		case "from":
			imp.Between[0], imp.OneWay = d.nodeName(x, "impair.from"), true
		case "to":
			imp.Between[1], imp.OneWay = d.nodeName(x, "impair.to"), true
		case "count":
			imp.Count = d.integer(x, "impair.count")
			if imp.Count < 1 {
				d.fail(x, "impair.count: want 1 or more packets, got %d", imp.Count)
			}
		case "proto":
			imp.Proto = d.choice(x, "impair.proto", impairProto)
		case "drop":
			if strings.EqualFold(scalarText(x), "all") {
				imp.DropAll = true
			} else {
				imp.Drop = d.fraction(x, "impair.drop")
			}
		case "delay":
			imp.Delay = d.duration(x, "impair.delay")
		case "duplicate":
			imp.Duplicate = d.fraction(x, "impair.duplicate")
		}
	})
	if imp.Between[0] == "" || imp.Between[1] == "" {
		d.fail(v, "impair: needs between: [A, B], or from: A and to: B for one way")
	}
	if !imp.DropAll && imp.Drop == 0 && imp.Delay == 0 && imp.Duplicate == 0 {
		d.fail(v, "impair: sets nothing; give drop (a fraction or all), delay or duplicate")
	}
	if imp.DropAll && (imp.Drop > 0 || imp.Delay > 0 || imp.Duplicate > 0) {
		d.fail(v, "impair: drop: all drops everything; delay and duplicate make no sense with it")
	}
	if (imp.Proto == "CSTA" || imp.Proto == "HTTP") && (imp.Drop > 0 || imp.Duplicate > 0) {
		d.fail(v, "impair: %s runs over TCP, which neither loses nor repeats bytes; use drop: all (the link is cut) or delay", imp.Proto)
	}
	st.Impair = imp
}

func parseLift(d *decoder, v ast.Node, st *Step) {
	imp := &Impairment{Proto: "all"}
	st.Impair = imp
	if _, ok := unwrap(v).(*ast.NullNode); ok || v == nil {
		return // lift everything
	}
	d.fields(v, "lift", argKeys["lift"], func(k string, x ast.Node) {
		switch k {
		case "between":
			d.between(x, imp)
		case "proto":
			imp.Proto = d.choice(x, "lift.proto", impairProto)
		}
	})
	st.Impair = imp
}

// matchField reads one matcher key; it reports whether k was one.
func (d *decoder) matchField(m *Matcher, k string, x ast.Node, what string) bool {
	switch k {
	case "from":
		m.From = d.nodeName(x, what+".from")
	case "to":
		m.To = d.nodeName(x, what+".to")
	case "proto":
		m.Proto = d.choice(x, what+".proto", protocols)
	case "method":
		m.Method = d.str(x, what+".method")
	case "response":
		m.Response = d.integer(x, what+".response")
		if m.Response < 100 || m.Response > 699 {
			d.fail(x, "%s.response: want a SIP status code 100–699, got %d", what, m.Response)
		}
	case "text":
		m.Text = d.str(x, what+".text")
	case "port":
		p := d.integer(x, what+".port")
		if p < 1 || p > 65535 {
			d.fail(x, "%s.port: want 1–65535, got %d", what, p)
		}
		m.Port = uint16(p)
	case "stopped":
		m.Stopped = d.boolean(x, what+".stopped")
	default:
		return false
	}
	return true
}

// matcher reads a message matcher or, with a `state:` key, a state
// selector into m; own are the step's other keys, handed to fn.
func (d *decoder) matcher(n ast.Node, what string, m *Matcher, own []string, fn func(k string, v ast.Node)) {
	if hasKey(n, "state") {
		d.stateMatcher(n, what, m, own, fn)
		return
	}
	d.fields(n, what, append(append(slices.Clone(matchKeys), own...), "state"), func(k string, x ast.Node) {
		if !d.matchField(m, k, x, what) {
			fn(k, x)
		}
	})
	d.checkMatcher(n, *m, what)
}

func (d *decoder) checkMatcher(n ast.Node, m Matcher, what string) {
	if m == (Matcher{}) {
		d.fail(n, "%s: matches everything; give at least one of %s", what, strings.Join(matchKeys, ", "))
	}
	if (m.Response != 0 || m.Method != "") && m.Proto == "" {
		d.fail(n, "%s: method and response need proto (SIP, CSTA or HTTP)", what)
	}
	if m.Stopped && m.Proto != "RTP" {
		d.fail(n, "%s: stopped applies to proto: RTP", what)
	}
}

func parseWait(d *decoder, v ast.Node, st *Step) {
	if isScalar(v) {
		st.Pause = d.duration(v, "wait")
		return
	}
	w := &WaitSpec{Count: 1, Timeout: DefaultTimeout}
	own := []string{"count", "timeout"}
	d.matcher(v, "wait", &w.Match, own, func(k string, x ast.Node) {
		switch k {
		case "count":
			w.Count = d.integer(x, "wait.count")
		case "timeout":
			w.Timeout = d.duration(x, "wait.timeout")
		}
	})
	st.Wait = w
}

func parseExpect(d *decoder, v ast.Node, st *Step) {
	e := &ExpectSpec{Seen: true}
	own := []string{"count", "at-least", "at-most", "seen"}
	d.matcher(v, "expect", &e.Match, own, func(k string, x ast.Node) {
		n := d.integer
		switch k {
		case "count":
			c := n(x, "expect.count")
			e.Count = &c
		case "at-least":
			c := n(x, "expect.at-least")
			e.AtLeast = &c
		case "at-most":
			c := n(x, "expect.at-most")
			e.AtMost = &c
		case "seen":
			e.Seen = d.boolean(x, "expect.seen")
		}
	})
	if !e.Seen && (e.Count != nil || e.AtLeast != nil || e.AtMost != nil) {
		d.fail(v, "expect: seen: false means a count of 0; drop count/at-least/at-most")
	}
	st.Expect = e
}

func parseOrder(d *decoder, v ast.Node, st *Step) {
	for _, x := range d.list(v, "expect-order") {
		var m Matcher
		d.matcher(x, "expect-order item", &m, nil, nil)
		st.Order = append(st.Order, m)
	}
	if len(st.Order) < 2 {
		d.fail(v, "expect-order: want at least two messages")
	}
}

func parseState(d *decoder, v ast.Node, st *Step) {
	c := &StateCheck{}
	d.fields(v, "expect-phone", argKeys["expect-phone"], func(k string, x ast.Node) {
		switch k {
		case "phone":
			st.Phone = d.phoneName(x, "expect-phone.phone")
		case "powered":
			b := d.boolean(x, "expect-phone.powered")
			c.Powered = &b
		case "registered":
			b := d.boolean(x, "expect-phone.registered")
			c.Registered = &b
		case "call":
			c.Call = d.choice(x, "expect-phone.call", callStates)
		case "recording":
			c.Recording = d.choice(x, "expect-phone.recording", recStates)
		}
	})
	if st.Phone == "" {
		d.fail(v, "expect-phone: needs phone")
	}
	st.State = c
}

func parseRecording(d *decoder, v ast.Node, st *Step) {
	c := &RecordingCheck{Exists: true}
	d.fields(v, "expect-recording", argKeys["expect-recording"], func(k string, x ast.Node) {
		switch k {
		case "phone":
			st.Phone = d.phoneName(x, "expect-recording.phone")
		case "exists":
			c.Exists = d.boolean(x, "expect-recording.exists")
		case "min-duration":
			c.MinDuration = d.duration(x, "expect-recording.min-duration")
		case "left":
			c.Left = d.phoneName(x, "expect-recording.left")
		case "right":
			c.Right = d.phoneName(x, "expect-recording.right")
		case "max-lost":
			n := d.integer(x, "expect-recording.max-lost")
			c.MaxLost = &n
		case "forked":
			c.Forked = d.boolean(x, "expect-recording.forked")
		case "encrypted":
			b := d.boolean(x, "expect-recording.encrypted")
			c.Encrypted = &b
		case "on-disk":
			n := d.integer(x, "expect-recording.on-disk")
			c.OnDisk = &n
		}
	})
	if st.Phone == "" {
		d.fail(v, "expect-recording: needs phone")
	}
	st.Rec = c
}
