package csta

import (
	"errors"
	"fmt"
	"strings"
)

// Summary is one line for the trace and the TUI:
//
//	MonitorStart 1001
//	MonitorStartResponse 17
//	SystemStatus normal
//	CSTAErrorCode operation/invalidDeviceID
//	EstablishedEvent 1001→1002 call 000000000000000000000042
//	ConnectionClearedEvent 1002 call 000000000000000000000042 normalClearing
//	BackInServiceEvent 1001 127.20.1.1:7300 7434
//
// An unknown device prints as "?". m may be a value or a pointer.
func Summary(m Message) string {
	switch m := deref(m).(type) {
	case nil:
		return "<nil>"
	case MonitorStart:
		return "MonitorStart " + orUnknown(m.Device)
	case MonitorStartResponse:
		return "MonitorStartResponse " + orUnknown(m.CrossRefID)
	case MonitorStop:
		return "MonitorStop " + orUnknown(m.CrossRefID)
	case MonitorStopResponse, SystemStatusResponse:
		return m.Kind()
	case SystemStatus:
		return "SystemStatus " + orUnknown(m.Status)
	case ErrorResponse:
		return "CSTAErrorCode " + orUnknown(m.Category) + "/" + orUnknown(m.Value)
	case ServiceInitiatedEvent:
		return fmt.Sprintf("%s %s call %s", m.Kind(), orUnknown(m.Device), orUnknown(m.CallID))
	case OriginatedEvent:
		return callLine(m.Kind(), m.Calling, m.Called, m.CallID)
	case DeliveredEvent:
		return callLine(m.Kind(), m.Calling, m.Called, m.CallID)
	case EstablishedEvent:
		line := callLine(m.Kind(), m.Calling, m.Called, m.CallID)
		if len(m.Media) > 0 {
			line += fmt.Sprintf(" SRTP keys ×%d", len(m.Media))
		}
		return line
	case ConnectionClearedEvent:
		who := m.Releasing
		if who == "" {
			who = m.Device
		}
		return fmt.Sprintf("%s %s call %s %s", m.Kind(), orUnknown(who), orUnknown(m.CallID), orUnknown(m.Cause))
	case BackInServiceEvent:
		return serviceLine(m.Kind(), m.Device, m.Info)
	case OutOfServiceEvent:
		return serviceLine(m.Kind(), m.Device, m.Info)
	default:
		if s, ok := sessionSummary(m); ok { // session.go
			return s
		}
		return m.Kind()
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func callLine(kind, calling, called, callID string) string {
	return kind + " " + orUnknown(calling) + "→" + orUnknown(called) + " call " + orUnknown(callID)
}

func serviceLine(kind, device string, info *DeviceInfo) string {
	if info == nil {
		return kind + " " + orUnknown(device)
	}
	return kind + " " + orUnknown(device) + " " + info.String()
}

// SummarizeFrames summarises a chunk of TCP payload holding whole frames, one line per
// frame, each led by the frame's four invokeID characters:
//
//	0001 MonitorStart 1001
//	9999 EstablishedEvent 1001→1002 call 000000000000000000000042
//
// It is best effort for the packet tracer: a frame that does not decode gets a line saying
// why, a chunk that ends inside a frame or has lost its framing ends with a line saying so.
// It never panics and never reads past b.
//
// A chunk that starts with a TLS record header (CSTA over TLS, the PBX's
// port 8883) is summarised record by record: what crossed the wire is TLS,
// and the CSTA inside is for a decrypting reader (the lab's TLS key log).
func SummarizeFrames(b []byte) []string {
	if isTLSRecord(b) {
		return summarizeTLS(b)
	}
	var lines []string
	for len(b) > 0 {
		if len(b) < HeaderLen {
			lines = append(lines, fmt.Sprintf("partial CSTA header (%d of %d bytes)", len(b), HeaderLen))
			break
		}
		h := b[:HeaderLen]
		if h[0] != 0 || h[1] != 0 {
			lines = append(lines, fmt.Sprintf("CSTA framing lost: header % x", h))
			break
		}
		total := int(h[2])<<8 | int(h[3])
		if total < HeaderLen {
			lines = append(lines, fmt.Sprintf("CSTA framing lost: length %d in header % x", total, h))
			break
		}
		id := fmt.Sprintf("%q", h[4:8])
		if _, ok := parseInvokeID(h[4:8]); ok {
			id = string(h[4:8])
		}
		if total > len(b) {
			lines = append(lines, fmt.Sprintf("%s partial CSTA frame (%d of %d bytes)", id, len(b), total))
			break
		}
		m, err := Decode(b[HeaderLen:total])
		switch {
		case err == nil:
			lines = append(lines, id+" "+Summary(m))
		case errors.Is(err, ErrUnsupported):
			lines = append(lines, id+" "+strings.TrimPrefix(err.Error(), "csta: "))
		default:
			lines = append(lines, id+" malformed: "+strings.TrimPrefix(err.Error(), "csta: "))
		}
		b = b[total:]
	}
	return lines
}

// TraceSummaries is SummarizeFrames as the lab's trace shows it: an event's
// invokeID (always 9999) is dropped, a request's and response's kept so a
// reader can pair them. The lab installs it as sim's CSTA summariser.
func TraceSummaries(b []byte) []string {
	lines := SummarizeFrames(b)
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "9999 ")
	}
	return lines
}

// TLS record content types (RFC 8446 §5.1).
var tlsRecordTypes = map[byte]string{20: "change cipher spec", 21: "alert", 22: "handshake", 23: "application data"}

// isTLSRecord tells a TLS record header from a CSTA one, which starts 0x00
// 0x00: a known content type and major version 3.
func isTLSRecord(b []byte) bool {
	return len(b) >= 3 && tlsRecordTypes[b[0]] != "" && b[1] == 3
}

// summarizeTLS names each record of a chunk: "TLS handshake (517 bytes)",
// "TLS application data (CSTA, 310 bytes)".
func summarizeTLS(b []byte) []string {
	var lines []string
	for len(b) > 0 {
		if len(b) < 5 || !isTLSRecord(b) {
			lines = append(lines, fmt.Sprintf("TLS record header lost (%d bytes)", len(b)))
			break
		}
		n := int(b[3])<<8 | int(b[4])
		what := tlsRecordTypes[b[0]]
		if 5+n > len(b) {
			lines = append(lines, fmt.Sprintf("TLS %s (partial record, %d of %d bytes)", what, len(b)-5, n))
			break
		}
		detail := fmt.Sprintf("%d bytes", n)
		if b[0] == 23 {
			detail = "CSTA, " + detail
		}
		lines = append(lines, fmt.Sprintf("TLS %s (%s)", what, detail))
		b = b[5+n:]
	}
	return lines
}
