// Package recorder is the voice recorder of the lab: a CSTA client that
// monitors extensions on the PBX, the recording policy (dynamic or static
// mapping, spec §3.1), SIP recording sessions towards the phones (INVITE,
// ACK, UPDATE keep-alive, BYE; spec §3.2) and an RTP sink that writes one
// stereo WAV and one JSON sidecar per recorded party and call (design.md
// "Recordings").
//
// # What it owns
//
//   - Policy (policy.go): the recording policy as a pure core: the device
//     table, dynamic and static mapping, start on demand, moved and
//     out-of-service phones (transcripts in testdata/policy).
//   - InviteRace (invite_race.go): spec §3.2.1 as a pure core: the second
//     INVITE with the same session id, which 200 OK wins. Its driver
//     (invite.go) runs on the loop: each INVITE transaction blocks on a
//     goroutine of its own and posts its final answer; the retransmission
//     and give-up timers (lab clock) post to the loop, which steps the race.
//   - CSTAMonitors (cstamonitors.go): the CSTA link's decisions as a pure
//     core: MonitorStart per extension and their invokeIDs, the monitors'
//     crossRefIDs, the SystemStatus keep-alive both ways, reconnect with
//     backoff after a lost link (spec §3.2.6); transcripts in
//     testdata/cstalink. Its driver (cstalink.go) runs on the loop too:
//     the dial and one reader per connection post to it.
//   - Session (session.go): the pure state machine of one recording session.
//     Inputs in (InStart, InAnswered, InCallCleared, InPhoneBye, …), Actions
//     out (ActSendInvite, ActOpenRecording, ActSendBye, …); no sockets,
//     goroutines or clocks. Keep-alive failure (spec §3.2.2): a failed UPDATE
//     leads to SessionRefreshing (re-INVITE in the dialog), a failed
//     re-INVITE to SessionRecovering (ActRecover: new INVITE, new Call-ID),
//     a failed recovery INVITE ends the session (spec §3.2.4).
//   - SRTP (srtp.go, spec §1.3): Config.SRTP says where the keys of an
//     encrypted call's forks come from: the EstablishedEvent's private data
//     (KeysCSTA, MX-ONE's way; the phone forwards the SRTP packets as they
//     are), a=crypto keys the recorder offers in its recording SDP (KeysSDP,
//     the lab's own), none or wrong ones (demos). The sink decrypts with
//     pion/srtp; what it cannot decrypt is left out of the WAV, and the JSON
//     says "encrypted" and, in "srtp", how or why not.
//   - Recorder (recorder.go): the driver. One loop goroutine owns the
//     sessions, the device table, the policy, the INVITE races and the CSTA
//     link; the CSTA reader, SIP transactions, lab-clock timers and RTP
//     readers feed it events. No lock guards its state: the published views
//     (Recordings, Sessions, Devices, OnDemandMode) are requests to the loop
//     with a reply channel (view.go), answered after Close from the view the
//     loop left. SIP goes through sipgo's DialogClientCache (Invite,
//     WaitAnswer, Ack, Do for UPDATE, Bye, ReadBye for the phone's BYE).
//   - The RTP sink (sink.go): per session two traced UDP sockets, tx then rx,
//     on fresh even ports from Config.RTPPort up (labelled "recorder tx" and
//     "recorder rx" in the trace), one reader goroutine per socket reading
//     into a reused buffer, each packet into media.StereoWAV (tx left, rx
//     right) without allocating. The WAV's bytes collect in 64 KiB chunks
//     in memory (bufferedFile) that one disk writer goroutine per recorder
//     writes in order (disk.go), so neither a reader nor the loop waits
//     on the file (issue 14 items 2 and 3); finishing a file waits for
//     its chunks, so a recording is whole on stop.
//   - Recording files (recording.go): <OutDir>/<callID>-<ext>.wav and .json,
//     and .xml, the JSON's facts as RFC 7865 recording metadata (rfc7865.go).
//     Created and finished (WAV header sizes, close, JSON written and
//     renamed) by a pool of fileWorkers goroutines (files.go) that post
//     the result back to the loop; the loop decides, the workers do I/O.
//
// # What it must not touch
//
// It opens no socket itself: the SIP stack, RTP sockets and the CSTA
// connection all come from its sim.Node, so everything is traced. It does not
// set sipgo's global timers (sip.SetTimers): lab.SetSIPTimers does, once per run. It
// imports pbx/csta for the codec only and knows nothing of the PBX's or
// phones' internals.
//
// # Decisions (beyond design.md and docs/wire.md)
//
//   - Dynamic mapping: a session per (callID, monitored extension), made on
//     the first EstablishedEvent (duplicates ignored) when a BackInServiceEvent
//     gave the phone's address; otherwise the call is reported and not
//     recorded. ConnectionClearedEvent closes the file, then BYE.
//   - Static mapping: a session per extension, made at its first call once
//     the device is known; each later Established/ConnectionCleared opens and
//     closes a file while the dialog stays. BYE when the device goes out of
//     service or moves to another address.
//   - The file's open runs on a file worker, started as the session's
//     INVITE goes out (a file the session never uses is removed), and the
//     ACK never waits for it (issue 14: set-up does not wait on the disk):
//     the phone forks from the ACK, and packets that come before the file
//     is open are held by the sink (below) and replayed into it, also when
//     the call ended, and its session with it, before the open did. Finishing
//     a file runs on a worker too: Recordings and the "recording … closed"
//     note follow when the JSON is written; Close waits for every file.
//   - Static mapping, next call: the phone resumes forking at the call's
//     start, possibly before the recorder has its EstablishedEvent (and so
//     its file). The sink holds packets that arrive while no file is open
//     (at most maxHeld, the first ones kept; the rest shows as sequence
//     loss) and replays them, with their arrival times, into the next file
//     when it is installed. media.Forker marks each new call leg's first
//     packet; held packets of a channel before its first marked one are
//     the previous call's late packets and are left out, as any packet
//     arriving after its file closed is. Chosen over splitting one open
//     file by RTP: the file boundary stays the CSTA event's, as before.
//   - INVITE, UPDATE, re-INVITE and BYE wait Config.AnswerTimeout (default
//     max(KeepAlive, 1 s)) for their answer. An unanswered INVITE is
//     abandoned without CANCEL. A 200 OK whose SDP is not a sendonly
//     recording answer is ACKed and BYEd at once.
//   - Spec §3.2.1: an INVITE unanswered after Config.InviteRetransmit
//     (default half the answer timeout) is sent once more with the same body
//     (same o= session id and version), a new Call-ID and From tag. The
//     first 200 OK to either is ACKed and becomes the session; the other
//     INVITE is given up without CANCEL (a phone that answers both gets an
//     error in the trace, and ACK and BYE for the extra dialog).
//   - Spec §3.2.2: the re-INVITE repeats the session's offer; its 200 OK is
//     ACKed. Recovery drops the old dialog without BYE and INVITEs with a
//     new Call-ID and a new o= session id, offering the same two RTP ports,
//     so the file of the call in progress goes on: one file per call, the
//     outage (what the phone forked while no session was up) counted as
//     loss and written as silence, nothing twice. The JSON counts
//     recoveries ("recoveries"); its sip_call_id stays the dialog the file
//     began in. A failed recovery INVITE means the phone is gone (spec
//     §3.2.4): the file is closed with ReasonNoAnswer and the session ends
//     without BYE.
//   - Static mapping, spec §3.2.3–§3.2.6: once an extension's first call has
//     started a session, a BackInServiceEvent that finds no session of it
//     starts one at once (no call needed), and so does the end of a session
//     whose device moved to another address (forced log-off: "the next
//     INVITE to phone B"). This holds across OutOfService, since the phone's
//     re-registration after an update (§3.2.5) or a PBX restart (§3.2.6) is
//     when "the recording system will send an INVITE". A BackInService
//     for a device whose session is up at the same address (as after a CSTA
//     reconnect) leaves the session alone; a phone that lost it (power
//     cycle) answers the next UPDATE and re-INVITE 481 and is recovered.
//     Dynamic mapping INVITEs at the next call.
//   - A BYE from the phone (spec §3.2: on unregistration) ends the session;
//     the open recording ends with reason "phone sent BYE". A BYE for no
//     dialog of ours gets 481.
//   - CSTA: MonitorStart for every extension on each (re)connect; a
//     SystemStatus of ours still unanswered at the next tick drops the link;
//     reconnect after 100 ms, doubling to 5 s (spec §3.2.6). The loop writes
//     the frames itself: one Write each, which the lab's impairments hold
//     without blocking; only the dial and the reading wait on the network,
//     off the loop. The device table survives a
//     reconnect (the PBX re-sends BackInService after MonitorStart). A call
//     in progress when the link was lost may have cleared unseen (its
//     ConnectionCleared is not sent again): once its phone has forked
//     nothing for a keep-alive interval, it is taken as cleared (the phone
//     forks until its call ends, spec §3.2), so a dynamic session ends
//     with BYE instead of staying up for ever (issue 12). An
//     OutOfServiceEvent naming another address than the table's is about a
//     registration already replaced (forced log-off, spec §3.2.3) and keeps
//     the table entry.
//   - A file name already taken gets -2, -3, …: recordings are never
//     overwritten. The JSON is written to a temporary name and renamed.
//   - JSON keys are snake_case like media.ChannelStats; times are RFC 3339 in
//     UTC from the lab clock (Network.Epoch()+Now()).
//
// # Example
//
//	rec, err := recorder.New(node, recorder.Config{
//		CSTA:      netip.MustParseAddrPort("127.20.0.1:8882"),
//		Monitored: []string{"1001", "1002"},
//		Mapping:   recorder.Dynamic,
//		OutDir:    "recordings",
//	})
//	if err != nil {
//		return err
//	}
//	if err := rec.Start(ctx); err != nil {
//		return err
//	}
//	defer rec.Close() // BYE to every phone, files finished
//	// … calls happen …
//	for _, r := range rec.Recordings() {
//		fmt.Println(r.WAV, r.Meta.Reason, r.Meta.Packets(), r.Meta.Lost())
//	}
package recorder
