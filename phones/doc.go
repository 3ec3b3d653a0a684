// Package phones simulates the Mitel IP phones of the voice-recording
// interface (spec §3): the model table and each model's recording-port rule,
// the phone configuration file, and the phone itself on a lab node:
// registration with the PBX, calls and their RTP, and the recording session
// the recorder opens towards the phone (spec §3.2).
//
// It owns: Model and the model table (model.go), Config and the Mitel text
// configuration format (config.go), three pure cores — the recording-session
// state machine RecSession (recsession.go), the registration with its
// gatekeeper keep-alive, Registration (registration.go; transcripts in
// testdata/registration), and the phone's call, Call (call.go; transcripts
// in testdata/call): events in, actions out, no sockets, goroutines or
// clock —, their drivers (regdriver.go, calldriver.go, recdriver.go with
// the recording dialog's RFC 3261 §12.2.2 matching in recdialog.go), the
// phone's loop, the one goroutine that owns its state and steps the cores
// (loop.go), the phone around them (phone.go; power.go: its sipgo stacks;
// siphandlers.go: what arrives on them; update.go: the update order of
// spec §3.2.5; ras.go: the 442x/743x/744x's H.225.0 RAS registration
// with the PBX's gatekeeper, performing the Registration core's actions),
// the typed states it publishes (state.go) and the RTP pump (media.go: a
// reader goroutine per call, forking to the recorder; the sending is paced
// by the lab's one media engine, pacer.go: one pacer per lab clock, a
// fixed pool of goroutines, each call's packet and its recorder copy in one
// sim WriteBatch).
//
// It must not touch: sockets other than those sim hands out (every SIP
// stack comes from sim.Node.StartSIP and every RTP socket from
// sim.Node.ListenPacket, so everything is traced), the PBX's or the
// recorder's state (it talks to them only over the wire, docs/wire.md), and
// sipgo's global timers (the lab sets them once per process).
//
// Wire behaviour, briefly (docs/wire.md and design.md are the contract):
//   - PowerOn binds the SIP port ("sip local port", default 5060) and, on the
//     442x/743x/744x, a second SIP stack on the fixed port 7300 for recording.
//     On the 6700/6800/6900 the one stack takes recording INVITEs too: what
//     comes from the PBX's address is a call, anything else is recording.
//   - Register sends REGISTER with the User-Agent "Mitel <model> MAC:<mac>
//     V:<firmware>" and refreshes at half the granted expiry. A NOTIFY
//     Event: reg, terminated, from the PBX is a forced log-off (spec §3.2.3).
//   - Calls go through the PBX; media is direct, G.711 (PCMA preferred),
//     one 20 ms frame of the phone's own tone per packet from RTPPort.
//   - Recording: the session is decided by RecSession; while it is up and a
//     call talks, each RTP packet sent is copied to the recorder's tx port and
//     each one received to its rx port, from the call's RTP socket, each copy
//     stream with its own SSRC and sequence (media.Forker).
//   - SRTP (spec §1.3, docs/wire.md "SRTP"): with "sip srtp mode" 1 or 2 a
//     call offers RTP/SAVP with an a=crypto key of "sip srtp crypto suite";
//     an SRTP offer is answered with a key of its own. The pump protects what
//     it sends and authenticates what it receives (pion/srtp, no allocation
//     per packet); the copies go byte for byte (keys to the recorder over
//     CSTA) or, when the recorder offered keys, in the clear through
//     media.Forker and protected with the recorder's. The phone tells the
//     lab its keys and SRTP flows (sim.SRTPBook).
//
// Decisions beyond the spec and docs/wire.md (see RecSession for the
// recording session's own):
//   - An empty "recording allowed ip" allows no recorder: every recording
//     INVITE, UPDATE and BYE gets 403 (a note at PowerOn says so).
//   - A phone holds one call; its RTP socket is RTPPort (slot 0), opened
//     when the call starts and closed when it ends. The recording answer
//     names that port for both forked streams, since the copies leave from
//     the call socket; a session outlives calls (static mapping).
//   - An INVITE on the PBX-side SIP port of a 442x/743x/744x that does not
//     come from the PBX gets 403 with a note naming port 7300.
//   - Declining a ringing call (HangUp) answers 603 Decline; a second call
//     while one is up gets 486 Busy Here; a call to an unregistered phone
//     480.
//   - A refresh refused by the PBX (403 after a forced log-off) logs the
//     phone off like the NOTIFY does.
//   - Spec §3.2.6, keep-alive towards the gatekeeper: while registered the
//     phone sends OPTIONS to the PBX every Options.KeepAlive (default 30s);
//     any answer will do. No answer within max(KeepAlive, 1s) (or a refresh
//     REGISTER unanswered as long) logs the phone off: BYE to the recorder
//     if a session is up, an un-REGISTER nobody may answer, then REGISTER
//     every Options.RegisterRetry until the PBX answers.
//   - Spec §3.2.5, update order: NOTIFY Event: check-sync from the PBX is
//     answered 200; the phone unregisters (BYE to the recorder first if a
//     session is up), takes the configuration staged with StageConfig or
//     else re-reads its file (Config.Source, as the lab writes
//     OutDir/config/<name>.cfg), and restarts (PowerOff, PowerOn: every
//     socket closed and bound again from the new configuration) when
//     MajorChanges finds the firmware, extension, MAC, registrar, SIP port,
//     recording port or allowed list changed; otherwise the new file takes
//     effect without a restart. Then it registers again. A file that cannot
//     be read or is invalid is reported and the configuration in use is
//     kept. A call in progress is cut by a restart without BYE.
//
// Example:
//
//	node, _ := network.AddNode("phone1", netip.MustParseAddr("127.20.1.1"))
//	model, _ := phones.LookupModel("7434")
//	cfg, _ := phones.ParseConfig("1001.cfg", strings.NewReader(
//		"sip line1 user name: 1001\nrecording allowed ip: 127.20.0.2\n"))
//	phone, _ := phones.New(node, model, cfg, phones.Options{
//		PBX:    netip.MustParseAddrPort("127.20.0.1:5060"),
//		ToneHz: media.ToneFrequency(0),
//	})
//	_ = phone.PowerOn()         // SIP on 127.20.1.1:5060, recording on :7300
//	_ = phone.Register(ctx)     // REGISTER, 200 OK
//	_ = phone.Dial(ctx, "1002") // INVITE via the PBX; the answer comes later
//	// ... the recorder INVITEs 127.20.1.1:7300, ACKs; RTP is forked.
//	_ = phone.HangUp(ctx)
//	_ = phone.Unregister(ctx) // BYE to the recorder if a session is up
//	phone.PowerOff()          // closes every socket, sends nothing
package phones
