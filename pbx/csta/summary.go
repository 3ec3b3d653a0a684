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
		return callLine(m.Kind(), m.Calling, m.Called, m.CallID)
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
func SummarizeFrames(b []byte) []string {
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
