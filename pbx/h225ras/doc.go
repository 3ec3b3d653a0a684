// Package h225ras is the subset of H.225.0 RAS (registration, admission and
// status, UDP 1719) that the lab's gatekeeper and its H.323 phones speak:
// GRQ/GCF/GRJ (discovery), RRQ/RCF/RRJ including the lightweight RRQ that
// refreshes a registration (keepAlive, endpointIdentifier), and
// URQ/UCF/URJ, as plain Go values with Encode and Decode in ASN.1 ALIGNED
// PER (ITU-T X.691), and Summary for the trace.
//
// Why hand-written: no Go H.225.0 package exists, and the general aligned
// PER libraries cannot write OBJECT IDENTIFIER, SEQUENCE extension
// additions or BMPString, which every RAS message needs (protocolIdentifier,
// timeToLive and keepAlive are RRQ extension additions, identifiers are
// BMPStrings). So per.go holds the few X.691 primitives RAS uses and
// codec.go the messages, field by field as H323-MESSAGES.asn (H.225.0
// 12/2009) declares them; the tests check every message against tshark's
// H.225.0 dissector.
//
// # What it owns
//
//   - Encode writes H.225.0 version 4 (ProtocolV4): RRQ carries the version
//     4 extension additions (timeToLive, keepAlive, endpointIdentifier,
//     willSupplyUUIEs, maintainConnection), RCF willRespondToIRR and
//     maintainConnection, URQ gatekeeperIdentifier and reason when set.
//   - Decode reads those and skips every extension addition and extension
//     alternative it does not know (each is an open type with its own
//     length), so newer endpoints' messages decode. Other RAS messages (ARQ,
//     LRQ, …) and elements outside the subset (a gateway's EndpointType, an
//     IPX address) are errors wrapping ErrUnsupported; malformed input is an
//     error naming the message and the byte where it went wrong.
//
// # What it must not touch
//
// No sockets, goroutines or clocks: the PBX's gatekeeper (pbx/gatekeeper.go)
// and the phones' RAS client (phones/ras.go) own those, and their sockets
// come from sim, so every RAS datagram is in the trace and the pcap.
//
// Example:
//
//	b, err := h225ras.Encode(&h225ras.RRQ{RequestSeqNum: 7, Protocol: h225ras.ProtocolV4,
//		KeepAlive: true, EndpointID: "1001-1", GatekeeperID: "MX-ONE", TimeToLive: 60, ...})
//	m, err := h225ras.Decode(b) // *h225ras.RRQ
package h225ras
