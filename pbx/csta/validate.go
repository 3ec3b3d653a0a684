package csta

import (
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"
)

// MaxToken is the longest value accepted in any element (device, crossRefID, cause, ...).
const MaxToken = 64

// checker collects the first problem found in a message, naming the root element and the
// element path, so Encode and Decode report the same words for the same fault.
type checker struct {
	kind string
	err  error
}

func (c *checker) fail(path, value, reason string) {
	if c.err == nil {
		c.err = fmt.Errorf("csta: %s %s %q: %s: %w", c.kind, path, value, reason, ErrInvalidMessage)
	}
}

func (c *checker) missing(path string) {
	if c.err == nil {
		c.err = fmt.Errorf("csta: %s %s is missing: %w", c.kind, path, ErrInvalidMessage)
	}
}

// tokenProblem says what is wrong with v as an element value, or "" if nothing is.
// Values are single tokens: no whitespace (Decode trims the edges first), no control
// characters, valid UTF-8, at most MaxToken bytes. That keeps every value printable on one
// trace line and makes Encode(Decode(x)) give back the same values.
func tokenProblem(v string) string {
	if len(v) > MaxToken {
		return fmt.Sprintf("longer than %d bytes", MaxToken)
	}
	if !utf8.ValidString(v) {
		return "not valid UTF-8"
	}
	for _, r := range v {
		if unicode.IsSpace(r) {
			return "contains whitespace"
		}
		if !unicode.IsGraphic(r) {
			return fmt.Sprintf("contains the non-printable character %U", r)
		}
	}
	return ""
}

// required checks a mandatory value.
func (c *checker) required(path, v string) {
	if v == "" {
		c.missing(path)
		return
	}
	c.optional(path, v)
}

// optional checks a value that may be empty.
func (c *checker) optional(path, v string) {
	if p := tokenProblem(v); p != "" {
		c.fail(path, v, p)
	}
}

func (c *checker) callID(path, v string) {
	if v == "" {
		c.missing(path)
		return
	}
	if ValidateCallID(v) != nil {
		c.fail(path, v, fmt.Sprintf("want %d decimal digits", CallIDLen))
	}
}

func (c *checker) state(v ConnectionState) {
	if !v.valid() {
		c.fail("localConnectionInfo", string(v), "not an ECMA-323 LocalConnectionState")
	}
}

func (c *checker) oneOf(path, v string, allowed []string) {
	if v == "" {
		c.missing(path)
		return
	}
	if !slices.Contains(allowed, v) {
		c.fail(path, v, fmt.Sprintf("want one of %v", allowed))
	}
}

func (c *checker) deviceInfo(d *DeviceInfo) {
	if d == nil {
		return
	}
	const at = "extensions/privateData/private/deviceInfo/"
	switch {
	case !d.IP.IsValid():
		c.missing(at + "ip")
	case d.IP.Zone() != "":
		c.fail(at+"ip", d.IP.String(), "an IP zone is not allowed")
	}
	if d.RecordingPort < 1 || d.RecordingPort > 65535 {
		c.fail(at+"recordingPort", fmt.Sprint(d.RecordingPort), "want 1–65535")
	}
	c.required(at+"model", d.Model)
}

// field is an optional element and its value.
type field struct{ path, v string }

// callEvent checks what every call event carries, in document order: the monitor, the
// connection (conn names its element, e.g. "establishedConnection"), the event's own
// optional devices, localConnectionInfo and cause.
func (c *checker) callEvent(conn string, f CallFields, devices ...field) {
	c.required("monitorCrossRefID", f.CrossRefID)
	c.callID(conn+"/callID", f.CallID)
	c.required(conn+"/deviceID", f.Device)
	for _, d := range devices {
		c.optional(d.path, d.v)
	}
	c.state(f.LocalConnection)
	c.required("cause", f.Cause)
}

// deviceEvent checks a BackInServiceEvent or OutOfServiceEvent.
func (c *checker) deviceEvent(crossRefID, device string, info *DeviceInfo) {
	c.required("monitorCrossRefID", crossRefID)
	c.required("device", device)
	c.deviceInfo(info)
}

// validate checks m as Encode would send it and as Decode must return it.
func validate(m Message) error {
	c := &checker{kind: m.Kind()}
	switch m := m.(type) {
	case MonitorStart:
		c.required("monitorObject/deviceObject", m.Device)
	case MonitorStartResponse:
		c.required("monitorCrossRefID", m.CrossRefID)
	case MonitorStop:
		c.required("monitorCrossRefID", m.CrossRefID)
	case MonitorStopResponse, SystemStatusResponse:
	case SystemStatus:
		c.oneOf("systemStatus", m.Status, systemStatuses)
	case ErrorResponse:
		if m.Category == "" {
			c.missing("category element")
		} else if !slices.Contains(errorCategories, m.Category) {
			c.fail("category element", m.Category, fmt.Sprintf("want one of %v", errorCategories))
		}
		c.required(m.Category, m.Value)
	case ServiceInitiatedEvent:
		c.callEvent("initiatedConnection", m.CallFields(), field{"initiatingDevice", m.Initiating})
	case OriginatedEvent:
		c.callEvent("originatedConnection", m.CallFields(),
			field{"callingDevice", m.Calling}, field{"calledDevice", m.Called})
	case DeliveredEvent:
		c.callEvent("connection", m.CallFields(),
			field{"alertingDevice", m.Alerting}, field{"callingDevice", m.Calling}, field{"calledDevice", m.Called})
	case EstablishedEvent:
		c.callEvent("establishedConnection", m.CallFields(),
			field{"answeringDevice", m.Answering}, field{"callingDevice", m.Calling}, field{"calledDevice", m.Called})
	case ConnectionClearedEvent:
		c.callEvent("droppedConnection", m.CallFields(), field{"releasingDevice", m.Releasing})
	case BackInServiceEvent:
		c.deviceEvent(m.CrossRefID, m.Device, m.Info)
	case OutOfServiceEvent:
		c.deviceEvent(m.CrossRefID, m.Device, m.Info)
	default:
		if c.checkSession(m) { // session.go
			return c.err
		}
		return fmt.Errorf("csta: cannot encode %T (%s): %w", m, m.Kind(), ErrUnsupported)
	}
	return c.err
}
