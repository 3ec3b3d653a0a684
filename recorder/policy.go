package recorder

import (
	"fmt"
	"slices"
)

// Policy is the recording policy as a pure core: the device table as CSTA
// reports it, which calls are recorded (spec §3.1 dynamic and static
// mapping, §3.3 start on demand) and what each CSTA event means for the
// recording sessions (spec §3.2.3 a phone that moved, §3.2.4 and §3.2.6 a
// phone back in service). The recorder's loop feeds it CSTA events and the
// end of sessions, and performs what it returns: start a session, step one
// (the session core, session.go), note. It owns no socket and no session;
// it knows each session's key, extension and address.
type Policy struct {
	mapping  Mapping
	onDemand OnDemand
	devices  map[string]DeviceInfo
	seen     map[string]bool // "<callID>/<ext>" of established calls not yet cleared
	wanted   map[string]bool // static mapping: extensions whose session was started once
	sessions map[string]policySession
	closing  bool
}

type policySession struct {
	ext string
	dev DeviceInfo
}

// PolicyEventKind says what happened.
type PolicyEventKind uint8

const (
	PolicyBackInService PolicyEventKind = iota // CSTA: Ext registered (Info, nil if the PBX sent none)
	PolicyOutOfService                         // CSTA: Ext went (Info: the address it went from, if given)
	PolicyEstablished                          // CSTA: a call of Ext is established (Call)
	PolicyCleared                              // CSTA: a call of Ext cleared (Call.ID)
	PolicyRecord                               // record Ext's Call now: the record key (spec §3.3)
	PolicySessionEnded                         // the session Key is over
	PolicyClosing                              // the recorder shuts down: no new session
)

var policyEventNames = [...]string{"back-in-service", "out-of-service", "established", "cleared", "record",
	"session-ended", "closing"}

func (k PolicyEventKind) String() string {
	if int(k) < len(policyEventNames) {
		return policyEventNames[k]
	}
	return fmt.Sprintf("PolicyEventKind(%d)", uint8(k))
}

// PolicyEvent is one input to the policy.
type PolicyEvent struct {
	Kind PolicyEventKind
	Ext  string
	Info *DeviceInfo
	Call Call
	Key  string // PolicySessionEnded
}

// PolicyActionKind says what the loop does.
type PolicyActionKind uint8

const (
	// PolicyStart: make session Key for Ext at Dev and step it with
	// InStart for Call (empty for a static session's restart). If it
	// cannot be made, feed PolicySessionEnded for Key.
	PolicyStart PolicyActionKind = iota
	// PolicyStep: step the session Key's core with Input.
	PolicyStep
	// PolicyNote: a line for the trace (Text).
	PolicyNote
	// PolicyError: a problem for the trace (Text).
	PolicyError
)

var policyActionNames = [...]string{"start", "step", "note", "error"}

func (k PolicyActionKind) String() string {
	if int(k) < len(policyActionNames) {
		return policyActionNames[k]
	}
	return fmt.Sprintf("PolicyActionKind(%d)", uint8(k))
}

// PolicyAction is one thing to do, in order.
type PolicyAction struct {
	Kind  PolicyActionKind
	Key   string
	Ext   string
	Dev   DeviceInfo
	Call  Call
	Input Input
	Text  string
}

func (a PolicyAction) String() string {
	switch a.Kind {
	case PolicyStart:
		return fmt.Sprintf("start %s at %s for %q", a.Key, a.Dev, a.Call.ID)
	case PolicyStep:
		return fmt.Sprintf("step %s: %s", a.Key, a.Input)
	}
	return a.Kind.String() + ": " + a.Text
}

// NewPolicy is the policy of a recorder with the given mapping and record
// on demand mode.
func NewPolicy(m Mapping, od OnDemand) *Policy {
	return &Policy{mapping: m, onDemand: od, devices: map[string]DeviceInfo{}, seen: map[string]bool{},
		wanted: map[string]bool{}, sessions: map[string]policySession{}}
}

// Device is where CSTA last said ext is.
func (p *Policy) Device(ext string) (DeviceInfo, bool) {
	d, ok := p.devices[ext]
	return d, ok
}

// Key names the session that records ext's call callID: one per call and
// extension in dynamic mapping, one per extension in static (spec §3.1).
func (p *Policy) Key(callID, ext string) string {
	if p.mapping == Static {
		return "s/" + ext
	}
	return "d/" + callID + "/" + ext
}

// Step takes one event and returns what to do.
func (p *Policy) Step(ev PolicyEvent) []PolicyAction {
	switch ev.Kind {
	case PolicyBackInService:
		if ev.Info == nil {
			return []PolicyAction{{Kind: PolicyError, Text: fmt.Sprintf("BackInServiceEvent for %s carries no device info; cannot reach it", ev.Ext)}}
		}
		info := *ev.Info
		p.devices[ev.Ext] = info
		acts := []PolicyAction{{Kind: PolicyNote, Text: fmt.Sprintf("device %s at %s", ev.Ext, info)}}
		// A phone that moved (spec §3.2.3, forced log-off) will not answer
		// on the old address; sessions there are over.
		for _, key := range p.sortedKeys() {
			if s := p.sessions[key]; s.ext == ev.Ext && (s.dev.IP != info.IP || s.dev.RecordingPort != info.RecordingPort) {
				acts = append(acts, PolicyAction{Kind: PolicyStep, Key: key, Input: Input{Kind: InStop, Reason: "device moved to " + info.String()}})
			}
		}
		return append(acts, p.resumeStatic(ev.Ext)...)
	case PolicyOutOfService:
		cur, known := p.devices[ev.Ext]
		// An OutOfService naming an older address than the table's is about
		// a registration that was already replaced: keep the new one.
		if stale := known && ev.Info != nil && ev.Info.IP != cur.IP; !stale {
			delete(p.devices, ev.Ext)
		}
		acts := []PolicyAction{{Kind: PolicyNote, Text: fmt.Sprintf("device %s out of service", ev.Ext)}}
		for _, key := range p.sortedKeys() {
			if s := p.sessions[key]; s.ext == ev.Ext && (ev.Info == nil || ev.Info.IP == s.dev.IP) {
				acts = append(acts, PolicyAction{Kind: PolicyStep, Key: key, Input: Input{Kind: InStop, Reason: ReasonOutOfService}})
			}
		}
		return acts
	case PolicyEstablished:
		seen := ev.Call.ID + "/" + ev.Ext
		if p.seen[seen] {
			return nil // one monitor's duplicate, or a second Established of the same call
		}
		p.seen[seen] = true
		if p.onDemand == StartOnDemand {
			return []PolicyAction{{Kind: PolicyNote, Text: fmt.Sprintf("%s of %s: not recorded until its record key is pressed (start on demand)", ev.Call, ev.Ext)}}
		}
		return p.record(ev.Ext, ev.Call)
	case PolicyRecord:
		return p.record(ev.Ext, ev.Call)
	case PolicyCleared:
		delete(p.seen, ev.Call.ID+"/"+ev.Ext)
		if key := p.Key(ev.Call.ID, ev.Ext); p.has(key) {
			return []PolicyAction{{Kind: PolicyStep, Key: key, Input: Input{Kind: InCallCleared, Call: Call{ID: ev.Call.ID}}}}
		}
		return nil
	case PolicySessionEnded:
		s, ok := p.sessions[ev.Key]
		if !ok {
			return nil
		}
		delete(p.sessions, ev.Key)
		if dev, known := p.devices[s.ext]; known && (dev.IP != s.dev.IP || dev.RecordingPort != s.dev.RecordingPort) {
			// Spec §3.2.3: "The recording system will send the next INVITE
			// to phone B." Static mapping does at once.
			return p.resumeStatic(s.ext)
		}
		return nil
	case PolicyClosing:
		p.closing = true
		return nil
	}
	return nil
}

// record starts recording ext's call: a new session, or the static one's
// next file.
func (p *Policy) record(ext string, call Call) []PolicyAction {
	key := p.Key(call.ID, ext)
	if p.has(key) {
		return []PolicyAction{{Kind: PolicyStep, Key: key, Input: Input{Kind: InCallStarted, Call: call}}} // static: the session outlives calls
	}
	dev, ok := p.devices[ext]
	if !ok {
		return []PolicyAction{{Kind: PolicyError, Text: fmt.Sprintf("%s: no address known for %s (no BackInServiceEvent); not recorded", call, ext)}}
	}
	if p.mapping == Static {
		p.wanted[ext] = true
	}
	return []PolicyAction{p.start(key, ext, call, dev)}
}

// resumeStatic starts a static session for ext at once when its first call
// has been seen before, no session of it is left and CSTA knows where it
// is: the phone registered again after a power cut (spec §3.2.4), an update
// (spec §3.2.5) or a PBX restart (spec §3.2.6), or the extension moved to
// another phone (spec §3.2.3). "The recording system will send an INVITE
// message to start the recording." Dynamic mapping waits for the next call.
func (p *Policy) resumeStatic(ext string) []PolicyAction {
	key := p.Key("", ext)
	if p.mapping != Static || !p.wanted[ext] || p.closing || p.has(key) {
		return nil
	}
	dev, ok := p.devices[ext]
	if !ok {
		return nil
	}
	return []PolicyAction{
		{Kind: PolicyNote, Text: fmt.Sprintf("static mapping: %s is back at %s, session restarted (spec §3.1, §3.2.4)", ext, dev)},
		p.start(key, ext, Call{}, dev),
	}
}

func (p *Policy) start(key, ext string, call Call, dev DeviceInfo) PolicyAction {
	p.sessions[key] = policySession{ext: ext, dev: dev}
	return PolicyAction{Kind: PolicyStart, Key: key, Ext: ext, Dev: dev, Call: call}
}

func (p *Policy) has(key string) bool {
	_, ok := p.sessions[key]
	return ok
}

// sortedKeys orders the sessions so the same events give the same actions.
func (p *Policy) sortedKeys() []string {
	keys := make([]string, 0, len(p.sessions))
	for k := range p.sessions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
