package csta

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"
)

// sessionExamples: one message of each kind of session.go, as a recorder
// and the PBX send them at link start.
var sessionExamples = []Message{
	StartApplicationSession{ApplicationID: "reclab-recorder", Password: "s<é>&", ProtocolVersions: []string{ProtocolVersionED4}, Duration: 180},
	StartApplicationSessionPosResponse{SessionID: "1", ProtocolVersion: ProtocolVersionED4, Duration: 180},
	StartApplicationSessionNegResponse{Error: SessionInvalidApplicationInfo},
	StopApplicationSession{SessionID: "1", Reason: "normal"},
	StopApplicationSessionPosResponse{},
	StopApplicationSessionNegResponse{Error: SessionInvalidSessionID},
	ResetApplicationSessionTimer{SessionID: "1", Duration: 180},
	ResetApplicationSessionTimerPosResponse{Duration: 180},
	SystemRegister{},
	SystemRegisterResponse{RegisterID: "1"},
	SnapshotDevice{Device: "1001"},
	SnapshotDeviceResponse{Calls: []SnapshotCall{{CallID: FormatCallID(42), Device: "1001", State: StateConnected}}},
	SnapshotDeviceResponse{},
}

// The session messages encode with their standard's namespace on the
// root (ECMA-354 for the application session, ECMA-323 ed4 for the rest),
// as testdata/golden pins, and decode back to themselves.
func TestSessionMessagesRoundTrip(t *testing.T) {
	for i, m := range sessionExamples {
		doc, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", m, err)
		}
		ns := Namespace
		if isECMA354(m.Kind()) {
			ns = SessionNamespace
		}
		if !bytes.HasPrefix(doc, []byte(`<?xml version="1.0" encoding="UTF-8"?><`+m.Kind()+` xmlns="`+ns+`"`)) {
			t.Errorf("%s: root without its namespace %s: %s", m.Kind(), ns, doc)
		}
		name := m.Kind()
		if i == len(sessionExamples)-1 {
			name += "-empty"
		}
		checkGolden(t, filepath.Join("testdata", "golden", name+".xml"), append(doc, '\n'))
		back, err := Decode(doc)
		if err != nil || !reflect.DeepEqual(back, m) {
			t.Errorf("%s: decodes to %#v, %v", m.Kind(), back, err)
		}
	}
}

// A password is never in a trace line.
func TestSessionSummaryHidesPassword(t *testing.T) {
	if s := Summary(sessionExamples[0]); bytes.Contains([]byte(s), []byte("s<é>")) || s != "StartApplicationSession reclab-recorder (password)" {
		t.Fatalf("summary %q", s)
	}
}
