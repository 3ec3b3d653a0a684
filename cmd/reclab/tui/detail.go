package tui

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
)

// detail is the selected event in full: where it went, what it belongs to,
// and its bytes made readable (SIP with its SDP as sent, CSTA XML
// indented, HTTP as sent).
func detail(e sim.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d  %.3fs  %s %s\n", e.Seq, e.At.Seconds(), e.Proto, e.Kind)
	from, to := e.From, e.To
	if e.Src.IsValid() {
		from += " (" + e.Src.String() + ")"
	}
	if e.Dst.IsValid() {
		to += " (" + e.Dst.String() + ")"
	}
	if to != "" {
		fmt.Fprintf(&b, "%s → %s\n", from, to)
	} else {
		fmt.Fprintf(&b, "%s\n", from)
	}
	fmt.Fprintf(&b, "%s\n", summaryText(e, false))
	if id := belongsTo(e); id != "" {
		fmt.Fprintf(&b, "%s\n", id)
	}
	switch e.Kind {
	case sim.KindStreamStart, sim.KindStreamStop:
		fmt.Fprintf(&b, "\nRTP is summarised as streams in the trace (%d packets so far);\nevery packet is in the pcap.\n", e.Packets)
		if strings.HasPrefix(e.Summary, "SRTP stream") {
			b.WriteString("The stream is SRTP (spec §1.3): lab-decrypted.pcapng beside the pcap\nholds it in the clear, written when the lab closes.\n")
		}
		return b.String()
	case sim.KindNote, sim.KindError:
		return b.String()
	}
	if len(e.Bytes) == 0 {
		return b.String()
	}
	b.WriteString("\n")
	switch e.Proto {
	case sim.ProtoCSTA:
		b.WriteString(cstaText(e.Bytes))
	case sim.ProtoRAS: // binary aligned PER: the summary names the fields, the octets in hex
		b.WriteString(hex.Dump(e.Bytes))
	default:
		b.WriteString(strings.ReplaceAll(strings.ToValidUTF8(string(e.Bytes), "?"), "\r\n", "\n"))
	}
	return b.String()
}

// belongsTo names the call or dialog a message is part of: SIP's Call-ID,
// CSTA's callID.
func belongsTo(e sim.Event) string {
	switch e.Proto {
	case sim.ProtoSIP:
		for _, l := range strings.Split(string(e.Bytes), "\r\n")[1:] {
			if l == "" {
				break
			}
			k, v, ok := strings.Cut(l, ":")
			if ok && (strings.EqualFold(strings.TrimSpace(k), "Call-ID") || strings.TrimSpace(k) == "i") {
				return "Call-ID: " + strings.TrimSpace(v)
			}
		}
	case sim.ProtoCSTA:
		if _, id, ok := strings.Cut(e.Summary, " call "); ok {
			return "CSTA call " + strings.Fields(id)[0]
		}
	}
	return ""
}

// cstaText shows each ECMA-323 frame of a TCP segment: its invokeID and
// its XML indented. Bytes that do not frame are shown as they are.
func cstaText(b []byte) string {
	var out strings.Builder
	fr := csta.NewFrameReader(bytes.NewReader(b))
	for {
		id, body, err := fr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && body == nil {
			fmt.Fprintf(&out, "(%v)\n", err)
			break
		}
		fmt.Fprintf(&out, "invokeID %04d, %d bytes of XML\n", id, len(body))
		out.WriteString(indentXML(body))
		out.WriteString("\n")
	}
	return out.String()
}

// indentXML re-encodes XML with two-space indentation; malformed XML is
// returned as it came.
func indentXML(b []byte) string {
	dec := xml.NewDecoder(bytes.NewReader(b))
	var out bytes.Buffer
	enc := xml.NewEncoder(&out)
	enc.Indent("", "  ")
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return string(b)
		}
		if cd, ok := tok.(xml.CharData); ok {
			if len(bytes.TrimSpace(cd)) == 0 {
				continue
			}
		}
		if err := enc.EncodeToken(xml.CopyToken(tok)); err != nil {
			return string(b)
		}
		if _, ok := tok.(xml.ProcInst); ok {
			// The declaration on its own line, the root below it.
			if err := enc.Flush(); err != nil {
				return string(b)
			}
			out.WriteString("\n")
		}
	}
	if err := enc.Flush(); err != nil {
		return string(b)
	}
	return out.String()
}
