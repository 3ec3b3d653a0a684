package sim

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// sipGuard is what a lab SIP stack's socket answers itself, before the
// stack sees the datagram, for a request no stack may take (RFC 3261):
// another SIP version gets 505 Version Not Supported (§21.5.6)
// and a request without a header §8.1.1 makes mandatory gets 400 naming it.
// A request without Via cannot be answered (the response would have no
// way back): it is refused with an error event only. Everything else —
// responses, well-formed requests, and what does not parse at all (the
// stack's parser names that) — goes to the stack. reply is the answer to
// send to the sender, if any; why is set when the datagram is refused.
func sipGuard(b []byte) (reply []byte, why string) {
	if bytes.HasPrefix(b, []byte("SIP/")) {
		return nil, "" // a response
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) != 3 {
		return nil, ""
	}
	// Nearly every request is well-formed: a scan of the header names
	// passes it on without a second parse (sipgo parses it anyway).
	if f[2] == "SIP/2.0" && hasMandatoryHeaders(b) {
		return nil, ""
	}
	msg, err := sip.ParseMessage(b)
	if err != nil {
		return nil, ""
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, ""
	}
	if req.Via() == nil {
		return nil, fmt.Sprintf("%s without Via refused: no way to answer it (RFC 3261 §8.1.1.7)", req.Method)
	}
	code, reason := 0, ""
	if v := f[2]; v != "SIP/2.0" {
		code, reason = 505, "Version Not Supported"
		why = fmt.Sprintf("%s in %s answered 505: this stack speaks SIP/2.0 (RFC 3261 §21.5.6)", req.Method, clipText(v, 16))
	} else {
		var missing []string
		for _, h := range []struct {
			name    string
			present bool
		}{{"From", req.From() != nil}, {"To", req.To() != nil}, {"Call-ID", req.CallID() != nil}, {"CSeq", req.CSeq() != nil}} {
			if !h.present {
				missing = append(missing, h.name)
			}
		}
		if len(missing) == 0 {
			return nil, ""
		}
		code, reason = 400, "Bad Request (missing "+strings.Join(missing, ", ")+")"
		why = fmt.Sprintf("%s without %s answered 400 (RFC 3261 §8.1.1)", req.Method, strings.Join(missing, ", "))
	}
	if req.Method == sip.ACK {
		return nil, why // an ACK is never answered (RFC 3261 §17.2.1)
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.SipVersion = "SIP/2.0"
	return []byte(res.String()), why
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// guardSIP runs sipGuard on a datagram read by a SIP stack's socket: true
// when the socket answered or refused it itself and the stack must not see
// it.
func (c *PacketConn) guardSIP(b []byte, src netip.AddrPort) bool {
	if !isSIPStart(b) {
		return false
	}
	reply, why := sipGuard(b)
	if why == "" {
		return false
	}
	if reply != nil {
		c.WriteToAddrPort(reply, src)
	}
	c.node.net.Errorf(c.node.name, src, "sip: %s", why)
	return true
}

// hasMandatoryHeaders reports whether a SIP message's header section names
// Via, From, To, Call-ID and CSeq (RFC 3261 §8.1.1), long or compact form.
func hasMandatoryHeaders(b []byte) bool {
	var seen uint8
	_, rest, _ := bytes.Cut(b, []byte("\n"))
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break // end of the headers
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		for i, h := range mandatoryHeaders {
			if bytes.EqualFold(name, h.long) || (len(h.short) > 0 && bytes.EqualFold(name, h.short)) {
				seen |= 1 << i
			}
		}
	}
	return seen == 31
}

// mandatoryHeaders are RFC 3261 §8.1.1's, with their compact forms.
var mandatoryHeaders = [...]struct{ long, short []byte }{
	{[]byte("Via"), []byte("v")}, {[]byte("From"), []byte("f")}, {[]byte("To"), []byte("t")},
	{[]byte("Call-ID"), []byte("i")}, {[]byte("CSeq"), nil},
}
