// Package sim is the lab world: the address plan, the traced sockets every
// node gets its network through, the lab clock (clock.go: Real, a scaled
// clock whose rate can change while the lab runs, a manual clock for
// tests; node code takes every timer from it, TestNodeCodeUsesTheLabClock
// keeps it so), the event bus (Trace, with typed state events: State,
// WatchState), the pcap writer and the HEP export.
//
// It owns every socket of the lab. A node asks its *Node for a UDP socket
// (ListenPacket), a TCP listener (Listen), a TCP connection (Dial) or a
// whole sipgo stack bound to a traced socket (StartSIP); each datagram and
// each TCP write passes through the Network, which classifies it (SIP, RTP,
// CSTA, HTTP), publishes a one-line Event and writes the frame to the pcap.
// RTP is never kept per packet: the trace reports stream start and stop
// with counts, so memory stays bounded however many calls run.
//
// Nothing slow is on a sender's path (issue 14 item 2): the pcap is a
// lock-free ring of preallocated slots (pcapqueue.go) that one writer
// goroutine drains, serialising, time-ordering and flushing (every
// PcapFlushEvery, whole records only); a full ring drops and counts
// (PcapWriter.Dropped, an error on the trace). A blocking trace subscriber
// gets a queue and a feeder goroutine of its own, so Publish never waits
// for its reader.
//
// Batches (issue 14 item 1, batch.go). PacketConn.WriteBatch sends several
// datagrams of one socket — a phone's RTP packet and the recorder's copy of
// it, each period — in one sendmmsg(2) (golang.org/x/net/ipv4), after
// tracing, counting and capturing each exactly as WriteToAddrPort does.
// While any impairment or link delay is set, each datagram of a batch takes
// the one-datagram path instead, so every rule judges it on its own.
//
// Impairment. Network.Impair degrades the links between nodes as netem
// would: drop a fraction of the datagrams (seeded, so a run repeats), drop
// everything (Blackhole), Delay (± Jitter), Duplicate; for one protocol or
// all; From → To, or Both ways; for good or for the next Count packets.
// Lift, LiftAll and Impairments undo and list them at run time. A dropped
// packet is traced as KindDropped (RTP: one event when a stream starts
// losing, the count when lifted) and never reaches the pcap; a delayed one is
// sent later by one delivery goroutine, traced with Event.Delayed and
// captured at its delivery time; a duplicate is traced with Event.Duplicate
// and captured twice. TCP (CSTA, HTTP) takes Blackhole, a link cut: both ends
// get "connection reset" and new connections "connection refused" until it
// is lifted; and Delay, which holds the bytes in order and the FIN after
// them. Drop and Duplicate on a TCP protocol are refused. With no impairment
// set, a send costs one atomic load more.
//
// SRTP (spec §1.3, srtp.go). Network.SRTP is the lab's book of SRTP keys
// by SSRC and of the flows that carry SRTP, which the phones fill per
// call: the trace names those streams "SRTP stream", and
// SRTPBook.WriteDecryptedPcap writes the companion of a closed pcap with
// every SRTP packet it has a key for in the clear and the SDP made plain
// RTP/AVP. Nothing of it is on the per-packet path.
//
// It must not know the phones, the PBX or the recorder: protocol summaries
// beyond SIP and HTTP are passed in Config.Summarizers.
//
// Example:
//
//	n, _ := sim.NewNetwork(sim.Config{Pcap: f})
//	pbx, _ := n.AddNode("pbx", netip.MustParseAddr("127.20.0.1"))
//	stack, _ := pbx.StartSIP(5060, "MX-ONE", func(s *sipgo.Server) { s.OnRegister(h) })
//	w := n.Trace().Watch(func(e sim.Event) bool { return e.Summary == "200 OK (REGISTER)" })
//	// … act, then: w.Wait(ctx)
package sim
