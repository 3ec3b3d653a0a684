package sim

// SIPHeader returns the value of a header, by long or compact name (RFC 3261
// §7.3.3), in a raw SIP message such as Event.Bytes; "" when absent. It is
// for readers of the trace (the bench pairs a session's INVITE, 200 and ACK
// by Call-ID), not for the SIP stacks, which parse with sipgo.
func SIPHeader(b []byte, name, compact string) string { return sipHeader(b, name, compact) }
