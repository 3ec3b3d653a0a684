package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/reclab/reclab/pbx"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// nodeStore is what the Nodes pane knows of the lab, folded from the typed
// states the nodes publish on the trace (sim.KindState, issue 10): the
// Model feeds it every event of its one subscription, on the Update
// goroutine, so it needs no lock and takes none of the nodes'. Nothing
// here asks a node what it is.
//
// What no node publishes is derived from the transitions: a phone's calls
// (CallChanged to talking), its recording sessions (RecordingState to
// forking), the PBX's registrations (its BindingState, all gone when its
// ServiceState is down), the PBX's calls (those the phones dialled, as
// their CallChanged says), the recorder's sessions and recordings
// (SessionChanged, RecordingClosed). The RTP counters are the phones'
// atomics, read by the backend (Backend.Media), not states.
type nodeStore struct {
	snap     Snapshot        // the lab as built, states as the events say
	index    map[string]int  // phone node name → snap.Phones index
	dialled  []bool          // per phone: its call is one it dialled (the PBX's A side)
	bindings map[string]bool // extensions the PBX has registered
	sessions map[string]bool // the recorder's sessions up, by session name
	devices  map[string]bool // extensions the recorder knows in service
	files    int             // recordings the recorder kept
	media    func() []phones.MediaStats
}

// newNodeStore starts from the lab as built (Backend.Nodes): every phone
// off until its PowerState says otherwise. media reads the phones' RTP
// counters in the same order; nil: none.
func newNodeStore(built Snapshot, media func() []phones.MediaStats) *nodeStore {
	s := &nodeStore{index: map[string]int{}, bindings: map[string]bool{}, sessions: map[string]bool{},
		devices: map[string]bool{}, media: media}
	s.snap = built
	s.snap.Phones = append([]PhoneView(nil), built.Phones...)
	for i, p := range s.snap.Phones {
		s.index[p.Name] = i
		s.snap.Phones[i].State = phones.State{}
	}
	s.dialled = make([]bool, len(s.snap.Phones))
	return s
}

// fold takes one trace event; it reports whether the Nodes pane changed.
func (s *nodeStore) fold(e sim.Event) bool {
	if e.Kind != sim.KindState {
		return false
	}
	switch st := e.State.(type) {
	case phones.PowerState:
		v := s.phone(st.Phone, st.Ext)
		if v == nil {
			return false
		}
		v.Powered = st.On
	case phones.RegistrationState:
		v := s.phone(st.Phone, st.Ext)
		if v == nil {
			return false
		}
		v.Registered = st.Registered
	case phones.CallChanged:
		v := s.phone(st.Phone, st.Ext)
		if v == nil {
			return false
		}
		i := s.index[st.Phone]
		before := v.Call
		v.Call, v.Remote = st.State, st.Remote
		switch st.State {
		case phones.CallDialing:
			s.dialled[i], v.CallError = true, ""
		case phones.CallRinging:
			s.dialled[i], v.CallError = false, ""
		case phones.CallTalking:
			v.Calls++
			v.CallError = ""
		case phones.CallIdle:
			v.Remote = ""
			if before == phones.CallDialing {
				// An attempt that never talked: its cause says how it
				// ended ("call to 1005 failed: 404 Not Found").
				v.CallError = st.Cause
			}
			s.dialled[i] = false
		}
	case phones.RecordingState:
		v := s.phone(st.Phone, st.Ext)
		if v == nil {
			return false
		}
		if st.State == phones.RecForking && v.Recording != phones.RecForking {
			v.RecordingSessions++ // the recorder's ACK started it (spec §3.2)
		}
		v.Recording = st.State
	case pbx.BindingState:
		setMember(s.bindings, st.Ext, st.Registered)
	case pbx.ServiceState:
		if !st.Up {
			clear(s.bindings) // spec §3.2.6: a restart forgets them all
		}
	case recorder.SessionChanged:
		setMember(s.sessions, st.Session, st.Up)
	case recorder.RecordingClosed:
		if st.Kept {
			s.files++
		}
	case recorder.DeviceState:
		setMember(s.devices, st.Ext, st.Known)
	default:
		return false
	}
	return true
}

// phone is the state of the phone named name, which now has extension ext
// (a forced log-off moves extensions, spec §3.2.3); nil for a node the lab
// was not built with.
func (s *nodeStore) phone(name, ext string) *phones.State {
	i, ok := s.index[name]
	if !ok {
		return nil
	}
	if ext != "" {
		s.snap.Phones[i].Ext = ext
	}
	return &s.snap.Phones[i].State
}

// snapshot is the Nodes pane now, with the phones' RTP counters read
// afresh.
func (s *nodeStore) snapshot() Snapshot {
	out := s.snap
	out.Phones = append([]PhoneView(nil), s.snap.Phones...)
	var media []phones.MediaStats
	if s.media != nil {
		media = s.media()
	}
	out.PBXRegs, out.PBXCalls = len(s.bindings), nil
	for i := range out.Phones {
		p := &out.Phones[i]
		if i < len(media) {
			p.State.Media = media[i]
		}
		if s.dialled[i] && p.State.Call != phones.CallIdle {
			out.PBXCalls = append(out.PBXCalls, fmt.Sprintf("%s→%s %s", p.Ext, p.State.Remote, p.State.Call))
		}
	}
	out.RecDevices, out.RecSessions, out.RecFiles = len(s.devices), len(s.sessions), s.files
	return out
}

// setMember puts k in set or takes it out.
func setMember(set map[string]bool, k string, in bool) {
	if in {
		set[k] = true
	} else {
		delete(set, k)
	}
}

// sipStatus is the SIP status code a call's cause names ("call to 1005
// failed: 404 Not Found" → "404"), "" if none: the Nodes pane shows the
// code, the Log the words.
func sipStatus(cause string) string {
	code := ""
	for _, w := range strings.Fields(cause) {
		if n, err := strconv.Atoi(w); err == nil && len(w) == 3 && n >= 300 && n < 700 {
			code = w // the last: the number dialled comes before the status
		}
	}
	return code
}
