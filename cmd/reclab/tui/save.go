package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/scenarios"
	"github.com/reclab/reclab/sim"
)

// Save this session as a scenario (issue 12): what the trainer did in the
// UI — the actions, the pauses between them, the impairments — is written
// as a scenario YAML whose waits are the typed states each action leads to
// and whose checks are drawn from what happened (each phone's state now,
// the recorder's INVITEs and recordings). `reclab run FILE` replays it.

// storyAct is an action the user took and when, in lab time.
type storyAct struct {
	Action
	at time.Duration
}

// labNower is a backend that reads the lab clock (the real lab).
type labNower interface{ LabNow() time.Duration }

func (b *labBackend) LabNow() time.Duration { return b.l.Net.Now() }

// labNow is the lab's time now: the backend's clock, else the newest event's.
func (m *Model) labNow() time.Duration {
	if n, ok := unwrap(m.b).(labNower); ok {
		return n.LabNow()
	}
	if len(m.events) > 0 {
		return m.events[len(m.events)-1].At
	}
	return 0
}

// saveScenario writes the session's story to session-scenario.yaml.
func (m *Model) saveScenario() tea.Cmd {
	if len(m.story) == 0 {
		m.setStatus(true, "save as scenario: nothing done yet (dial, answer, hang up … first)")
		return nil
	}
	name := "tui-session-" + time.Now().UTC().Format("20060102-150405")
	text := storyYAML(name, m.b.Nodes(), m.snap, m.story, append(m.visibleEvents(), m.recClosed...), true)
	path := filepath.Join(m.b.OutDir(), "session-scenario.yaml")
	return func() tea.Msg {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return actionMsg{err: fmt.Errorf("save as scenario: %w", err)}
		}
		return actionMsg{text: fmt.Sprintf("saved the session as a scenario: %s (reclab run %s replays it)", path, path)}
	}
}

// q quotes a name for YAML: extensions and names made of digits stay
// strings.
func q(s string) string { return strconv.Quote(s) }

// storyYAML is the scenario: built is the lab as built (names,
// extensions, recording ports), now the Nodes pane at the end, acts what
// the user did, events the ladder and the recordings kept.
func storyYAML(name string, built, now Snapshot, acts []storyAct, events []sim.Event, checks bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Saved from the reclab TUI at %s: the session as a story.\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "name: %s\ndescription: a trainer's session in the TUI, saved as a scenario (%d actions)\n", name, len(acts))
	b.WriteString("lab:\n  phones:\n")
	phoneOf := map[string]string{} // extension or name → node name
	for _, p := range built.Phones {
		phoneOf[p.Ext], phoneOf[p.Name] = p.Name, p.Name
		cfg := ""
		if p.RecPort != 0 && p.RecPort != 7300 {
			// 6700/6800/6900: the recording port is the SIP port (spec §3.2).
			cfg = fmt.Sprintf(", config: {sip local port: %d}", p.RecPort)
		}
		fmt.Fprintf(&b, "    - {name: %s, ext: %s, model: %s%s}\n", q(p.Name), q(p.Ext), q(p.Model), cfg)
	}
	mapping := built.RecMapping
	if mapping == "" {
		mapping = "dynamic"
	}
	fmt.Fprintf(&b, "  recorder: {mapping: %s}\n", mapping)
	restart := false
	for _, a := range acts {
		restart = restart || a.Kind == ActPBXRestart
	}
	if restart {
		// The UI's lab has the phones' default keep-alive; a story's is
		// 120 s unless set (scenarios README).
		fmt.Fprintf(&b, "  timers: {phone-keep-alive: %s, register-retry: 1s}\n", phones.DefaultKeepAlive)
	}
	invited := map[string]bool{}
	for _, e := range events {
		if e.Kind == sim.KindMessage && e.Proto == sim.ProtoSIP && e.From == "recorder" && strings.HasPrefix(e.Summary, "INVITE") {
			invited[e.To] = true
		}
	}
	b.WriteString("steps:\n")
	var prev time.Duration = -1
	peer := map[string]string{}    // a phone in a call → the other party's phone
	partner := map[string]string{} // a phone → the other party of its last call
	for _, a := range acts {
		if prev >= 0 {
			// The pause the trainer made (talk time, a moment to explain).
			if gap := (a.at - prev).Round(time.Second); gap >= 2*time.Second {
				fmt.Fprintf(&b, "  - wait: %s\n", gap)
			}
		}
		prev = a.at
		p := q(a.Phone)
		switch a.Kind {
		case ActDial:
			fmt.Fprintf(&b, "  - say: %s dials %s\n    dial: {phone: %s, to: %s}\n", a.Phone, a.Arg, p, q(a.Arg))
			if callee, ok := phoneOf[a.Arg]; ok {
				peer[a.Phone], peer[callee] = callee, a.Phone
				partner[a.Phone], partner[callee] = callee, a.Phone
				fmt.Fprintf(&b, "  - wait: {state: call, node: %s, is: ringing, timeout: 15s}\n", q(callee))
			} else {
				fmt.Fprintf(&b, "  - wait: {state: call, node: %s, is: idle, timeout: 35s}\n", p)
			}
		case ActAnswer:
			fmt.Fprintf(&b, "  - answer: %s\n  - wait: {state: call, node: %s, is: talking, timeout: 15s}\n", p, p)
			// The recorder's sessions the session saw come up (spec §3.2).
			for _, ph := range []string{peer[a.Phone], a.Phone} {
				if ph != "" && invited[ph] {
					fmt.Fprintf(&b, "  - wait: {state: recording, node: %s, is: forking, timeout: 15s}\n", q(ph))
				}
			}
		case ActHangUp:
			fmt.Fprintf(&b, "  - hang-up: %s\n  - wait: {state: call, node: %s, is: idle, timeout: 15s}\n", p, p)
			if o := peer[a.Phone]; o != "" {
				// The PBX's BYE reaches the other party too.
				fmt.Fprintf(&b, "  - wait: {state: call, node: %s, is: idle, timeout: 15s}\n", q(o))
				delete(peer, o)
				delete(peer, a.Phone)
			}
		case ActRegister:
			fmt.Fprintf(&b, "  - register: %s\n", p)
		case ActUnregister:
			fmt.Fprintf(&b, "  - unregister: %s\n", p)
		case ActPower:
			if a.Powered {
				fmt.Fprintf(&b, "  - power-off: %s\n", p)
			} else {
				fmt.Fprintf(&b, "  - power-on: %s\n  - register: %s\n", p, p)
			}
		case ActRecordKey:
			fmt.Fprintf(&b, "  - record-key: %s\n", p)
		case ActFirmwareUpdate:
			fmt.Fprintf(&b, "  - firmware-update: %s\n  - wait: {state: registration, node: %s, registered: true, timeout: 30s}\n", p, p)
		case ActForcedLogOff:
			fmt.Fprintf(&b, "  - register-as: {phone: %s, ext: %s}\n", p, q(a.Arg))
		case ActPBXRestart:
			b.WriteString("  - say: the PBX goes down until the registered phones notice (spec §3.2.6)\n    pbx-stop:\n")
			for _, ph := range a.Registered {
				fmt.Fprintf(&b, "  - wait: {state: registration, node: %s, registered: false, timeout: 90s}\n", q(ph))
			}
			b.WriteString("  - pbx-start:\n")
			for _, ph := range a.Registered {
				fmt.Fprintf(&b, "  - wait: {state: registration, node: %s, registered: true, timeout: 60s}\n", q(ph))
			}
		case ActImpair:
			if step, err := scenarios.ImpairmentOf(a.Impair); err == nil {
				// The scenarios package's writer, the one its parser reads back.
				fmt.Fprintf(&b, "  - say: impairment: %s\n    impair: %s\n", a.Impair, step.YAML())
			} else {
				fmt.Fprintf(&b, "  # impairment not expressible as a step (%v): %s\n", err, a.Impair)
			}
		case ActLift:
			b.WriteString("  - lift:\n")
		default:
			fmt.Fprintf(&b, "  # %s: not a scenario step\n", a.Kind)
		}
	}
	if !checks {
		return b.String()
	}
	b.WriteString("  # Checks drawn from what happened in the session.\n")
	// The recordings the recorder closed after the last action (a story's
	// wait counts from its last action): the replay waits for as many,
	// then checks each phone's latest as the session's was (spec §3.2).
	var last time.Duration
	if len(acts) > 0 {
		last = acts[len(acts)-1].at
	}
	closed, recs := 0, map[string]recorder.RecordingClosed{}
	for _, e := range events {
		if c, ok := e.State.(recorder.RecordingClosed); ok && e.Kind == sim.KindState && c.Kept && e.At >= last {
			if ph, ok := phoneOf[c.Meta.Extension]; ok {
				closed++
				recs[ph] = c
			}
		}
	}
	if closed > 0 {
		fmt.Fprintf(&b, "  - wait: {state: recording-closed, node: recorder, count: %d, timeout: 30s}\n", closed)
	}
	for _, p := range built.Phones {
		c, ok := recs[p.Name]
		if !ok {
			continue
		}
		fields := "phone: " + q(p.Name)
		if d := c.Meta.Stop.Sub(c.Meta.Start); d >= 2*time.Second {
			// A call that talked: its tones, and half its length, a floor
			// no network delay takes away from the replay's talk time
			// (the session's pauses).
			fields += fmt.Sprintf(", min-duration: %s, left: %s", (d / 2).Round(time.Second), q(p.Name))
			if far := partner[p.Name]; far != "" {
				fields += ", right: " + q(far)
			}
		}
		if c.Meta.Lost() == 0 {
			// Nothing was lost in the session: nothing may be in the replay.
			fields += ", max-lost: 0, forked: true"
		}
		fmt.Fprintf(&b, "  - expect-recording: {%s}\n", fields)
	}
	for _, p := range built.Phones {
		if invited[p.Name] {
			fmt.Fprintf(&b, "  - expect: {from: recorder, to: %s, proto: SIP, method: INVITE, at-least: 1}\n", q(p.Name))
		}
	}
	for _, p := range now.Phones {
		s := p.State
		if s.Call != phones.CallIdle && s.Call != phones.CallTalking {
			continue // caught between two states: no check
		}
		fmt.Fprintf(&b, "  - expect-phone: {phone: %s, powered: %t, registered: %t, call: %s}\n", q(p.Name), s.Powered, s.Registered, s.Call)
	}
	return b.String()
}

// goBack replays the story without its last action on a fresh lab (b,
// issue 12: Packet Tracer's back): the story is written as a scenario whose
// last step holds, run in step mode with every step but that one let
// through at once, so the lab stays the trainer's at the previous action.
func (m *Model) goBack() tea.Cmd {
	if m.scens == nil {
		m.setStatus(true, "back: this UI runs no scenarios, so it cannot replay the story")
		return nil
	}
	if len(m.story) == 0 {
		m.setStatus(true, "back: nothing done yet to go back from")
		return nil
	}
	prev := m.story[:len(m.story)-1]
	name := fmt.Sprintf("back-to-action-%d", len(prev))
	text := storyYAML(name, m.b.Nodes(), m.snap, prev, nil, false) +
		fmt.Sprintf("  - say: back at action %d of %d on a fresh lab; the lab is yours (. ends the replay and closes it)\n", len(prev), len(m.story))
	path := filepath.Join(m.b.OutDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		m.setStatus(true, "back: %v", err)
		return nil
	}
	cmd := m.launch(ScenarioRequest{Name: path, Step: true})
	if cmd != nil {
		m.carryStory, m.backing = append([]storyAct(nil), prev...), true
	}
	return cmd
}
