package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/sim"
)

// Scenario is one lab story, read from a YAML file (README.md): a
// topology, the steps that drive it, narration and checks.
type Scenario struct {
	Name        string
	Section     string // the spec section it shows, e.g. "§3.2"
	Description string
	Source      string // the file it was read from, for error messages
	Lab         LabSpec
	Steps       []Step
}

// Pos is a place in a scenario file.
type Pos struct {
	File         string
	Line, Column int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column) }

// LabSpec is the scenario's `lab:` section.
type LabSpec struct {
	Phones   []PhoneSpec
	Recorder RecorderSpec
	Timers   TimerSpec
	Rogue    bool // put the rogue host 127.20.9.9 on the network
	// SRTP is every phone's SRTP crypto suite (spec §1.3), "" or "off":
	// plain RTP; a phone's own `srtp:` overrides it.
	SRTP string
}

// PhoneSpec is one phone of the lab.
type PhoneSpec struct {
	lab.PhoneSpec
	Start string // "registered" (default), "powered" (on, not registered) or "off"
}

// Phone start modes.
var phoneStarts = []string{"registered", "powered", "off"}

// RecorderSpec is the recorder of the lab.
type RecorderSpec struct {
	Mapping   string   // dynamic | static
	Monitored []string // extensions; default every phone's
	OnDemand  string   // off | start | save (spec record on demand)
	KeepAlive time.Duration
	SRTPKeys  string // csta | sdp | none | wrong (spec §1.3, recorder.SRTPKeys)
}

var (
	mappings = []string{"dynamic", "static"}
	onDemand = []string{"off", "start", "save"}
)

// TimerSpec is the `timers:` part of `lab:`; zero keeps a node's default.
type TimerSpec struct {
	RegisterExpiry time.Duration // phones: registration period asked for
	RegisterRetry  time.Duration // phones: retry after the registrar went quiet
	KeepAlive      time.Duration // recorder: SIP UPDATE interval (spec §3.2.2)
	CSTAKeepAlive  time.Duration // PBX and recorder: SystemStatus interval
	StreamIdle     time.Duration // sim: an RTP stream this long quiet is stopped
	SIPT1          time.Duration // sipgo's T1 (process-wide)
	// PhoneKeepAlive: phones' OPTIONS to the PBX (spec §3.2.6);
	// AnswerTimeout and InviteRetransmit: the recorder's (spec §3.2.1, §3.2.2).
	PhoneKeepAlive, AnswerTimeout, InviteRetransmit time.Duration
}

// Story defaults of the periodic keep-alives (recorder UPDATE, CSTA
// SystemStatus, the phones' OPTIONS): longer than any library story, also
// on a network with latency, so they fire only in a story that sets them
// (scenarios/README.md "Network delay"). The recorder's answer timeout
// stays what it was with the nodes' 30 s keep-alive.
const (
	storyKeepAlive     = 120 * time.Second
	storyAnswerTimeout = 30 * time.Second
)

// Topology turns the lab section into a sim/lab topology. Its timers are
// lab time: --speed changes the rate of the lab clock, not them.
func (s *Scenario) Topology() lab.Topology {
	tm := s.Lab.Timers
	t := lab.Topology{
		Recorder: lab.RecorderSpec{
			Monitored: s.Lab.Recorder.Monitored,
			Mapping:   s.Lab.Recorder.Mapping,
			OnDemand:  s.Lab.Recorder.OnDemand,
			KeepAlive: firstNonZero(tm.KeepAlive, s.Lab.Recorder.KeepAlive, storyKeepAlive),
			SRTPKeys:  s.Lab.Recorder.SRTPKeys,
		},
		SRTP:           s.Lab.SRTP,
		RegisterExpiry: tm.RegisterExpiry,
		Timers: lab.Timers{
			RegisterRetry: tm.RegisterRetry,
			CSTAKeepAlive: firstNonZero(tm.CSTAKeepAlive, storyKeepAlive),
			StreamIdle:    tm.StreamIdle,

			PhoneKeepAlive: firstNonZero(tm.PhoneKeepAlive, storyKeepAlive),
			// The node's default is max(keep-alive, 1s): with a keep-alive
			// set it follows it, else it stays 30s.
			AnswerTimeout:    firstNonZero(tm.AnswerTimeout, answerDefault(tm.KeepAlive, s.Lab.Recorder.KeepAlive)),
			InviteRetransmit: s.Lab.Timers.InviteRetransmit,
		},
	}
	for _, p := range s.Lab.Phones {
		t.Phones = append(t.Phones, p.PhoneSpec)
	}
	return t
}

func firstNonZero(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d != 0 {
			return d
		}
	}
	return 0
}

// answerDefault is the recorder's answer timeout when a story sets none:
// the node's own default for the keep-alive it set, else storyAnswerTimeout.
func answerDefault(keepAlives ...time.Duration) time.Duration {
	if ka := firstNonZero(keepAlives...); ka != 0 {
		return max(ka, time.Second)
	}
	return storyAnswerTimeout
}

// phoneStart is how a phone of the lab begins the story.
func (s *Scenario) phoneStart(name string) string {
	for _, p := range s.Lab.Phones {
		if p.Name == name && p.Start != "" {
			return p.Start
		}
	}
	return "registered"
}

// Step is one line of the story: narration, and at most one action, wait
// or check. Exactly one of the pointer fields matches Kind.
type Step struct {
	Pos  Pos
	Say  string
	Kind string // the action key, e.g. "dial", "wait", "expect"; "" for narration only

	Phone  string            // the phone acted on
	To     string            // dial: the number dialled (a phone's extension or any digits)
	Ext    string            // register-as, rogue-register: the extension taken
	Guess  string            // rogue-register: the password the rogue tries
	Config map[string]string // firmware-update: parameters written to the phone's file first
	Pause  time.Duration     // wait: a duration
	Wait   *WaitSpec
	Expect *ExpectSpec
	Order  []Matcher
	State  *StateCheck
	Rec    *RecordingCheck
	Impair *Impairment
}

// WaitSpec is `wait:` until events match.
type WaitSpec struct {
	Match   Matcher
	Count   int // the count-th match since the last wait; default 1
	Timeout time.Duration
}

// ExpectSpec is a check on the messages seen so far.
type ExpectSpec struct {
	Match   Matcher
	Count   *int // exactly
	AtLeast *int
	AtMost  *int
	Seen    bool // false: must not have been seen
}

// StateCheck is `expect-phone:`.
type StateCheck struct {
	Powered, Registered *bool
	Call, Recording     string
}

// RecordingCheck is `expect-recording:`.
type RecordingCheck struct {
	Exists      bool
	MinDuration time.Duration
	Left, Right string // phone names whose tone each channel must carry
	MaxLost     *int
	Forked      bool // the sidecar counts equal what the phone forked
	OnDisk      *int // the phone's recordings in OUT/recordings (WAV and JSON), exactly
	// Encrypted: the sidecar says the call was SRTP and every packet was
	// decrypted (true), or that it was plain (false); nil: not checked.
	Encrypted *bool
}

// Impairment is `impair:` and `lift:`.
type Impairment struct {
	Between   [2]string
	Proto     string // SIP, RTP, CSTA, HTTP or all
	Drop      float64
	DropAll   bool
	Delay     time.Duration
	Duplicate float64
	OneWay    bool // from Between[0] to Between[1] only
	Count     int  // the next Count matching packets only; 0: until lifted
}

// Matcher selects trace events (README.md "Matching events").
type Matcher struct {
	From, To string
	Proto    string // SIP, RTP, CSTA, HTTP, RAS, LAB (notes) or "" for any
	Method   string // a SIP method, a CSTA message name or an HTTP method
	Response int    // a SIP or HTTP status code
	Text     string // a piece of the summary
	Port     uint16 // destination port
	Stopped  bool   // RTP: match stream stops instead of starts
	// State, when set, selects typed state events of node From instead
	// of messages (README.md "Matching states"); the other fields are unset.
	State *StateMatch
}

func (m Matcher) String() string {
	if m.State != nil {
		return fmt.Sprintf("%s STATE %s", or(m.From, "*"), m.State)
	}
	var parts []string
	if m.From != "" || m.To != "" {
		parts = append(parts, fmt.Sprintf("%s → %s", or(m.From, "*"), or(m.To, "*")))
	}
	if m.Proto != "" {
		parts = append(parts, m.Proto)
	}
	if m.Method != "" {
		parts = append(parts, m.Method)
	}
	if m.Response != 0 {
		parts = append(parts, fmt.Sprint(m.Response))
	}
	if m.Port != 0 {
		parts = append(parts, fmt.Sprintf("port %d", m.Port))
	}
	if m.Stopped {
		parts = append(parts, "stopped")
	}
	if m.Text != "" {
		parts = append(parts, fmt.Sprintf("%q", m.Text))
	}
	return strings.Join(parts, " ")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Match reports whether e is selected. Messages match SIP, CSTA and HTTP;
// RTP matches stream start (or stop) events; LAB matches notes; errors and
// dropped packets are never matched.
func (m Matcher) Match(e sim.Event) bool {
	if m.State != nil {
		return (m.From == "" || e.From == m.From) && m.State.match(e)
	}
	switch e.Kind {
	case sim.KindMessage:
		if m.Stopped {
			return false
		}
	case sim.KindStreamStart:
		if m.Stopped {
			return false
		}
	case sim.KindStreamStop:
		if !m.Stopped {
			return false
		}
	case sim.KindNote:
	default:
		return false
	}
	if m.Proto != "" && !strings.EqualFold(m.Proto, e.Proto.String()) {
		return false
	}
	if m.From != "" && !nodeIs(e.From, m.From) {
		return false
	}
	if m.To != "" && !nodeIs(e.To, m.To) {
		return false
	}
	if m.Port != 0 && e.Dst.Port() != m.Port {
		return false
	}
	if m.Text != "" && !strings.Contains(e.Summary, m.Text) {
		return false
	}
	if m.Method == "" && m.Response == 0 {
		return true
	}
	code, method := summaryParts(e)
	if m.Response != 0 && code != m.Response {
		return false
	}
	if m.Response == 0 && code != 0 {
		return false // method alone names a request: "BYE" is not "200 OK (BYE)"
	}
	return m.Method == "" || strings.EqualFold(method, m.Method)
}

// nodeIs: "recorder" names the node and its labelled ports ("recorder tx").
func nodeIs(name, want string) bool {
	return name == want || strings.HasPrefix(name, want+" ")
}

// summaryParts reads a SIP, CSTA or HTTP summary: "INVITE sip:…" gives (0,
// INVITE), "200 OK (INVITE)" gives (200, INVITE), "0001 MonitorStart 1001"
// and "EstablishedEvent …" give (0, the message name), HTTP "GET /record…"
// gives (0, GET) and "400 Bad Request" (400, "": a status line does not
// name the request's method).
func summaryParts(e sim.Event) (code int, method string) {
	f := strings.Fields(e.Summary)
	if len(f) == 0 {
		return 0, ""
	}
	if e.Proto == sim.ProtoSIP || e.Proto == sim.ProtoHTTP {
		if n, err := fmt.Sscanf(f[0], "%3d", &code); n == 1 && err == nil && len(f[0]) == 3 {
			if e.Proto == sim.ProtoHTTP {
				return code, ""
			}
			last := f[len(f)-1]
			return code, strings.Trim(last, "()")
		}
		return 0, f[0]
	}
	if len(f[0]) == 4 && strings.Trim(f[0], "0123456789") == "" && len(f) > 1 {
		return 0, f[1]
	}
	return 0, f[0]
}

//go:embed library/*.yaml
var libraryFS embed.FS

var (
	libraryOnce sync.Once
	library     map[string]*Scenario
	libraryErr  error
)

func loadLibrary() {
	library = map[string]*Scenario{}
	files, err := fs.Glob(libraryFS, "library/*.yaml")
	if err != nil {
		libraryErr = err
		return
	}
	for _, f := range files {
		b, err := libraryFS.ReadFile(f)
		if err != nil {
			libraryErr = err
			return
		}
		s, err := Parse(f, b)
		if err != nil {
			libraryErr = err
			return
		}
		if o, ok := library[s.Name]; ok {
			libraryErr = fmt.Errorf("scenarios: %s and %s are both named %q", o.Source, f, s.Name)
			return
		}
		library[s.Name] = s
	}
}

// Library returns every embedded scenario, sorted by name. An embedded file
// that does not parse is a build mistake the tests catch; it is returned.
func Library() ([]*Scenario, error) {
	libraryOnce.Do(loadLibrary)
	var out []*Scenario
	for _, n := range Names() {
		out = append(out, library[n])
	}
	return out, libraryErr
}

// Get finds a library scenario by name.
func Get(name string) (*Scenario, error) {
	libraryOnce.Do(loadLibrary)
	if libraryErr != nil {
		return nil, libraryErr
	}
	if s, ok := library[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("scenarios: no scenario %q; known: %s", name, strings.Join(Names(), ", "))
}

// Names lists the library, sorted.
func Names() []string {
	libraryOnce.Do(loadLibrary)
	var out []string
	for n := range library {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Load finds a scenario by library name or, when arg names a file (it
// ends in .yaml/.yml or contains a path separator), reads that file.
func Load(arg string) (*Scenario, error) {
	ext := path.Ext(arg)
	if ext == ".yaml" || ext == ".yml" || strings.ContainsRune(arg, os.PathSeparator) {
		b, err := os.ReadFile(arg)
		if err != nil {
			return nil, fmt.Errorf("scenarios: %w", err)
		}
		return Parse(arg, b)
	}
	return Get(arg)
}
