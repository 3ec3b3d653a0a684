// Package sim is the lab world: the address plan, the traced sockets every
// node gets its network through, the lab clock, the event bus (Trace) and
// the pcap writer.
//
// It owns every socket of the lab. A node asks its *Node for a UDP socket
// (ListenPacket), a TCP listener (Listen), a TCP connection (Dial) or a
// whole sipgo stack bound to a traced socket (StartSIP); each datagram and
// each TCP write passes through the Network, which classifies it (SIP, RTP,
// CSTA, HTTP), publishes a one-line Event and writes the frame to the pcap.
// RTP is never kept per packet: the trace reports stream start and stop
// with counts, so memory stays bounded however many calls run.
//
// It must not know the phones, the PBX or the recorder: protocol summaries
// beyond SIP and HTTP are installed with SetSummarizer.
//
// Example:
//
//	n, _ := sim.NewNetwork(sim.Config{Pcap: f})
//	pbx, _ := n.AddNode("pbx", netip.MustParseAddr("127.20.0.1"))
//	stack, _ := pbx.StartSIP(5060, "MX-ONE", func(s *sipgo.Server) { s.OnRegister(h) })
//	w := n.Trace().Watch(func(e sim.Event) bool { return e.Summary == "200 OK (REGISTER)" })
//	// … act, then: w.Wait(ctx)
package sim
