// Package classroom serves reclab's terminal UI over SSH (reclab
// classroom, issue 18): one lab, one tui.Model per SSH session, each with
// its own terminal size, focus, scroll, filters and Detail selection.
//
// Who may connect is an authorized_keys file; the instructor's keys drive
// the lab (every action); a trainee's keys browse and their actions are
// refused with a note on their screen, unless the instructor hands them
// the controls (ctrl+o, the next trainee each press; ctrl+r takes them
// back). Step mode and the lab clock's speed stay the instructor's even
// then; everyone sees the same step (HoldMsg) on the same lab. A trainee
// follows the instructor's selection (ctrl+f toggles browsing freely).
// A scenario the instructor launches (s) runs on a lab of its own, as in
// the local UI; every screen goes to that lab (AttachMsg), so everyone
// reads its narration in the Log pane. Back (b) is such a scenario, and
// the mapping switch (m, Config.Relab) a lab built anew; the three replace
// the lab, so they stay the instructor's even for a trainee with the
// controls.
//
// Bounded: each session's Model subscribes to the lab's trace without
// blocking (tui), so the lab never waits for a screen; what the classroom
// itself sends a screen (the instructor's selection, step mode, notes,
// the line of who drives) goes into that screen's mailbox, which keeps the
// latest of each kind and a few notes, and one goroutine per session
// delivers it. A client that stops reading blocks only its own session's
// renderer and delivery: its screen drops frames, the lab and the other
// screens go on.
//
// It must not touch: the lab's nodes (the tui.Backend is the whole
// surface), addresses outside 127.0.0.0/8 (the command checks --listen).
package classroom
