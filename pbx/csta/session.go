package csta

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/ianaindex"
)

// What real recorders send when a link opens, besides MonitorStart: an
// ECMA-354 application session (StartApplicationSession, with MX-ONE's
// "application authentication" password), SystemRegister for the
// switch's SystemStatus, and SnapshotDevice for the calls a device is in.

// SessionNamespace is ECMA-354's (Application Session Services), the
// default xmlns of its messages; ECMA-323 messages keep Namespace.
const SessionNamespace = "http://www.ecma-international.org/standards/ecma-354/appl_session"

// ProtocolVersionED4 is the ECMA-354 protocolVersion naming ECMA-323 ed4,
// the only one this lab speaks.
const ProtocolVersionED4 = "http://www.ecma-international.org/standards/ecma-323/csta/ed4"

// ECMA-354 definedError values a PBX answers with in a NegResponse.
const (
	SessionInvalidApplicationInfo     = "invalidApplicationInfo" // wrong or missing application password
	SessionProtocolVersionNotSupp     = "requestedProtocolVersionNotSupported"
	SessionInvalidSessionID           = "invalidSessionID"
	SessionGeneralError               = "generalError"
	SessionAlreadyStarted             = "sessionAlreadyStarted" // a link holds one session (reclab's decision)
	SecurityNoSession                 = "generic"               // CSTAErrorCode security/generic: a request before the session began
	DefaultSessionDuration            = 180                     // seconds, ECMA-354's suggested default
	sessionDurationMin, sessionDurMax = 1, 86400
)

// StartApplicationSession opens an ECMA-354 session on the link.
// Password travels in applicationSpecificInfo as <password> (any element of
// that name in it, e.g. inside a vendor's login element): the MX-ONE form
// is not public, this is reclab's (docs/wire.md).
type StartApplicationSession struct {
	ApplicationID    string
	Password         string
	ProtocolVersions []string // requestedProtocolVersions; none: any
	Duration         int      // requestedSessionDuration in seconds; 0: the server's
}

// StartApplicationSessionPosResponse accepts the session.
type StartApplicationSessionPosResponse struct {
	SessionID       string
	ProtocolVersion string
	Duration        int // actualSessionDuration, seconds
}

// StartApplicationSessionNegResponse refuses it; Error is a definedError.
type StartApplicationSessionNegResponse struct{ Error string }

// StopApplicationSession ends the session.
type StopApplicationSession struct {
	SessionID string
	Reason    string // sessionEndReason/definedEndReason, e.g. normal; optional
}

// StopApplicationSessionPosResponse confirms the end.
type StopApplicationSessionPosResponse struct{}

// StopApplicationSessionNegResponse refuses it (an unknown sessionID).
type StopApplicationSessionNegResponse struct{ Error string }

// ResetApplicationSessionTimer is the session's keep-alive.
type ResetApplicationSessionTimer struct {
	SessionID string
	Duration  int
}

// ResetApplicationSessionTimerPosResponse confirms it.
type ResetApplicationSessionTimerPosResponse struct{ Duration int }

// SystemRegister asks for the switch's SystemStatus (ECMA-323
// SystemRegister; the lab sends SystemStatus to every link anyway).
type SystemRegister struct{}

// SystemRegisterResponse answers it with the registration's id.
type SystemRegisterResponse struct{ RegisterID string }

// SnapshotDevice asks for the calls a device is in.
type SnapshotDevice struct{ Device string }

// SnapshotDeviceResponse lists them: each call's callID and the device's
// connection state in it.
type SnapshotDeviceResponse struct{ Calls []SnapshotCall }

// SnapshotCall is one call of a SnapshotDeviceResponse.
type SnapshotCall struct {
	CallID string
	Device string // the connection's deviceID: the snapshot's device
	State  ConnectionState
}

func (StartApplicationSession) Kind() string            { return "StartApplicationSession" }
func (StartApplicationSessionPosResponse) Kind() string { return "StartApplicationSessionPosResponse" }
func (StartApplicationSessionNegResponse) Kind() string { return "StartApplicationSessionNegResponse" }
func (StopApplicationSession) Kind() string             { return "StopApplicationSession" }
func (StopApplicationSessionPosResponse) Kind() string  { return "StopApplicationSessionPosResponse" }
func (StopApplicationSessionNegResponse) Kind() string  { return "StopApplicationSessionNegResponse" }
func (ResetApplicationSessionTimer) Kind() string       { return "ResetApplicationSessionTimer" }
func (ResetApplicationSessionTimerPosResponse) Kind() string {
	return "ResetApplicationSessionTimerPosResponse"
}
func (SystemRegister) Kind() string         { return "SystemRegister" }
func (SystemRegisterResponse) Kind() string { return "SystemRegisterResponse" }
func (SnapshotDevice) Kind() string         { return "SnapshotDevice" }
func (SnapshotDeviceResponse) Kind() string { return "SnapshotDeviceResponse" }

// Wire forms.

type xStartSession struct {
	XMLName xml.Name `xml:"StartApplicationSession"`
	AppInfo struct {
		ApplicationID string     `xml:"applicationID"`
		Specific      *xInnerXML `xml:"applicationSpecificInfo"`
	} `xml:"applicationInfo"`
	Versions struct {
		Version []string `xml:"protocolVersion"`
	} `xml:"requestedProtocolVersions"`
	Duration string `xml:"requestedSessionDuration,omitempty"`
}

type xInnerXML struct {
	Inner []byte `xml:",innerxml"`
}

type xStartSessionPos struct {
	XMLName  xml.Name `xml:"StartApplicationSessionPosResponse"`
	Session  string   `xml:"sessionID"`
	Version  string   `xml:"actualProtocolVersion"`
	Duration string   `xml:"actualSessionDuration"`
}

type xNeg struct {
	XMLName xml.Name
	Error   struct {
		Defined string `xml:"definedError"`
	} `xml:"errorCode"`
}

type xStopSession struct {
	XMLName xml.Name `xml:"StopApplicationSession"`
	Session string   `xml:"sessionID"`
	Reason  *struct {
		Defined string `xml:"definedEndReason"`
	} `xml:"sessionEndReason"`
}

type xResetTimer struct {
	XMLName  xml.Name `xml:"ResetApplicationSessionTimer"`
	Session  string   `xml:"sessionID"`
	Duration string   `xml:"requestedSessionDuration,omitempty"`
}

type xResetTimerPos struct {
	XMLName  xml.Name `xml:"ResetApplicationSessionTimerPosResponse"`
	Duration string   `xml:"actualSessionDuration"`
}

type xSystemRegister struct {
	XMLName xml.Name `xml:"SystemRegister"`
}

type xSystemRegisterResponse struct {
	XMLName xml.Name `xml:"SystemRegisterResponse"`
	ID      string   `xml:"sysStatRegisterID"`
}

type xSnapshotDevice struct {
	XMLName xml.Name `xml:"SnapshotDevice"`
	Device  string   `xml:"snapshotObject"`
}

type xSnapshotDeviceResponse struct {
	XMLName xml.Name `xml:"SnapshotDeviceResponse"`
	Data    struct {
		Info []xSnapshotInfo `xml:"snapshotDeviceResponseInfo"`
	} `xml:"crossRefIDorSnapshotData>snapshotData"`
}

type xSnapshotInfo struct {
	Connection xConnection `xml:"connectionIdentifier"`
	State      string      `xml:"localCallState>compoundCallState>localConnectionState"`
}

// sessionWire is the wire form of the messages of this file, with the
// root's namespace; ok false for any other message.
func sessionWire(m Message) (w any, ns string, ok bool) {
	ns = Namespace
	switch m := m.(type) {
	case StartApplicationSession:
		var x xStartSession
		x.AppInfo.ApplicationID = m.ApplicationID
		if m.Password != "" {
			var b bytes.Buffer
			b.WriteString("<password>")
			xml.EscapeText(&b, []byte(m.Password))
			b.WriteString("</password>")
			x.AppInfo.Specific = &xInnerXML{Inner: b.Bytes()}
		}
		x.Versions.Version = m.ProtocolVersions
		if m.Duration != 0 {
			x.Duration = strconv.Itoa(m.Duration)
		}
		w, ns = x, SessionNamespace
	case StartApplicationSessionPosResponse:
		w, ns = xStartSessionPos{Session: m.SessionID, Version: m.ProtocolVersion, Duration: strconv.Itoa(m.Duration)}, SessionNamespace
	case StartApplicationSessionNegResponse:
		x := xNeg{XMLName: xml.Name{Local: m.Kind()}}
		x.Error.Defined = m.Error
		w, ns = x, SessionNamespace
	case StopApplicationSession:
		x := xStopSession{Session: m.SessionID}
		if m.Reason != "" {
			x.Reason = &struct {
				Defined string `xml:"definedEndReason"`
			}{m.Reason}
		}
		w, ns = x, SessionNamespace
	case StopApplicationSessionPosResponse:
		w, ns = struct {
			XMLName xml.Name `xml:"StopApplicationSessionPosResponse"`
		}{}, SessionNamespace
	case StopApplicationSessionNegResponse:
		x := xNeg{XMLName: xml.Name{Local: m.Kind()}}
		x.Error.Defined = m.Error
		w, ns = x, SessionNamespace
	case ResetApplicationSessionTimer:
		x := xResetTimer{Session: m.SessionID}
		if m.Duration != 0 {
			x.Duration = strconv.Itoa(m.Duration)
		}
		w, ns = x, SessionNamespace
	case ResetApplicationSessionTimerPosResponse:
		w, ns = xResetTimerPos{Duration: strconv.Itoa(m.Duration)}, SessionNamespace
	case SystemRegister:
		w = xSystemRegister{}
	case SystemRegisterResponse:
		w = xSystemRegisterResponse{ID: m.RegisterID}
	case SnapshotDevice:
		w = xSnapshotDevice{Device: m.Device}
	case SnapshotDeviceResponse:
		var x xSnapshotDeviceResponse
		for _, c := range m.Calls {
			x.Data.Info = append(x.Data.Info, xSnapshotInfo{Connection: xConnection{CallID: c.CallID, DeviceID: c.Device}, State: string(c.State)})
		}
		w = x
	default:
		return nil, "", false
	}
	return w, ns, true
}

// encodeSession marshals a message of this file with ns as the root's
// default namespace (xml.Marshal writes no xmlns for a tag without one).
func encodeSession(w any, ns string) ([]byte, error) {
	body, err := xml.Marshal(w)
	if err != nil {
		return nil, err
	}
	// <Root ...> → <Root xmlns="ns" ...>: the first '>' or ' ' or '/' ends the name.
	end := bytes.IndexAny(body, " />")
	return append(append(append([]byte{}, body[:end]...), []byte(` xmlns="`+ns+`"`)...), body[end:]...), nil
}

// checkSession validates a message of this file; false for any other.
func (c *checker) checkSession(m Message) bool {
	switch m := m.(type) {
	case StartApplicationSession:
		c.required("applicationInfo/applicationID", m.ApplicationID)
		c.duration("requestedSessionDuration", m.Duration, true)
		for _, v := range m.ProtocolVersions {
			if v == "" || len(v) > 256 {
				c.fail("requestedProtocolVersions/protocolVersion", v, "want a protocol version URI")
			}
		}
		if len(m.Password) > 256 || strings.ContainsAny(m.Password, "\x00\r\n") {
			c.fail("applicationSpecificInfo/password", "…", "longer than 256 bytes or has a control character")
		}
	case StartApplicationSessionPosResponse:
		c.required("sessionID", m.SessionID)
		if m.ProtocolVersion == "" {
			c.missing("actualProtocolVersion")
		}
		c.duration("actualSessionDuration", m.Duration, false)
	case StartApplicationSessionNegResponse:
		c.required("errorCode/definedError", m.Error)
	case StopApplicationSession:
		c.required("sessionID", m.SessionID)
		c.optional("sessionEndReason/definedEndReason", m.Reason)
	case StopApplicationSessionPosResponse, SystemRegister:
	case StopApplicationSessionNegResponse:
		c.required("errorCode/definedError", m.Error)
	case ResetApplicationSessionTimer:
		c.required("sessionID", m.SessionID)
		c.duration("requestedSessionDuration", m.Duration, true)
	case ResetApplicationSessionTimerPosResponse:
		c.duration("actualSessionDuration", m.Duration, false)
	case SystemRegisterResponse:
		c.required("sysStatRegisterID", m.RegisterID)
	case SnapshotDevice:
		c.required("snapshotObject", m.Device)
	case SnapshotDeviceResponse:
		for _, call := range m.Calls {
			if err := ValidateCallID(call.CallID); err != nil {
				c.fail("snapshotDeviceResponseInfo/connectionIdentifier/callID", call.CallID, "want 24 decimal digits")
			}
			c.required("snapshotDeviceResponseInfo/connectionIdentifier/deviceID", call.Device)
			if !call.State.valid() || call.State == "" {
				c.fail("localConnectionState", string(call.State), "not a LocalConnectionState")
			}
		}
	default:
		return false
	}
	return true
}

func (c *checker) duration(path string, secs int, zeroOK bool) {
	if (secs == 0 && zeroOK) || (secs >= sessionDurationMin && secs <= sessionDurMax) {
		return
	}
	c.fail(path, strconv.Itoa(secs), fmt.Sprintf("want %d to %d seconds", sessionDurationMin, sessionDurMax))
}

// sessionDecoders decode the roots of this file.
var sessionDecoders = map[string]rootDecoder{
	"StartApplicationSession": func(d *xml.Decoder, start xml.StartElement) (Message, error) {
		var w xStartSession
		if err := element(d, start, &w); err != nil {
			return nil, err
		}
		m := StartApplicationSession{ApplicationID: text(w.AppInfo.ApplicationID), ProtocolVersions: trimAll(w.Versions.Version)}
		if w.AppInfo.Specific != nil {
			pw, err := findPassword(w.AppInfo.Specific.Inner)
			if err != nil {
				return nil, err
			}
			m.Password = pw
		}
		var err error
		m.Duration, err = seconds(m.Kind(), "requestedSessionDuration", w.Duration)
		return m, err
	},
	"StartApplicationSessionPosResponse": func(d *xml.Decoder, start xml.StartElement) (Message, error) {
		var w xStartSessionPos
		if err := element(d, start, &w); err != nil {
			return nil, err
		}
		dur, err := seconds("StartApplicationSessionPosResponse", "actualSessionDuration", w.Duration)
		return StartApplicationSessionPosResponse{SessionID: text(w.Session), ProtocolVersion: text(w.Version), Duration: dur}, err
	},
	"StartApplicationSessionNegResponse": decodeNeg(func(e string) Message { return StartApplicationSessionNegResponse{e} }),
	"StopApplicationSession": func(d *xml.Decoder, start xml.StartElement) (Message, error) {
		var w xStopSession
		if err := element(d, start, &w); err != nil {
			return nil, err
		}
		m := StopApplicationSession{SessionID: text(w.Session)}
		if w.Reason != nil {
			m.Reason = text(w.Reason.Defined)
		}
		return m, nil
	},
	"StopApplicationSessionPosResponse": decodeEmpty(StopApplicationSessionPosResponse{}),
	"StopApplicationSessionNegResponse": decodeNeg(func(e string) Message { return StopApplicationSessionNegResponse{e} }),
	"ResetApplicationSessionTimer": func(d *xml.Decoder, start xml.StartElement) (Message, error) {
		var w xResetTimer
		if err := element(d, start, &w); err != nil {
			return nil, err
		}
		dur, err := seconds("ResetApplicationSessionTimer", "requestedSessionDuration", w.Duration)
		return ResetApplicationSessionTimer{SessionID: text(w.Session), Duration: dur}, err
	},
	"ResetApplicationSessionTimerPosResponse": func(d *xml.Decoder, start xml.StartElement) (Message, error) {
		var w xResetTimerPos
		if err := element(d, start, &w); err != nil {
			return nil, err
		}
		dur, err := seconds("ResetApplicationSessionTimerPosResponse", "actualSessionDuration", w.Duration)
		return ResetApplicationSessionTimerPosResponse{Duration: dur}, err
	},
	"SystemRegister": decodeEmpty(SystemRegister{}),
	"SystemRegisterResponse": func(d *xml.Decoder, start xml.StartElement) (Message, error) {
		var w xSystemRegisterResponse
		if err := element(d, start, &w); err != nil {
			return nil, err
		}
		return SystemRegisterResponse{RegisterID: text(w.ID)}, nil
	},
	"SnapshotDevice": func(d *xml.Decoder, start xml.StartElement) (Message, error) {
		var w xSnapshotDevice
		if err := element(d, start, &w); err != nil {
			return nil, err
		}
		return SnapshotDevice{Device: text(w.Device)}, nil
	},
	"SnapshotDeviceResponse": func(d *xml.Decoder, start xml.StartElement) (Message, error) {
		var w xSnapshotDeviceResponse
		if err := element(d, start, &w); err != nil {
			return nil, err
		}
		var m SnapshotDeviceResponse
		for _, i := range w.Data.Info {
			m.Calls = append(m.Calls, SnapshotCall{CallID: text(i.Connection.CallID), Device: text(i.Connection.DeviceID), State: ConnectionState(text(i.State))})
		}
		return m, nil
	},
}

func decodeNeg(mk func(string) Message) rootDecoder {
	return func(d *xml.Decoder, start xml.StartElement) (Message, error) {
		var w xNeg
		if err := element(d, start, &w); err != nil {
			return nil, err
		}
		return mk(text(w.Error.Defined)), nil
	}
}

func trimAll(vs []string) []string {
	var out []string
	for _, v := range vs {
		out = append(out, text(v))
	}
	return out
}

func seconds(kind, path, v string) (int, error) {
	v = text(v)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("csta: %s %s %q: want whole seconds: %w", kind, path, clip(v), ErrInvalidMessage)
	}
	return n, nil
}

// findPassword is the text of the first element named password, at any
// depth, in applicationSpecificInfo.
func findPassword(inner []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(inner))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return "", nil
		}
		if err != nil {
			return "", syntaxError("applicationSpecificInfo", err)
		}
		if s, ok := tok.(xml.StartElement); ok && strings.EqualFold(s.Name.Local, "password") {
			var pw string
			if err := d.DecodeElement(&pw, &s); err != nil {
				return "", syntaxError("applicationSpecificInfo", err)
			}
			return pw, nil
		}
	}
}

// isECMA354 reports whether root is an ECMA-354 message (SessionNamespace).
func isECMA354(root string) bool { return strings.Contains(root, "ApplicationSession") }

// ecma323Prefix begins every edition's ECMA-323 namespace (ed2 … ed6).
const ecma323Prefix = "http://www.ecma-international.org/standards/ecma-323/csta/"

// EncodingError is a document declaring an encoding Go cannot decode.
type EncodingError struct{ Encoding string }

func (e *EncodingError) Error() string {
	return fmt.Sprintf("csta: the XML declares encoding %q, which is not one Go can decode (IANA names: UTF-8, ISO-8859-1, windows-1252, …)", e.Encoding)
}

// charsetReader reads a document in any encoding of the IANA index that
// golang.org/x/text decodes (ISO-8859-x, windows-125x, Shift_JIS, …).
func charsetReader(label string, r io.Reader) (io.Reader, error) {
	enc, err := ianaindex.IANA.Encoding(label)
	if err != nil || enc == nil {
		return nil, &EncodingError{label}
	}
	return enc.NewDecoder().Reader(r), nil
}

// sessionSummary is Summary for the messages of this file; ok false for others.
func sessionSummary(m Message) (string, bool) {
	switch m := m.(type) {
	case StartApplicationSession:
		pw := ""
		if m.Password != "" {
			pw = " (password)" // never the password itself in a trace
		}
		return m.Kind() + " " + orUnknown(m.ApplicationID) + pw, true
	case StartApplicationSessionPosResponse:
		return fmt.Sprintf("%s session %s %ds", m.Kind(), m.SessionID, m.Duration), true
	case StartApplicationSessionNegResponse:
		return m.Kind() + " " + orUnknown(m.Error), true
	case StopApplicationSessionNegResponse:
		return m.Kind() + " " + orUnknown(m.Error), true
	case StopApplicationSession:
		return m.Kind() + " session " + orUnknown(m.SessionID), true
	case ResetApplicationSessionTimer:
		return m.Kind() + " session " + orUnknown(m.SessionID), true
	case SystemRegisterResponse:
		return m.Kind() + " " + orUnknown(m.RegisterID), true
	case SnapshotDevice:
		return m.Kind() + " " + orUnknown(m.Device), true
	case SnapshotDeviceResponse:
		var calls []string
		for _, c := range m.Calls {
			calls = append(calls, c.CallID+" "+string(c.State))
		}
		return fmt.Sprintf("%s %d calls %s", m.Kind(), len(m.Calls), strings.Join(calls, ", ")), true
	}
	return "", false
}

func (m StartApplicationSession) String() string                 { return Summary(m) }
func (m StartApplicationSessionPosResponse) String() string      { return Summary(m) }
func (m StartApplicationSessionNegResponse) String() string      { return Summary(m) }
func (m StopApplicationSession) String() string                  { return Summary(m) }
func (m StopApplicationSessionPosResponse) String() string       { return Summary(m) }
func (m StopApplicationSessionNegResponse) String() string       { return Summary(m) }
func (m ResetApplicationSessionTimer) String() string            { return Summary(m) }
func (m ResetApplicationSessionTimerPosResponse) String() string { return Summary(m) }
func (m SystemRegister) String() string                          { return Summary(m) }
func (m SystemRegisterResponse) String() string                  { return Summary(m) }
func (m SnapshotDevice) String() string                          { return Summary(m) }
func (m SnapshotDeviceResponse) String() string                  { return Summary(m) }
