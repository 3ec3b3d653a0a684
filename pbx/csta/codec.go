package csta

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// The wire structs below follow the ECMA-323 ed4 element names and order. Marshal writes
// them in field order; Unmarshal ignores elements it does not know (servicesPermitted,
// mediaCallCharacteristics, other vendors' private data, ...), as ECMA-323 peers expect.

// xConnection is ECMA-323 ConnectionID.
type xConnection struct {
	CallID   string `xml:"callID"`
	DeviceID string `xml:"deviceID"`
}

// xSubject is ECMA-323 SubjectDeviceID (and its alerting/answering/releasing kin): a
// choice of deviceIdentifier or a reason it is absent. "" travels as <notKnown/>.
type xSubject struct {
	DeviceIdentifier *string   `xml:"deviceIdentifier"`
	NotKnown         *struct{} `xml:"notKnown"`
	Restricted       *struct{} `xml:"restricted"`
	NotRequired      *struct{} `xml:"notRequired"`
	NotSpecified     *struct{} `xml:"notSpecified"`
}

// xRedirection is ECMA-323 RedirectionDeviceID. The lab has no redirection, so it is always
// <notRequired/>; it is written because ECMA-323 makes lastRedirectionDevice mandatory in
// Delivered and Established events.
type xRedirection struct {
	NotRequired *struct{} `xml:"notRequired"`
}

type xMonitorStart struct {
	XMLName       xml.Name        `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 MonitorStart"`
	MonitorObject *xMonitorObject `xml:"monitorObject"`
	MonitorType   string          `xml:"monitorType,omitempty"`
}

type xMonitorObject struct {
	DeviceObject *string `xml:"deviceObject"`
}

type xMonitorStartResponse struct {
	XMLName    xml.Name `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 MonitorStartResponse"`
	CrossRefID string   `xml:"monitorCrossRefID"`
}

type xMonitorStop struct {
	XMLName    xml.Name `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 MonitorStop"`
	CrossRefID string   `xml:"monitorCrossRefID"`
}

type xMonitorStopResponse struct {
	XMLName xml.Name `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 MonitorStopResponse"`
}

type xSystemStatus struct {
	XMLName xml.Name `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 SystemStatus"`
	Status  string   `xml:"systemStatus"`
}

type xSystemStatusResponse struct {
	XMLName xml.Name `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 SystemStatusResponse"`
}

// xErrorCode is ECMA-323 CSTAErrorCode: exactly one child, named after the category, whose
// text is the error value. The categories are fields with plain tags so that Marshal writes
// them in the root's default namespace; Other catches anything else for the error message.
type xErrorCode struct {
	XMLName                        xml.Name    `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 CSTAErrorCode"`
	Operation                      *string     `xml:"operation"`
	Security                       *string     `xml:"security"`
	StateIncompatibility           *string     `xml:"stateIncompatibility"`
	SystemResourceAvailability     *string     `xml:"systemResourceAvailability"`
	SubscribedResourceAvailability *string     `xml:"subscribedResourceAvailability"`
	PerformanceManagement          *string     `xml:"performanceManagement"`
	Unspecified                    *string     `xml:"unspecified"`
	Other                          []xAnyValue `xml:",any"`
}

type xAnyValue struct {
	XMLName xml.Name
}

// slots pairs each category name with its field, in errorCategories order.
func (w *xErrorCode) slots() []**string {
	return []**string{&w.Operation, &w.Security, &w.StateIncompatibility, &w.SystemResourceAvailability,
		&w.SubscribedResourceAvailability, &w.PerformanceManagement, &w.Unspecified}
}

type xServiceInitiated struct {
	XMLName         xml.Name     `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 ServiceInitiatedEvent"`
	CrossRefID      string       `xml:"monitorCrossRefID"`
	Connection      *xConnection `xml:"initiatedConnection"`
	Initiating      *xSubject    `xml:"initiatingDevice"`
	LocalConnection string       `xml:"localConnectionInfo,omitempty"`
	Cause           string       `xml:"cause"`
}

type xOriginated struct {
	XMLName         xml.Name     `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 OriginatedEvent"`
	CrossRefID      string       `xml:"monitorCrossRefID"`
	Connection      *xConnection `xml:"originatedConnection"`
	Calling         *xSubject    `xml:"callingDevice"`
	Called          *xSubject    `xml:"calledDevice"`
	LocalConnection string       `xml:"localConnectionInfo,omitempty"`
	Cause           string       `xml:"cause"`
}

type xDelivered struct {
	XMLName         xml.Name      `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 DeliveredEvent"`
	CrossRefID      string        `xml:"monitorCrossRefID"`
	Connection      *xConnection  `xml:"connection"`
	Alerting        *xSubject     `xml:"alertingDevice"`
	Calling         *xSubject     `xml:"callingDevice"`
	Called          *xSubject     `xml:"calledDevice"`
	LastRedirection *xRedirection `xml:"lastRedirectionDevice"`
	LocalConnection string        `xml:"localConnectionInfo,omitempty"`
	Cause           string        `xml:"cause"`
}

type xEstablished struct {
	XMLName         xml.Name      `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 EstablishedEvent"`
	CrossRefID      string        `xml:"monitorCrossRefID"`
	Connection      *xConnection  `xml:"establishedConnection"`
	Answering       *xSubject     `xml:"answeringDevice"`
	Calling         *xSubject     `xml:"callingDevice"`
	Called          *xSubject     `xml:"calledDevice"`
	LastRedirection *xRedirection `xml:"lastRedirectionDevice"`
	LocalConnection string        `xml:"localConnectionInfo,omitempty"`
	Cause           string        `xml:"cause"`
	Extensions      *xExtensions  `xml:"extensions"`
}

type xConnectionCleared struct {
	XMLName         xml.Name     `xml:"http://www.ecma-international.org/standards/ecma-323/csta/ed4 ConnectionClearedEvent"`
	CrossRefID      string       `xml:"monitorCrossRefID"`
	Connection      *xConnection `xml:"droppedConnection"`
	Releasing       *xSubject    `xml:"releasingDevice"`
	LocalConnection string       `xml:"localConnectionInfo,omitempty"`
	Cause           string       `xml:"cause"`
}

// xServiceEvent is BackInServiceEvent and OutOfServiceEvent; XMLName is set per kind.
type xServiceEvent struct {
	XMLName    xml.Name
	CrossRefID string       `xml:"monitorCrossRefID"`
	Device     *xSubject    `xml:"device"`
	Extensions *xExtensions `xml:"extensions"`
}

type xExtensions struct {
	PrivateData *xPrivateData `xml:"privateData"`
}

type xPrivateData struct {
	Private *xPrivate `xml:"private"`
}

// xPrivate holds reclab's element in PrivateNamespace. Marshal writes it as
// <deviceInfo xmlns="urn:reclab:csta-private:1"><ip>…</ip>…</deviceInfo>, so ip,
// recordingPort and model are in reclab's namespace too. Unmarshal also takes the prefixed
// form <reclab:deviceInfo xmlns:reclab="urn:reclab:csta-private:1"><ip>…; other elements
// in <private> (another vendor's) are ignored.
type xPrivate struct {
	DeviceInfo *xDeviceInfo `xml:"urn:reclab:csta-private:1 deviceInfo"`
	SRTP       *xSRTP       `xml:"urn:reclab:csta-private:1 srtp"`
}

// xSRTP is EstablishedEvent's SRTP streams (MediaKey), as
// <srtp xmlns="urn:reclab:csta-private:1"><stream><deviceID>1001</deviceID>
// <ssrc>305419896</ssrc><suite>AES_CM_128_HMAC_SHA1_80</suite><key>base64</key>
// <salt>base64</salt></stream>…</srtp> (docs/wire.md "SRTP").
type xSRTP struct {
	Streams []xSRTPStream `xml:"stream"`
}

type xSRTPStream struct {
	Device string `xml:"deviceID"`
	SSRC   string `xml:"ssrc,omitempty"`
	Suite  string `xml:"suite"`
	Key    string `xml:"key"`
	Salt   string `xml:"salt"`
}

type xDeviceInfo struct {
	IP            string `xml:"ip"`
	RecordingPort string `xml:"recordingPort"`
	Model         string `xml:"model"`
}

var xmlHeader = []byte(`<?xml version="1.0" encoding="UTF-8"?>`)

// Encode renders m as an ECMA-323 ed4 document with an XML declaration and Namespace as the
// default namespace of the root, on one line. m may be a value or a pointer. A message that
// Decode would refuse is refused here too, with the same error words.
func Encode(m Message) ([]byte, error) {
	m = deref(m)
	if m == nil {
		return nil, fmt.Errorf("csta: cannot encode a nil message: %w", ErrInvalidMessage)
	}
	if err := validate(m); err != nil {
		return nil, err
	}
	var body []byte
	var err error
	if w, ns, ok := sessionWire(m); ok { // session.go
		body, err = encodeSession(w, ns)
	} else {
		body, err = xml.Marshal(toWire(m))
	}
	if err != nil {
		return nil, fmt.Errorf("csta: marshal %s: %w", m.Kind(), err)
	}
	return append(append(make([]byte, 0, len(xmlHeader)+len(body)), xmlHeader...), body...), nil
}

// deref turns a pointer to a Message value into the value, so Encode and Summary take both.
func deref(m Message) Message {
	if m == nil {
		return nil
	}
	v := reflect.ValueOf(m)
	if v.Kind() != reflect.Pointer {
		return m
	}
	if v.IsNil() {
		return nil
	}
	if inner, ok := v.Elem().Interface().(Message); ok {
		return inner
	}
	return m
}

func subject(v string) *xSubject {
	if v == "" {
		return &xSubject{NotKnown: &struct{}{}}
	}
	return &xSubject{DeviceIdentifier: &v}
}

func notRequired() *xRedirection { return &xRedirection{NotRequired: &struct{}{}} }

func toWire(m Message) any {
	switch m := m.(type) {
	case MonitorStart:
		return xMonitorStart{MonitorObject: &xMonitorObject{DeviceObject: &m.Device}, MonitorType: "device"}
	case MonitorStartResponse:
		return xMonitorStartResponse{CrossRefID: m.CrossRefID}
	case MonitorStop:
		return xMonitorStop{CrossRefID: m.CrossRefID}
	case MonitorStopResponse:
		return xMonitorStopResponse{}
	case SystemStatus:
		return xSystemStatus{Status: m.Status}
	case SystemStatusResponse:
		return xSystemStatusResponse{}
	case ErrorResponse:
		var w xErrorCode
		v := m.Value
		*w.slots()[slices.Index(errorCategories, m.Category)] = &v // validate checked the category
		return w
	case ServiceInitiatedEvent:
		return xServiceInitiated{
			CrossRefID: m.CrossRefID, Connection: &xConnection{m.CallID, m.Device},
			Initiating: subject(m.Initiating), LocalConnection: string(m.LocalConnection), Cause: m.Cause,
		}
	case OriginatedEvent:
		return xOriginated{
			CrossRefID: m.CrossRefID, Connection: &xConnection{m.CallID, m.Device},
			Calling: subject(m.Calling), Called: subject(m.Called),
			LocalConnection: string(m.LocalConnection), Cause: m.Cause,
		}
	case DeliveredEvent:
		return xDelivered{
			CrossRefID: m.CrossRefID, Connection: &xConnection{m.CallID, m.Device},
			Alerting: subject(m.Alerting), Calling: subject(m.Calling), Called: subject(m.Called),
			LastRedirection: notRequired(), LocalConnection: string(m.LocalConnection), Cause: m.Cause,
		}
	case EstablishedEvent:
		return xEstablished{
			CrossRefID: m.CrossRefID, Connection: &xConnection{m.CallID, m.Device},
			Answering: subject(m.Answering), Calling: subject(m.Calling), Called: subject(m.Called),
			LastRedirection: notRequired(), LocalConnection: string(m.LocalConnection), Cause: m.Cause,
			Extensions: mediaKeysWire(m.Media),
		}
	case ConnectionClearedEvent:
		return xConnectionCleared{
			CrossRefID: m.CrossRefID, Connection: &xConnection{m.CallID, m.Device},
			Releasing: subject(m.Releasing), LocalConnection: string(m.LocalConnection), Cause: m.Cause,
		}
	case BackInServiceEvent:
		return serviceEventWire(m.Kind(), m.CrossRefID, m.Device, m.Info)
	case OutOfServiceEvent:
		return serviceEventWire(m.Kind(), m.CrossRefID, m.Device, m.Info)
	}
	panic("csta: toWire called with an unvalidated message " + m.Kind()) // validate refuses these first
}

func serviceEventWire(kind, ref, device string, info *DeviceInfo) xServiceEvent {
	w := xServiceEvent{XMLName: xml.Name{Space: Namespace, Local: kind}, CrossRefID: ref, Device: subject(device)}
	if info != nil {
		w.Extensions = &xExtensions{PrivateData: &xPrivateData{Private: &xPrivate{DeviceInfo: &xDeviceInfo{
			IP:            info.IP.String(),
			RecordingPort: strconv.Itoa(info.RecordingPort),
			Model:         info.Model,
		}}}}
	}
	return w
}

// mediaKeysWire is the private data of an EstablishedEvent's SRTP streams,
// nil for none.
func mediaKeysWire(keys []MediaKey) *xExtensions {
	if len(keys) == 0 {
		return nil
	}
	w := &xSRTP{}
	for _, k := range keys {
		st := xSRTPStream{Device: k.Device, Suite: k.Suite,
			Key: base64.StdEncoding.EncodeToString(k.Key), Salt: base64.StdEncoding.EncodeToString(k.Salt)}
		if k.SSRC != 0 {
			st.SSRC = strconv.FormatUint(uint64(k.SSRC), 10)
		}
		w.Streams = append(w.Streams, st)
	}
	return &xExtensions{PrivateData: &xPrivateData{Private: &xPrivate{SRTP: w}}}
}

// mediaKeys reads an EstablishedEvent's SRTP streams; nil when there are none.
func mediaKeys(kind string, ext *xExtensions) ([]MediaKey, error) {
	if ext == nil || ext.PrivateData == nil || ext.PrivateData.Private == nil || ext.PrivateData.Private.SRTP == nil {
		return nil, nil
	}
	const at = "extensions/privateData/private/srtp/stream"
	var out []MediaKey
	for i, w := range ext.PrivateData.Private.SRTP.Streams {
		k := MediaKey{Device: text(w.Device), Suite: text(w.Suite)}
		where := fmt.Sprintf("%s %s[%d]", kind, at, i+1)
		if k.Device == "" || k.Suite == "" {
			return nil, fmt.Errorf("csta: %s: deviceID and suite are required: %w", where, ErrInvalidMessage)
		}
		if v := text(w.SSRC); v != "" {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("csta: %s/ssrc %q: want 0-4294967295: %w", where, v, ErrInvalidMessage)
			}
			k.SSRC = uint32(n)
		}
		var err error
		if k.Key, err = base64.StdEncoding.DecodeString(text(w.Key)); err != nil || len(k.Key) == 0 {
			return nil, fmt.Errorf("csta: %s/key %q: want base64: %w", where, text(w.Key), ErrInvalidMessage)
		}
		if k.Salt, err = base64.StdEncoding.DecodeString(text(w.Salt)); err != nil || len(k.Salt) == 0 {
			return nil, fmt.Errorf("csta: %s/salt %q: want base64: %w", where, text(w.Salt), ErrInvalidMessage)
		}
		out = append(out, k)
	}
	return out, nil
}

// Decode parses one ECMA-323 document (the XML of one frame) into a Message value. The root
// element must be in Namespace. Errors start with "csta: ", name the element and value at
// fault, and wrap ErrInvalidMessage or, for a root element this package does not model,
// ErrUnsupported; both leave the connection usable.
func Decode(doc []byte) (Message, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.CharsetReader = charsetReader
	start, err := rootElement(d)
	if err != nil {
		return nil, err
	}
	name := start.Name.Local
	decodeRoot, known := decoders[name]
	want := Namespace
	if sd, ok := sessionDecoders[name]; ok { // session.go
		decodeRoot, known = sd, true
		if isECMA354(name) {
			want = SessionNamespace
		}
	}
	// Real peers write the root in an older edition's namespace, or in
	// none: the names and their order are the same, so they are read as
	// ed4 (issue 13). Any other namespace is someone else's vocabulary.
	switch sp := start.Name.Space; {
	case sp == want, sp == "", want == Namespace && strings.HasPrefix(sp, ecma323Prefix):
		start.Name.Space = ""
		if want == Namespace {
			start.Name.Space = Namespace
		}
	default:
		return nil, fmt.Errorf("csta: <%s> is in namespace %q, want %q: %w", name, sp, want, ErrInvalidMessage)
	}
	if !known {
		return nil, fmt.Errorf("csta: <%s> is not a message this lab speaks: %w", name, ErrUnsupported)
	}
	m, err := decodeRoot(d, start)
	if err != nil {
		return nil, err
	}
	if err := trailer(d, name); err != nil {
		return nil, err
	}
	if err := validate(m); err != nil {
		return nil, err
	}
	return m, nil
}

// rootElement skips the prolog (declaration, comments, whitespace) up to the root element.
func rootElement(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return xml.StartElement{}, fmt.Errorf("csta: document has no root element: %w", ErrInvalidMessage)
		}
		if err != nil {
			return xml.StartElement{}, syntaxError("", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, fmt.Errorf("csta: text %q before the root element: %w", clip(strings.TrimSpace(string(t))), ErrInvalidMessage)
			}
		case xml.Directive:
			// A DOCTYPE could declare entities; ECMA-323 messages never carry one.
			return xml.StartElement{}, fmt.Errorf("csta: directive <!%s> is not allowed: %w", clip(strings.TrimSpace(string(t))), ErrInvalidMessage)
		case xml.ProcInst, xml.Comment:
		}
	}
}

// trailer checks that nothing but whitespace, comments and processing instructions follow
// the root element.
func trailer(d *xml.Decoder, root string) error {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return syntaxError(root, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return fmt.Errorf("csta: text %q after </%s>: %w", clip(strings.TrimSpace(string(t))), root, ErrInvalidMessage)
			}
		case xml.ProcInst, xml.Comment:
		case xml.StartElement:
			return fmt.Errorf("csta: second root element <%s> after </%s>: %w", t.Name.Local, root, ErrInvalidMessage)
		default:
			return fmt.Errorf("csta: unexpected %T after </%s>: %w", tok, root, ErrInvalidMessage)
		}
	}
}

func syntaxError(root string, err error) error {
	if ee := (*EncodingError)(nil); errors.As(err, &ee) {
		return fmt.Errorf("%w: %w", ee, ErrInvalidMessage)
	}
	where := "XML"
	if root != "" {
		where = "<" + root + ">"
	}
	return fmt.Errorf("csta: %s is not well formed: %w: %w", where, err, ErrInvalidMessage)
}

func clip(s string) string {
	const n = 40
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

type rootDecoder func(d *xml.Decoder, start xml.StartElement) (Message, error)

var decoders = map[string]rootDecoder{
	"MonitorStart":           decodeMonitorStart,
	"MonitorStartResponse":   decodeMonitorStartResponse,
	"MonitorStop":            decodeMonitorStop,
	"MonitorStopResponse":    decodeEmpty(MonitorStopResponse{}),
	"SystemStatus":           decodeSystemStatus,
	"SystemStatusResponse":   decodeEmpty(SystemStatusResponse{}),
	"CSTAErrorCode":          decodeErrorCode,
	"ServiceInitiatedEvent":  decodeServiceInitiated,
	"OriginatedEvent":        decodeOriginated,
	"DeliveredEvent":         decodeDelivered,
	"EstablishedEvent":       decodeEstablished,
	"ConnectionClearedEvent": decodeConnectionCleared,
	"BackInServiceEvent":     decodeServiceEvent,
	"OutOfServiceEvent":      decodeServiceEvent,
}

func element(d *xml.Decoder, start xml.StartElement, v any) error {
	if err := d.DecodeElement(v, &start); err != nil {
		return syntaxError(start.Name.Local, err)
	}
	return nil
}

func text(s string) string { return strings.TrimSpace(s) }

func decodeMonitorStart(d *xml.Decoder, start xml.StartElement) (Message, error) {
	var w xMonitorStart
	if err := element(d, start, &w); err != nil {
		return nil, err
	}
	if mt := text(w.MonitorType); mt != "" && mt != "device" {
		return nil, fmt.Errorf("csta: MonitorStart monitorType %q: only device monitors exist in the lab: %w", mt, ErrUnsupported)
	}
	if w.MonitorObject == nil || w.MonitorObject.DeviceObject == nil {
		return nil, fmt.Errorf("csta: MonitorStart monitorObject/deviceObject is missing: %w", ErrInvalidMessage)
	}
	return MonitorStart{Device: text(*w.MonitorObject.DeviceObject)}, nil
}

func decodeMonitorStartResponse(d *xml.Decoder, start xml.StartElement) (Message, error) {
	var w xMonitorStartResponse
	if err := element(d, start, &w); err != nil {
		return nil, err
	}
	return MonitorStartResponse{CrossRefID: text(w.CrossRefID)}, nil
}

func decodeMonitorStop(d *xml.Decoder, start xml.StartElement) (Message, error) {
	var w xMonitorStop
	if err := element(d, start, &w); err != nil {
		return nil, err
	}
	return MonitorStop{CrossRefID: text(w.CrossRefID)}, nil
}

func decodeEmpty(m Message) rootDecoder {
	return func(d *xml.Decoder, start xml.StartElement) (Message, error) {
		var skip struct{}
		if err := element(d, start, &skip); err != nil {
			return nil, err
		}
		return m, nil
	}
}

func decodeSystemStatus(d *xml.Decoder, start xml.StartElement) (Message, error) {
	var w xSystemStatus
	if err := element(d, start, &w); err != nil {
		return nil, err
	}
	return SystemStatus{Status: text(w.Status)}, nil
}

func decodeErrorCode(d *xml.Decoder, start xml.StartElement) (Message, error) {
	var w xErrorCode
	if err := element(d, start, &w); err != nil {
		return nil, err
	}
	var names []string
	var e ErrorResponse
	for i, slot := range w.slots() {
		if *slot != nil {
			names = append(names, errorCategories[i])
			e = ErrorResponse{Category: errorCategories[i], Value: text(**slot)}
		}
	}
	for _, o := range w.Other {
		names = append(names, o.XMLName.Local)
	}
	switch {
	case len(names) == 0:
		return nil, fmt.Errorf("csta: CSTAErrorCode has no category element: %w", ErrInvalidMessage)
	case len(names) > 1:
		return nil, fmt.Errorf("csta: CSTAErrorCode has %d child elements %v, want exactly one category: %w", len(names), names, ErrInvalidMessage)
	case len(w.Other) == 1:
		return nil, fmt.Errorf("csta: CSTAErrorCode category element %q: want one of %v: %w", names[0], errorCategories, ErrInvalidMessage)
	}
	return e, nil
}

// connection reads a ConnectionID; a missing element leaves both fields empty, which
// validate then reports by path.
func connection(c *xConnection) (callID, device string) {
	if c == nil {
		return "", ""
	}
	return text(c.CallID), text(c.DeviceID)
}

// device reads a SubjectDeviceID: the identifier, or "" for notKnown and its kin.
func device(kind, path string, s *xSubject) (string, error) {
	switch {
	case s == nil:
		return "", fmt.Errorf("csta: %s %s is missing: %w", kind, path, ErrInvalidMessage)
	case s.DeviceIdentifier != nil:
		v := text(*s.DeviceIdentifier)
		if v == "" {
			return "", fmt.Errorf("csta: %s %s/deviceIdentifier is empty: %w", kind, path, ErrInvalidMessage)
		}
		return v, nil
	case s.NotKnown != nil, s.Restricted != nil, s.NotRequired != nil, s.NotSpecified != nil:
		return "", nil
	}
	return "", fmt.Errorf("csta: %s %s has neither deviceIdentifier nor notKnown: %w", kind, path, ErrInvalidMessage)
}

// devices reads several SubjectDeviceIDs, stopping at the first fault.
func devices(kind string, paths []string, subjects []*xSubject, out []*string) error {
	for i := range paths {
		v, err := device(kind, paths[i], subjects[i])
		if err != nil {
			return err
		}
		*out[i] = v
	}
	return nil
}

func decodeServiceInitiated(d *xml.Decoder, start xml.StartElement) (Message, error) {
	var w xServiceInitiated
	if err := element(d, start, &w); err != nil {
		return nil, err
	}
	var e ServiceInitiatedEvent
	e.CrossRefID, e.LocalConnection, e.Cause = text(w.CrossRefID), ConnectionState(text(w.LocalConnection)), text(w.Cause)
	e.CallID, e.Device = connection(w.Connection)
	err := devices(e.Kind(), []string{"initiatingDevice"}, []*xSubject{w.Initiating}, []*string{&e.Initiating})
	return e, err
}

func decodeOriginated(d *xml.Decoder, start xml.StartElement) (Message, error) {
	var w xOriginated
	if err := element(d, start, &w); err != nil {
		return nil, err
	}
	var e OriginatedEvent
	e.CrossRefID, e.LocalConnection, e.Cause = text(w.CrossRefID), ConnectionState(text(w.LocalConnection)), text(w.Cause)
	e.CallID, e.Device = connection(w.Connection)
	err := devices(e.Kind(), []string{"callingDevice", "calledDevice"},
		[]*xSubject{w.Calling, w.Called}, []*string{&e.Calling, &e.Called})
	return e, err
}

func decodeDelivered(d *xml.Decoder, start xml.StartElement) (Message, error) {
	var w xDelivered
	if err := element(d, start, &w); err != nil {
		return nil, err
	}
	var e DeliveredEvent
	e.CrossRefID, e.LocalConnection, e.Cause = text(w.CrossRefID), ConnectionState(text(w.LocalConnection)), text(w.Cause)
	e.CallID, e.Device = connection(w.Connection)
	err := devices(e.Kind(), []string{"alertingDevice", "callingDevice", "calledDevice"},
		[]*xSubject{w.Alerting, w.Calling, w.Called}, []*string{&e.Alerting, &e.Calling, &e.Called})
	return e, err
}

func decodeEstablished(d *xml.Decoder, start xml.StartElement) (Message, error) {
	var w xEstablished
	if err := element(d, start, &w); err != nil {
		return nil, err
	}
	var e EstablishedEvent
	e.CrossRefID, e.LocalConnection, e.Cause = text(w.CrossRefID), ConnectionState(text(w.LocalConnection)), text(w.Cause)
	e.CallID, e.Device = connection(w.Connection)
	err := devices(e.Kind(), []string{"answeringDevice", "callingDevice", "calledDevice"},
		[]*xSubject{w.Answering, w.Calling, w.Called}, []*string{&e.Answering, &e.Calling, &e.Called})
	if err == nil {
		e.Media, err = mediaKeys(e.Kind(), w.Extensions)
	}
	return e, err
}

func decodeConnectionCleared(d *xml.Decoder, start xml.StartElement) (Message, error) {
	var w xConnectionCleared
	if err := element(d, start, &w); err != nil {
		return nil, err
	}
	var e ConnectionClearedEvent
	e.CrossRefID, e.LocalConnection, e.Cause = text(w.CrossRefID), ConnectionState(text(w.LocalConnection)), text(w.Cause)
	e.CallID, e.Device = connection(w.Connection)
	err := devices(e.Kind(), []string{"releasingDevice"}, []*xSubject{w.Releasing}, []*string{&e.Releasing})
	return e, err
}

func decodeServiceEvent(d *xml.Decoder, start xml.StartElement) (Message, error) {
	var w xServiceEvent
	if err := element(d, start, &w); err != nil {
		return nil, err
	}
	kind := start.Name.Local
	dev, err := device(kind, "device", w.Device)
	if err != nil {
		return nil, err
	}
	info, err := deviceInfo(kind, w.Extensions)
	if err != nil {
		return nil, err
	}
	ref := text(w.CrossRefID)
	if kind == "OutOfServiceEvent" {
		return OutOfServiceEvent{CrossRefID: ref, Device: dev, Info: info}, nil
	}
	return BackInServiceEvent{CrossRefID: ref, Device: dev, Info: info}, nil
}

// deviceInfo reads reclab's private element; nil when the sender put none there.
func deviceInfo(kind string, ext *xExtensions) (*DeviceInfo, error) {
	if ext == nil || ext.PrivateData == nil || ext.PrivateData.Private == nil || ext.PrivateData.Private.DeviceInfo == nil {
		return nil, nil
	}
	const at = "extensions/privateData/private/deviceInfo/"
	w := ext.PrivateData.Private.DeviceInfo
	var info DeviceInfo
	ipText := text(w.IP)
	if ipText == "" {
		return nil, fmt.Errorf("csta: %s %sip is missing: %w", kind, at, ErrInvalidMessage)
	}
	ip, err := netip.ParseAddr(ipText)
	if err != nil {
		return nil, fmt.Errorf("csta: %s %sip %q: not an IP address: %w", kind, at, ipText, ErrInvalidMessage)
	}
	info.IP = ip
	portText := text(w.RecordingPort)
	if portText == "" {
		return nil, fmt.Errorf("csta: %s %srecordingPort is missing: %w", kind, at, ErrInvalidMessage)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("csta: %s %srecordingPort %q: want 1–65535: %w", kind, at, portText, ErrInvalidMessage)
	}
	info.RecordingPort = int(port)
	info.Model = text(w.Model)
	return &info, nil
}
