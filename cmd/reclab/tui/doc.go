// Package tui is reclab's terminal UI (issue 6): the lab under the user's
// hands and every message of it on one live ladder.
//
// Screen: a title line; the Nodes pane (each phone's name, extension,
// model, recording address and its registration, call and recording state;
// the PBX's registrations and calls; the recorder's mapping, devices,
// sessions and recordings); the Flow pane, a ladder with one column per node
// by name and an arrow per SIP, CSTA or HTTP message, RTP as stream on/off
// with packet counts, dropped packets marked "x", SIP retransmissions "re";
// the Detail of the selected message (beside the ladder on a wide terminal,
// full screen on Enter); the Log pane of notes, errors and narration; a
// status line that says what an action did or why it failed.
//
// The Nodes pane is a store (store.go) of the typed states the nodes
// publish on the trace (sim.KindState: PowerState, RegistrationState,
// CallChanged, RecordingState, the recorder's SessionChanged,
// RecordingClosed, DeviceState), folded from the UI's one subscription on
// the Update goroutine. No UI code asks a node what it is or takes a
// node's lock; only the RTP counters (atomics) are read as they are.
// Actions that depend on a state (power toggles, the PBX restart waits for
// the registered phones) take it from the store.
//
// It owns only the display. The lab never waits for it: the Model
// subscribes to the trace without blocking (a slow UI loses events and
// shows how many), a command drains the subscription in batches at most
// every 50 ms, and nothing on a lab goroutine calls Program.Send. An idle UI
// blocks in that drain and redraws nothing. Actions on the lab (register,
// dial, answer, hang up, power, record key, firmware update order, forced
// log-off, PBX restart, network impairment and its lift) run in commands,
// never in Update, and a failure is shown in words ("1002 is not
// registered"). Forced log-off (L, logoff.go) asks which phone takes the
// selected phone's extension (spec §3.2.3). An action a backend does not
// have says "not available yet"; nothing is faked.
//
// Scenarios (scenario.go): `s` lists the library; a scenario runs on a lab
// of its own, so the UI's lab is closed, the scenario's is built, the UI
// subscribes to it before any node starts, and scenarios.Execute runs the
// steps on its own goroutine; the narration shows in the Log pane. In step
// mode a gate (scenarios.Options.Gate) holds each step until `.` is
// pressed: the story waits, the lab does not. Speed (the list's +/-, or
// --speed) is the rate of the scenario lab's clock (sim.ScaledClock); + and
// - outside the list change the rate of the running lab's clock, the UI's
// own lab or a scenario's, one step at a time.
//
// Calls and dialogs (calls.go, listview.go, issue 12), as sngrep has
// them: C lists the PBX's calls (the caller's leg, the PBX's leg to the
// callee, the CSTA events, the recorder's sessions, the RTP streams and
// record-key requests they caused), D the SIP dialogs by Call-ID; Enter
// opens that call's or dialog's own ladder (the filter call=N or
// dialog=ID, which f also takes, with methods); p copies the selected
// call's packets from lab.pcapng into call-N.pcap (pcapgo). T shows Δt from
// the selected message. Tab reaches the Log pane, which scrolls and shows
// a line in full on Enter.
//
// The why of every arrow (why.go): each ladder event gets its cause when
// it arrives, from what the trace carries (the message it answers, the
// user's key that asked for it, a timer's interval, the CSTA event or
// typed state that made a node send it, the retransmission rule), with the
// spec section; Detail shows it, w puts it on a line under each arrow.
//
// Step mode (H, sim.Network.SetStepping): each SIP, CSTA and HTTP message
// waits until . sends it (a datagram in its sender, a TCP write in its
// connection, its writer free); the keep-alives (OPTIONS, UPDATE,
// SystemStatus), RAS and RTP flow on; SIP T1 is raised to a minute
// meanwhile. The ladder's last line is the held message.
// Save as scenario (W, save.go): the user's actions, the pauses between
// them and the states each leads to are written as session-scenario.yaml
// with checks drawn from the session (the recorder's INVITEs, each
// phone's state, and the recordings kept after the last action: their
// count, tones, length and losses); `reclab run` replays it. Back (b)
// replays the story without its last action on a fresh lab, as a scenario
// whose last step holds. m rebuilds the lab with the other recorder
// mapping (spec §3.1). Each start writes a session folder of its own
// (SessionDir: out/tui/<timestamp>/).
//
// One table (keys.go) lists the keys: the help screen prints it and Update
// dispatches on it, and a test presses every key it lists.
//
// It must not touch: sockets (the lab's nodes have them), the lab's
// internals (Backend is the whole surface), the trace's other subscribers.
//
// Example:
//
//	err := tui.Run(ctx, tui.Options{OutDir: "out/tui"}) // lab.UIDefault()
package tui
