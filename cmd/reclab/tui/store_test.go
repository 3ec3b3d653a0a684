package tui

import (
	"context"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/pbx"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// The store folds typed states into the Nodes pane; what no node publishes
// (calls, recording sessions, the PBX's calls, a failed attempt's status)
// comes from the transitions.
func TestStoreFoldsStates(t *testing.T) {
	b := newFakeBackend()
	st := newNodeStore(b.Nodes(), b.Media)
	for _, e := range b.upEvents() {
		st.fold(e)
	}
	fold := func(from string, s sim.State) {
		t.Helper()
		if !st.fold(sim.Event{Kind: sim.KindState, From: from, State: s}) {
			t.Fatalf("%s: not taken", s)
		}
	}
	call := func(phone, ext string, state phones.CallState, remote, cause string) {
		fold(phone, phones.CallChanged{Phone: phone, Ext: ext, State: state, Remote: remote, Cause: cause})
	}
	// 7434 (1002) calls 6867i (1005), recorded; then dials 1009, refused.
	call("7434", "1002", phones.CallDialing, "1005", "dialled")
	call("6867i", "1005", phones.CallRinging, "1002", "INVITE")
	if s := st.snapshot(); len(s.PBXCalls) != 1 || s.PBXCalls[0] != "1002→1005 dialing" {
		t.Fatalf("PBX calls while ringing: %q", s.PBXCalls)
	}
	call("6867i", "1005", phones.CallTalking, "1002", "ACK")
	call("7434", "1002", phones.CallTalking, "1005", "200 OK")
	fold("7434", phones.RecordingState{Phone: "7434", Ext: "1002", State: phones.RecOffered, Cause: "INVITE"})
	fold("7434", phones.RecordingState{Phone: "7434", Ext: "1002", State: phones.RecForking, Cause: "ACK"})
	fold("recorder", recorder.SessionChanged{Session: "1002", Ext: "1002", Up: true, Cause: "ACK sent"})
	s := st.snapshot()
	p := s.Phones[1].State
	if p.Call != phones.CallTalking || p.Remote != "1005" || p.Calls != 1 || p.Recording != phones.RecForking || p.RecordingSessions != 1 {
		t.Fatalf("7434 talking: %+v", p)
	}
	if len(s.PBXCalls) != 1 || s.PBXCalls[0] != "1002→1005 talking" || s.RecSessions != 1 {
		t.Fatalf("talking: PBX calls %q, recorder sessions %d", s.PBXCalls, s.RecSessions)
	}
	call("7434", "1002", phones.CallIdle, "1005", "hung up")
	call("6867i", "1005", phones.CallIdle, "1002", "BYE")
	fold("recorder", recorder.SessionChanged{Session: "1002", Ext: "1002", Cause: "ConnectionCleared"})
	fold("recorder", recorder.RecordingClosed{Kept: true})
	fold("recorder", recorder.RecordingClosed{Kept: false}) // save on demand without a press
	call("7434", "1002", phones.CallDialing, "1009", "dialled")
	call("7434", "1002", phones.CallIdle, "1009", "call to 1009 failed: 404 Not Found")
	s = st.snapshot()
	p = s.Phones[1].State
	if p.Call != phones.CallIdle || p.Remote != "" || p.Calls != 1 || sipStatus(p.CallError) != "404" {
		t.Fatalf("7434 after a refused call: %+v", p)
	}
	if len(s.PBXCalls) != 0 || s.RecSessions != 0 || s.RecFiles != 1 {
		t.Fatalf("after the calls: PBX calls %q, recorder sessions %d, recordings %d", s.PBXCalls, s.RecSessions, s.RecFiles)
	}
	// Forced log-off (spec §3.2.3): 7434 takes 1005; 6867i is logged off.
	fold("6867i", phones.RegistrationState{Phone: "6867i", Ext: "1005", Cause: "forced log-off (spec §3.2.3)"})
	fold("7434", phones.RegistrationState{Phone: "7434", Ext: "1005", Registered: true, Cause: "200 OK"})
	fold("pbx", pbx.BindingState{Ext: "1005", Registered: true, Cause: "moved"})
	fold("pbx", pbx.BindingState{Ext: "1002", Cause: "expired"})
	fold("recorder", recorder.DeviceState{Ext: "1002", Cause: "out-of-service"})
	s = st.snapshot()
	if s.Phones[1].Ext != "1005" || s.Phones[4].State.Registered || s.PBXRegs != 5 || s.RecDevices != 5 {
		t.Fatalf("after the forced log-off: 7434 is %s, 6867i %+v, PBX %d registered, recorder %d devices",
			s.Phones[1].Ext, s.Phones[4].State, s.PBXRegs, s.RecDevices)
	}
	fold("pbx", pbx.ServiceState{Cause: "stopped"})
	if s := st.snapshot(); s.PBXRegs != 0 {
		t.Errorf("the PBX is down with %d registrations", s.PBXRegs)
	}
	if st.fold(sim.Event{Kind: sim.KindNote, From: "7434", Summary: "powered off"}) {
		t.Error("a note changed the store: only typed states may")
	}
	if st.fold(sim.Event{Kind: sim.KindState, State: phones.PowerState{Phone: "9999"}}) {
		t.Error("a phone the lab does not have changed the store")
	}
}

// A phone powered off in a real lab shows as off once its PowerState event
// is in, and the Model never asks the phone: it reads its subscription
// until the store says so.
func TestStoreFollowsTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole lab")
	}
	l, ctx := buildLab(t, 9, lab.Timers{})
	m := New(ctx, NewLabBackend(l, t.TempDir())) // subscribed before any node starts
	t.Cleanup(m.sub.Close)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	follow(t, ctx, m, "every phone registered", func(s Snapshot) bool {
		for _, p := range s.Phones {
			if !p.State.Registered {
				return false
			}
		}
		return s.PBXRegs == len(s.Phones)
	})
	if v := m.View(); strings.Contains(v, "powered off") || strings.Contains(v, "unregistered") {
		t.Fatalf("the lab is up, the screen says otherwise:\n%s", v)
	}
	l.Phones[0].PowerOff()
	follow(t, ctx, m, "7434 powered off", func(s Snapshot) bool {
		return !s.Phones[0].State.Powered && !s.Phones[0].State.Registered
	})
	// Spec §3.2.4: no un-REGISTER, so the PBX keeps the binding.
	if v := m.View(); !strings.Contains(v, "powered off") || !strings.Contains(v, "pbx: 2 registered") {
		t.Fatalf("7434 is off, the screen says otherwise:\n%s", v)
	}
}

// follow feeds the Model its subscription's batches, as the program does,
// until cond holds of the Nodes pane; each drain blocks until an event comes.
func follow(t *testing.T, ctx context.Context, m *Model, what string, cond func(Snapshot) bool) {
	t.Helper()
	for !cond(m.snap) {
		got := make(chan any, 1)
		go func() { got <- m.drain()() }()
		select {
		case msg := <-got:
			b := msg.(batchMsg)
			m.Update(b)
			if b.closed {
				t.Fatalf("the trace closed before %s", what)
			}
		case <-ctx.Done():
			t.Fatalf("no %s: %v; the store has %+v", what, ctx.Err(), m.snap)
		}
	}
}
