// Package lab assembles a whole lab from a Topology: the network, the PBX,
// the recorder and the phones, each on its own loopback address, with the
// phones' configuration files written out in Mitel's text form.
//
// It is the top of the package graph: it imports sim and the nodes (pbx,
// phones, recorder), and nothing below imports it. It passes the lab's
// settings down (the CSTA summariser, SIP timers, passwords, the recorder
// as the only CSTA client) and starts the nodes in causal order: the
// phones power on once the recorder monitors them all (CSTALinkState).
// Protocol logic lives in the nodes; the rogue host (rogue.go) is the one
// SIP client here, a security demo.
//
// SRTP (spec §1.3): Topology.SRTP and PhoneSpec.SRTP write "sip srtp mode"
// and "sip srtp crypto suite" into the phones' files, RecorderSpec.SRTPKeys
// is the recorder's key source; when a lab with SRTP closes, Close writes
// lab-decrypted.pcapng (DecryptedPcapName) beside lab.pcapng from the
// network's key book.
//
// Split mode (split.go, file.go; `reclab serve`): Topology.Split says which
// node kinds this process runs and which peers are real (external); the
// others are at the addresses the topology gives them, and the nodes run
// here point at those. A lab file (ParseLabFile) is the scenario lab: with
// addresses, external peers, farms and the CSTA application password.
// Addresses outside 127.0.0.0/8 only with Split.Allow, which only a lab
// file sets (checkAddrs).
//
// Example:
//
//	l, _ := lab.Build(lab.Default(), lab.Options{OutDir: "out/run1", Pcap: true})
//	defer l.Close()
//	l.Start(ctx) // PBX, recorder, phones registered
package lab
