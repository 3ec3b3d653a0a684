// Package pbx is the simulated MX-ONE: a SIP registrar and B2BUA call
// control on 5060/udp, and the CSTA XML server on 8882/tcp.
//
// The registrar (Registrar) is pure: REGISTERs go in, outcomes come out
// (new, refresh, moved — a forced log-off, spec §3.2.3 — removed). The PBX
// driver around it answers SIP with sipgo, relays calls leg to leg with the
// callers' SDP unchanged so media flows phone to phone, and reports calls
// and registrations to monitoring CSTA clients (spec §3.1) with package csta.
// Wire decisions beyond design.md are in docs/wire.md.
//
// It must not open sockets itself: every socket comes from its sim.Node.
//
// Example:
//
//	p, _ := pbx.New(node, pbx.Config{Extensions: []string{"1001", "1002"}})
//	p.Start()
//	defer p.Stop()
package pbx
