package sim

import (
	"bytes"
	"net/netip"
	"strings"
)

// classifyUDP tells SIP from RTP by content: SIP is text that starts with a
// method or "SIP/2.0"; RTP has version 2 in its first two bits.
// RTP goes first: it is nearly every datagram of a busy lab, and a SIP
// message starts with an ASCII letter or "SIP/2.0", whose top bits are 01,
// never RTP's 10 (RFC 3550 §5.1), so the order changes no answer.
func classifyUDP(b []byte) Proto {
	if len(b) >= 12 && b[0]>>6 == 2 {
		return ProtoRTP
	}
	if len(b) >= 7 && isSIPStart(b) {
		return ProtoSIP
	}
	return ProtoOther
}

// RASPort is H.225.0 RAS's well-known port (H.225.0 §7.5: the gatekeeper's
// UDP discovery and registration port).
const RASPort = 1719

// classifyDatagram is classifyUDP with the ports: a datagram to or from
// 1719 that is neither RTP nor SIP is RAS. An aligned-PER RasMessage of
// the root starts with bits 00, so content alone tells it from RTP (10)
// and SIP's ASCII (01); the port tells it from stray bytes.
func classifyDatagram(b []byte, src, dst netip.AddrPort) Proto {
	p := classifyUDP(b)
	if p == ProtoOther && len(b) > 0 && b[0]>>6 == 0 && (src.Port() == RASPort || dst.Port() == RASPort) {
		return ProtoRAS
	}
	return p
}

var sipMethods = [][]byte{[]byte("INVITE "), []byte("ACK "), []byte("BYE "), []byte("CANCEL "),
	[]byte("REGISTER "), []byte("OPTIONS "), []byte("UPDATE "), []byte("NOTIFY "), []byte("SUBSCRIBE "),
	[]byte("INFO "), []byte("PRACK "), []byte("REFER "), []byte("MESSAGE "), []byte("PUBLISH "), []byte("SIP/2.0 ")}

func isSIPStart(b []byte) bool {
	for _, m := range sipMethods {
		if bytes.HasPrefix(b, m) {
			return true
		}
	}
	return false
}

// defaultSummarizers name SIP, HTTP and anything unclassified; a lab adds
// its own for the protocols sim does not know (Config.Summarizers: the CSTA
// codec's, so sim need not know ECMA-323).
var defaultSummarizers = map[Proto]func([]byte) []string{
	ProtoSIP:   summarizeSIP,
	ProtoHTTP:  summarizeHTTP,
	ProtoOther: summarizeOther,
}

func (n *Network) summarize(p Proto, b []byte) []string {
	f := n.summarizers[p]
	if f == nil {
		f = summarizeOther
	}
	return f(b)
}

func firstLine(b []byte) string {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	if len(b) > 120 {
		b = b[:120]
	}
	return string(b)
}

// summarizeSIP gives "INVITE sip:1002@127.20.0.1" for a request and
// "200 OK (INVITE)" for a response: the method comes from CSeq.
func summarizeSIP(b []byte) []string {
	line := firstLine(b)
	if rest, ok := strings.CutPrefix(line, "SIP/2.0 "); ok {
		if m := sipHeader(b, "CSeq", ""); m != "" {
			if f := strings.Fields(m); len(f) == 2 {
				rest += " (" + f[1] + ")"
			}
		}
		return []string{rest}
	}
	if i := strings.LastIndex(line, " SIP/2.0"); i > 0 {
		line = line[:i]
	}
	return []string{line}
}

// sipHeader finds a header by long or compact name in a raw SIP message.
func sipHeader(b []byte, name, compact string) string {
	for _, l := range strings.Split(string(b), "\r\n")[1:] {
		if l == "" {
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if strings.EqualFold(k, name) || (compact != "" && strings.EqualFold(k, compact)) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// summarizeHTTP names requests and status lines; body chunks are not messages.
func summarizeHTTP(b []byte) []string {
	line := firstLine(b)
	if strings.HasPrefix(line, "HTTP/") {
		if _, rest, ok := strings.Cut(line, " "); ok {
			return []string{rest}
		}
	}
	for _, m := range []string{"GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS "} {
		if strings.HasPrefix(line, m) {
			if i := strings.LastIndex(line, " HTTP/"); i > 0 {
				line = line[:i]
			}
			return []string{line}
		}
	}
	if len(b) > 0 && b[0] == 0x16 {
		return []string{"TLS handshake"}
	}
	return nil
}

func summarizeOther(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return []string{strings.ToValidUTF8(firstLine(b), "?")}
}
