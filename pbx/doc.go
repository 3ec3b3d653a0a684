// Package pbx is the simulated MX-ONE: a SIP registrar and B2BUA call
// control on 5060/udp, the CSTA XML server on 8882/tcp (and over TLS on
// 8883 with Config.CSTATLS), and the admin commands of spec §3.2.5 and
// §3.2.6.
//
// The protocol decisions are pure and table-tested: parseRegister reads a
// REGISTER, Registrar decides (new, refresh, moved — a forced log-off, spec
// §3.2.3 — removed, refused), B2BUA steps each call's A-leg and B-leg
// (admission, relayed answers, CANCEL, BYE after the 2xx's ACK; transcripts
// in testdata/calls), callEvents says which monitor hears which CSTA event of
// a call, updateTargets picks the phones of an update order. The driver
// around them answers SIP with sipgo, performs the B2BUA's actions (SDP
// passed through unchanged so media flows phone to phone), and reports calls
// and registrations to monitoring CSTA clients (spec §3.1) with package csta.
// For an SRTP call it reads both parties' SDES keys from the SDP it relays
// and gives them to the recorder in the EstablishedEvent (callMediaKeys,
// spec §1.3, docs/wire.md "SRTP").
// Wire decisions beyond design.md are in docs/wire.md.
//
// The PBX is also the H.323 gatekeeper on 1719/udp (gatekeeper.go, codec
// in pbx/h225ras): the DBC phones discover it and register over RAS into
// the same Registrar; Gatekeeper is the pure core.
//
// Admin commands: OrderUpdate (spec §3.2.5: NOTIFY Event: check-sync orders
// phones to unregister and read their configuration file), Stop, Start and
// Restart (spec §3.2.6: a server restart forgets every registration and
// drops the CSTA links). State for a display: Registrations, Calls,
// CSTAClients, Running.
//
// One goroutine per run of the PBX, its loop (loop.go), owns the registrar,
// the nonces, the calls and the CSTA clients and monitors: sipgo's handlers,
// the CSTA links' readers, the calls' workers and the expiry timer post to
// it, and what waits on the network (a B-leg, a BYE, a NOTIFY, a CSTA write)
// runs off it and posts its result back.
//
// It must not open sockets itself: every socket comes from its sim.Node. It
// must not know the phones' or the recorder's insides: it speaks to them only
// over the wire (it reads the phones' model table to know recording ports).
//
// Example:
//
//	p, _ := pbx.New(node, pbx.Config{Extensions: []string{"1001", "1002"}})
//	p.Start()
//	defer p.Stop()
//	err := p.OrderUpdate("1001") // spec §3.2.5
package pbx
