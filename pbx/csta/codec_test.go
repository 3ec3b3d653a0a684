package csta

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const call42 = "000000000000000000000042"

var phoneInfo = &DeviceInfo{IP: netip.MustParseAddr("127.20.1.1"), RecordingPort: 7300, Model: "7434"}

// examples holds one message of every type, as the PBX and recorder send them.
var examples = []Message{
	MonitorStart{Device: "1001"},
	MonitorStartResponse{CrossRefID: "17"},
	MonitorStop{CrossRefID: "17"},
	MonitorStopResponse{},
	SystemStatus{Status: StatusNormal},
	SystemStatusResponse{},
	ErrorResponse{Category: CategoryOperation, Value: OperationInvalidDeviceID},
	ServiceInitiatedEvent{CrossRefID: "17", CallID: call42, Device: "1001", Initiating: "1001",
		LocalConnection: StateInitiated, Cause: CauseNewCall},
	OriginatedEvent{CrossRefID: "17", CallID: call42, Device: "1001", Calling: "1001", Called: "1002",
		LocalConnection: StateConnected, Cause: CauseNewCall},
	DeliveredEvent{CrossRefID: "18", CallID: call42, Device: "1002", Alerting: "1002", Calling: "1001", Called: "1002",
		LocalConnection: StateAlerting, Cause: CauseNewCall},
	EstablishedEvent{CrossRefID: "18", CallID: call42, Device: "1002", Answering: "1002", Calling: "1001", Called: "1002",
		LocalConnection: StateConnected, Cause: CauseNewCall},
	ConnectionClearedEvent{CrossRefID: "18", CallID: call42, Device: "1002", Releasing: "1002",
		LocalConnection: StateNull, Cause: CauseNormalClearing},
	BackInServiceEvent{CrossRefID: "17", Device: "1001", Info: phoneInfo},
	OutOfServiceEvent{CrossRefID: "17", Device: "1001", Info: phoneInfo},
}

func TestRoundTripEveryType(t *testing.T) {
	extra := []Message{
		// notKnown devices, omitted localConnectionInfo, no private data, IPv6.
		DeliveredEvent{CrossRefID: "1", CallID: FormatCallID(1), Device: "1002", Cause: CauseNewCall},
		BackInServiceEvent{CrossRefID: "1", Device: "1001"},
		OutOfServiceEvent{CrossRefID: "1", Device: "1001",
			Info: &DeviceInfo{IP: netip.MustParseAddr("fd00::1"), RecordingPort: 5070, Model: "6867i"}},
		ErrorResponse{Category: CategorySystemResourceAvailability, Value: ResourceServiceBusy},
		MonitorStart{Device: "N<302118840100>&x"}, // characters XML must escape
	}
	for _, m := range append(append([]Message{}, examples...), extra...) {
		t.Run(m.Kind(), func(t *testing.T) {
			doc, err := Encode(m)
			if err != nil {
				t.Fatalf("Encode(%v): %v", m, err)
			}
			got, err := Decode(doc)
			if err != nil {
				t.Fatalf("Decode(%s): %v", doc, err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip\n got %#v\nwant %#v\n xml %s", got, m, doc)
			}
			// A pointer encodes the same.
			ptr := reflect.New(reflect.TypeOf(m))
			ptr.Elem().Set(reflect.ValueOf(m))
			doc2, err := Encode(ptr.Interface().(Message))
			if err != nil || !bytes.Equal(doc, doc2) {
				t.Fatalf("Encode(&m) = %s, %v; want %s", doc2, err, doc)
			}
		})
	}
}

// TestEncodeGolden pins the exact XML of every example under testdata/golden/.
func TestEncodeGolden(t *testing.T) {
	for _, m := range examples {
		doc, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(doc, []byte(`<?xml version="1.0" encoding="UTF-8"?><`+m.Kind()+` xmlns="`+Namespace+`">`)) {
			t.Errorf("%s: want a declaration and the ed4 default namespace on the root, got %s", m.Kind(), doc)
		}
		checkGolden(t, filepath.Join("testdata", "golden", m.Kind()+".xml"), append(doc, '\n'))
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n got %s\nwant %s", path, got, want)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want string // substring of the error
		is   error
	}{
		{"nil", nil, "nil message", ErrInvalidMessage},
		{"nil pointer", (*MonitorStart)(nil), "nil message", ErrInvalidMessage},
		{"empty device", MonitorStart{}, "MonitorStart monitorObject/deviceObject is missing", ErrInvalidMessage},
		{"device with space", MonitorStart{Device: "10 01"}, `MonitorStart monitorObject/deviceObject "10 01": contains whitespace`, ErrInvalidMessage},
		{"device with control", MonitorStart{Device: "10\x0101"}, "non-printable", ErrInvalidMessage},
		{"device bad utf8", MonitorStart{Device: "10\xff"}, "UTF-8", ErrInvalidMessage},
		{"device too long", MonitorStart{Device: strings.Repeat("1", MaxToken+1)}, "longer than 64", ErrInvalidMessage},
		{"no crossref", MonitorStartResponse{}, "monitorCrossRefID is missing", ErrInvalidMessage},
		{"bad status", SystemStatus{Status: "fine"}, `systemStatus "fine": want one of`, ErrInvalidMessage},
		{"no status", SystemStatus{}, "systemStatus is missing", ErrInvalidMessage},
		{"bad category", ErrorResponse{Category: "oops", Value: "x"}, `category element "oops"`, ErrInvalidMessage},
		{"no error value", ErrorResponse{Category: CategoryOperation}, "CSTAErrorCode operation is missing", ErrInvalidMessage},
		{"short callID", EstablishedEvent{CrossRefID: "1", CallID: "42", Device: "1002", Cause: "newCall"},
			`EstablishedEvent establishedConnection/callID "42": want 24 decimal digits`, ErrInvalidMessage},
		{"hex callID", DeliveredEvent{CrossRefID: "1", CallID: "FF000100000000002D65C85C", Device: "1", Cause: "newCall"},
			`connection/callID "FF000100000000002D65C85C"`, ErrInvalidMessage},
		{"no connection device", OriginatedEvent{CrossRefID: "1", CallID: call42, Cause: "newCall"},
			"originatedConnection/deviceID is missing", ErrInvalidMessage},
		{"no cause", ConnectionClearedEvent{CrossRefID: "1", CallID: call42, Device: "1"},
			"ConnectionClearedEvent cause is missing", ErrInvalidMessage},
		{"bad state", ServiceInitiatedEvent{CrossRefID: "1", CallID: call42, Device: "1", Cause: "x", LocalConnection: "ringing"},
			`localConnectionInfo "ringing"`, ErrInvalidMessage},
		{"bad calling", OriginatedEvent{CrossRefID: "1", CallID: call42, Device: "1", Calling: "a b", Cause: "x"},
			`callingDevice "a b"`, ErrInvalidMessage},
		{"no ip", BackInServiceEvent{CrossRefID: "1", Device: "1001", Info: &DeviceInfo{RecordingPort: 7300, Model: "7434"}},
			"deviceInfo/ip is missing", ErrInvalidMessage},
		{"zone", BackInServiceEvent{CrossRefID: "1", Device: "1001", Info: &DeviceInfo{IP: netip.MustParseAddr("fe80::1%eth0"), RecordingPort: 7300, Model: "7434"}},
			"zone", ErrInvalidMessage},
		{"port 0", OutOfServiceEvent{CrossRefID: "1", Device: "1001", Info: &DeviceInfo{IP: phoneInfo.IP, Model: "7434"}},
			`deviceInfo/recordingPort "0": want 1–65535`, ErrInvalidMessage},
		{"port 70000", OutOfServiceEvent{CrossRefID: "1", Device: "1001", Info: &DeviceInfo{IP: phoneInfo.IP, RecordingPort: 70000, Model: "7434"}},
			`recordingPort "70000"`, ErrInvalidMessage},
		{"no model", BackInServiceEvent{CrossRefID: "1", Device: "1001", Info: &DeviceInfo{IP: phoneInfo.IP, RecordingPort: 7300}},
			"deviceInfo/model is missing", ErrInvalidMessage},
		{"no device", BackInServiceEvent{CrossRefID: "1"}, "BackInServiceEvent device is missing", ErrInvalidMessage},
		{"foreign type", foreign{}, "cannot encode csta.foreign (MakeCall)", ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Encode(tt.m)
			if err == nil {
				t.Fatalf("Encode(%#v) succeeded", tt.m)
			}
			if !strings.HasPrefix(err.Error(), "csta: ") || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.is) {
				t.Fatalf("Encode error %q: want prefix \"csta: \", %q and %v", err, tt.want, tt.is)
			}
		})
	}
}

type foreign struct{}

func (foreign) Kind() string { return "MakeCall" }

func TestDecodeRefusesInvalid(t *testing.T) {
	const ns = `xmlns="` + Namespace + `"`
	conn := `<establishedConnection><callID>` + call42 + `</callID><deviceID>1002</deviceID></establishedConnection>`
	tests := []struct {
		name, doc, want string
		is              error
	}{
		{"empty", ``, "no root element", ErrInvalidMessage},
		{"not xml", `hello`, `text "hello" before the root`, ErrInvalidMessage},
		{"unclosed", `<MonitorStart ` + ns + `><monitorObject>`, "<MonitorStart> is not well formed", ErrInvalidMessage},
		{"foreign namespace", `<MonitorStart xmlns="urn:other"><monitorObject><deviceObject>1001</deviceObject></monitorObject></MonitorStart>`, `<MonitorStart> is in namespace "urn:other"`, ErrInvalidMessage},
		{"ECMA-354 namespace on an ECMA-323 root", `<SystemStatus xmlns="http://www.ecma-international.org/standards/ecma-354/appl_session"><systemStatus>normal</systemStatus></SystemStatus>`, `is in namespace "http://www.ecma-international.org/standards/ecma-354/appl_session"`, ErrInvalidMessage},
		{"unknown root", `<MakeCall ` + ns + `><callingDevice>1001</callingDevice></MakeCall>`, "<MakeCall> is not a message this lab speaks", ErrUnsupported},
		{"call monitor", `<MonitorStart ` + ns + `><monitorObject><deviceObject>1001</deviceObject></monitorObject><monitorType>call</monitorType></MonitorStart>`, `monitorType "call"`, ErrUnsupported},
		{"call object", `<MonitorStart ` + ns + `><monitorObject><callObject><callID>1</callID></callObject></monitorObject></MonitorStart>`, "monitorObject/deviceObject is missing", ErrInvalidMessage},
		{"doctype", `<!DOCTYPE x [<!ENTITY a "b">]><SystemStatus ` + ns + `/>`, "directive", ErrInvalidMessage},
		{"trailing text", `<SystemStatusResponse ` + ns + `/>junk`, `text "junk" after </SystemStatusResponse>`, ErrInvalidMessage},
		{"two roots", `<SystemStatusResponse ` + ns + `/><SystemStatusResponse ` + ns + `/>`, "second root element", ErrInvalidMessage},
		{"two error children", `<CSTAErrorCode ` + ns + `><operation>generic</operation><security>generic</security></CSTAErrorCode>`, "has 2 child elements [operation security]", ErrInvalidMessage},
		{"legacy calling form", `<EstablishedEvent ` + ns + `><monitorCrossRefID>1</monitorCrossRefID>` + conn + `<answeringDevice><deviceIdentifier>1002</deviceIdentifier></answeringDevice><callingDevice>1001</callingDevice><calledDevice><deviceIdentifier>1002</deviceIdentifier></calledDevice><cause>newCall</cause></EstablishedEvent>`, "EstablishedEvent callingDevice has neither deviceIdentifier nor notKnown", ErrInvalidMessage},
		{"missing called", `<EstablishedEvent ` + ns + `><monitorCrossRefID>1</monitorCrossRefID>` + conn + `<answeringDevice><notKnown/></answeringDevice><callingDevice><notKnown/></callingDevice><cause>newCall</cause></EstablishedEvent>`, "EstablishedEvent calledDevice is missing", ErrInvalidMessage},
		{"empty identifier", `<BackInServiceEvent ` + ns + `><monitorCrossRefID>1</monitorCrossRefID><device><deviceIdentifier> </deviceIdentifier></device></BackInServiceEvent>`, "device/deviceIdentifier is empty", ErrInvalidMessage},
		{"bad ip", `<BackInServiceEvent ` + ns + `><monitorCrossRefID>1</monitorCrossRefID><device><deviceIdentifier>1001</deviceIdentifier></device><extensions><privateData><private><deviceInfo xmlns="` + PrivateNamespace + `"><ip>127.20.1.300</ip><recordingPort>7300</recordingPort><model>7434</model></deviceInfo></private></privateData></extensions></BackInServiceEvent>`, `deviceInfo/ip "127.20.1.300": not an IP address`, ErrInvalidMessage},
		{"bad port", `<BackInServiceEvent ` + ns + `><monitorCrossRefID>1</monitorCrossRefID><device><deviceIdentifier>1001</deviceIdentifier></device><extensions><privateData><private><deviceInfo xmlns="` + PrivateNamespace + `"><ip>127.20.1.1</ip><recordingPort>seven</recordingPort><model>7434</model></deviceInfo></private></privateData></extensions></BackInServiceEvent>`, `recordingPort "seven"`, ErrInvalidMessage},
		{"bad utf8", "<SystemStatus " + ns + "><systemStatus>norm\xffal</systemStatus></SystemStatus>", "not well formed", ErrInvalidMessage},
		{"undefined entity", `<SystemStatus ` + ns + `><systemStatus>&bogus;</systemStatus></SystemStatus>`, "not well formed", ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Decode succeeded: %#v", m)
			}
			if m != nil {
				t.Errorf("Decode returned a message %#v with its error", m)
			}
			if !strings.HasPrefix(err.Error(), "csta: ") || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.is) {
				t.Fatalf("Decode error %q: want prefix \"csta: \", %q and %v", err, tt.want, tt.is)
			}
			if !Recoverable(err) {
				t.Errorf("Recoverable(%v) = false; a bad document must not end the connection", err)
			}
		})
	}
}

func TestDecodeTolerates(t *testing.T) {
	tests := []struct {
		name, doc string
		want      Message
	}{
		{"indented with comments and unknown elements", `<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment before the root -->
<DeliveredEvent xmlns="` + Namespace + `" xmlns:scx="http://example.com/other">
  <monitorCrossRefID> 7 </monitorCrossRefID>
  <connection><callID>` + call42 + `</callID><deviceID typeOfNumber="dialingNumber">1002</deviceID></connection>
  <alertingDevice><deviceIdentifier>1002</deviceIdentifier></alertingDevice>
  <callingDevice><restricted/></callingDevice>
  <calledDevice><deviceIdentifier>1002</deviceIdentifier></calledDevice>
  <lastRedirectionDevice><notRequired/></lastRedirectionDevice>
  <localConnectionInfo>alerting</localConnectionInfo>
  <cause>newCall</cause>
  <servicesPermitted><callControlServices><clearConnection>true</clearConnection></callControlServices></servicesPermitted>
  <extensions><privateData><private><scx:whatever/></private></privateData></extensions>
</DeliveredEvent>
`, DeliveredEvent{CrossRefID: "7", CallID: call42, Device: "1002", Alerting: "1002", Called: "1002",
			LocalConnection: StateAlerting, Cause: CauseNewCall}},
		{"prefixed root", `<csta:SystemStatus xmlns:csta="` + Namespace + `"><csta:systemStatus>normal</csta:systemStatus></csta:SystemStatus>`,
			SystemStatus{Status: StatusNormal}},
		{"prefixed private element", `<BackInServiceEvent xmlns="` + Namespace + `"><monitorCrossRefID>1</monitorCrossRefID><device><deviceIdentifier>1001</deviceIdentifier></device><extensions><privateData><private xmlns:reclab="` + PrivateNamespace + `"><reclab:deviceInfo><ip>127.20.1.1</ip><recordingPort>7300</recordingPort><model>7434</model></reclab:deviceInfo></private></privateData></extensions></BackInServiceEvent>`,
			BackInServiceEvent{CrossRefID: "1", Device: "1001", Info: phoneInfo}},
		{"private element of another namespace is ignored", `<OutOfServiceEvent xmlns="` + Namespace + `"><monitorCrossRefID>1</monitorCrossRefID><device><deviceIdentifier>1001</deviceIdentifier></device><extensions><privateData><private><deviceInfo xmlns="urn:someone-else"><ip>bogus</ip></deviceInfo></private></privateData></extensions></OutOfServiceEvent>`,
			OutOfServiceEvent{CrossRefID: "1", Device: "1001"}},
		{"self-closing response", `<MonitorStopResponse xmlns="` + Namespace + `"/>`, MonitorStopResponse{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestCallID(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "000000000000000000000000"},
		{42, call42},
		{18446744073709551615, "000018446744073709551615"},
	}
	for _, tt := range tests {
		if got := FormatCallID(tt.n); got != tt.want {
			t.Errorf("FormatCallID(%d) = %q, want %q", tt.n, got, tt.want)
		}
		if err := ValidateCallID(tt.want); err != nil {
			t.Errorf("ValidateCallID(%q): %v", tt.want, err)
		}
	}
	for _, bad := range []string{"", "42", "00000000000000000000004x", "0000000000000000000000420", " 00000000000000000000042"} {
		err := ValidateCallID(bad)
		if err == nil || !strings.HasPrefix(err.Error(), "csta: callID ") {
			t.Errorf("ValidateCallID(%q) = %v, want a csta: error", bad, err)
		}
	}
}

func TestSummary(t *testing.T) {
	want := []string{
		"MonitorStart 1001",
		"MonitorStartResponse 17",
		"MonitorStop 17",
		"MonitorStopResponse",
		"SystemStatus normal",
		"SystemStatusResponse",
		"CSTAErrorCode operation/invalidDeviceID",
		"ServiceInitiatedEvent 1001 call " + call42,
		"OriginatedEvent 1001→1002 call " + call42,
		"DeliveredEvent 1001→1002 call " + call42,
		"EstablishedEvent 1001→1002 call " + call42,
		"ConnectionClearedEvent 1002 call " + call42 + " normalClearing",
		"BackInServiceEvent 1001 127.20.1.1:7300 7434",
		"OutOfServiceEvent 1001 127.20.1.1:7300 7434",
	}
	for i, m := range examples {
		if got := Summary(m); got != want[i] {
			t.Errorf("Summary(%T) = %q, want %q", m, got, want[i])
		}
		if got := m.(interface{ String() string }).String(); got != want[i] {
			t.Errorf("%T.String() = %q, want %q", m, got, want[i])
		}
	}
	more := []struct {
		m    Message
		want string
	}{
		{nil, "<nil>"},
		{(*EstablishedEvent)(nil), "<nil>"},
		{&MonitorStart{Device: "1001"}, "MonitorStart 1001"},
		{DeliveredEvent{CallID: call42}, "DeliveredEvent ?→? call " + call42},
		{BackInServiceEvent{Device: "1001"}, "BackInServiceEvent 1001"},
		{OutOfServiceEvent{Device: "1001", Info: &DeviceInfo{IP: netip.MustParseAddr("fd00::1"), RecordingPort: 5070, Model: "6867i"}},
			"OutOfServiceEvent 1001 [fd00::1]:5070 6867i"},
		{foreign{}, "MakeCall"},
	}
	for _, tt := range more {
		if got := Summary(tt.m); got != tt.want {
			t.Errorf("Summary(%#v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestKindsAndEvents(t *testing.T) {
	for _, m := range examples {
		doc, _ := Encode(m)
		if !bytes.Contains(doc, []byte("<"+m.Kind()+" ")) {
			t.Errorf("%T: Kind %q is not the root element of %s", m, m.Kind(), doc)
		}
		_, isCall := m.(CallEvent)
		wantEvent := strings.HasSuffix(m.Kind(), "Event")
		if IsEvent(m) != wantEvent {
			t.Errorf("IsEvent(%s) = %v", m.Kind(), IsEvent(m))
		}
		if isCall {
			f := m.(CallEvent).CallFields()
			if f.CallID != call42 || f.CrossRefID == "" || f.Device == "" || f.Cause == "" {
				t.Errorf("%s CallFields = %+v", m.Kind(), f)
			}
		}
	}
}

func TestErrorResponseIsAnError(t *testing.T) {
	var err error = ErrorResponse{Category: CategoryOperation, Value: OperationInvalidDeviceID}
	if err.Error() != "csta: peer answered CSTAErrorCode operation/invalidDeviceID" {
		t.Fatal(err)
	}
}
