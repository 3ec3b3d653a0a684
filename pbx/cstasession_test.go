package pbx

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
)

// The link start a third-party CSTA client expects (issue 13): the
// switch's SystemStatus at once, an ECMA-354 application session with the
// application password, SystemRegister, SnapshotDevice, the error codes of
// docs/wire.md, and requests in any encoding Go decodes.
func TestCSTAHandshakeAsRealClientsExpect(t *testing.T) {
	// An hour's keep-alive: the first SystemStatus can only be the link's.
	l := newTestLab(t, Config{CSTAPassword: "s3same", CSTAKeepAlive: time.Hour})
	rec := l.recorder("rec", 2)
	select {
	case f := <-rec.in:
		if ss, ok := f.msg.(csta.SystemStatus); !ok || ss.Status != csta.StatusNormal || f.id < 1 || f.id >= csta.EventInvokeID {
			t.Fatalf("first frame on the link: %04d %s, want SystemStatus normal with a request invokeID", f.id, f.msg)
		}
	case <-time.After(waitLimit):
		t.Fatal("no SystemStatus when the link opened")
	}

	wantError := func(got csta.Message, category, value string) {
		t.Helper()
		if e, ok := got.(csta.ErrorResponse); !ok || e.Category != category || e.Value != value {
			t.Fatalf("got %s, want CSTAErrorCode %s/%s", got, category, value)
		}
	}
	wantNeg := func(got csta.Message, definedError string) {
		t.Helper()
		if n, ok := got.(csta.StartApplicationSessionNegResponse); !ok || n.Error != definedError {
			t.Fatalf("got %s, want StartApplicationSessionNegResponse %s", got, definedError)
		}
	}

	wantError(rec.request(csta.MonitorStart{Device: "1001"}), csta.CategorySecurity, csta.SecurityNoSession)
	if _, ok := rec.request(csta.SystemStatus{Status: csta.StatusNormal}).(csta.SystemStatusResponse); !ok {
		t.Fatal("the keep-alive is answered before the session too")
	}
	refused := l.watch(func(e sim.Event) bool {
		return e.Kind == sim.KindError && strings.Contains(e.Summary, "wrong application password")
	})
	wantNeg(rec.request(csta.StartApplicationSession{ApplicationID: "rec", Password: "guess"}), csta.SessionInvalidApplicationInfo)
	refused()
	wantNeg(rec.request(csta.StartApplicationSession{ApplicationID: "rec"}), csta.SessionInvalidApplicationInfo)
	wantNeg(rec.request(csta.StartApplicationSession{ApplicationID: "rec", Password: "s3same", ProtocolVersions: []string{"urn:x-other"}}),
		csta.SessionProtocolVersionNotSupp)
	pos, ok := rec.request(csta.StartApplicationSession{ApplicationID: "rec", Password: "s3same",
		ProtocolVersions: []string{"http://www.ecma-international.org/standards/ecma-323/csta/ed3", csta.ProtocolVersionED4}}).(csta.StartApplicationSessionPosResponse)
	if !ok || pos.SessionID == "" || pos.ProtocolVersion != csta.ProtocolVersionED4 || pos.Duration != csta.DefaultSessionDuration {
		t.Fatalf("right password: %+v, %v", pos, ok)
	}
	wantNeg(rec.request(csta.StartApplicationSession{ApplicationID: "rec", Password: "s3same"}), csta.SessionAlreadyStarted)

	if r, ok := rec.request(csta.SystemRegister{}).(csta.SystemRegisterResponse); !ok || r.RegisterID == "" {
		t.Fatalf("SystemRegister: %+v", r)
	}
	wantError(rec.request(csta.SnapshotDevice{Device: "4711"}), csta.CategoryOperation, csta.OperationInvalidDeviceID)
	if r, ok := rec.request(csta.SnapshotDevice{Device: "1001"}).(csta.SnapshotDeviceResponse); !ok || len(r.Calls) != 0 {
		t.Fatalf("SnapshotDevice of an idle device: %+v", r)
	}
	rec.monitor("1001")
	if r, ok := rec.request(csta.ResetApplicationSessionTimer{SessionID: pos.SessionID, Duration: 60}).(csta.ResetApplicationSessionTimerPosResponse); !ok || r.Duration != 60 {
		t.Fatalf("ResetApplicationSessionTimer: %+v", r)
	}

	raw := func(id int, xml string) frame {
		t.Helper()
		b, err := csta.AppendFrame(nil, id, []byte(xml))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rec.conn.NetConn().Write(b); err != nil {
			t.Fatal(err)
		}
		return rec.next()
	}
	// A well-formed request the PBX does not serve: docs/wire.md's code.
	f := raw(61, `<MakeCall xmlns="`+csta.Namespace+`"><callingDevice>1001</callingDevice><calledDirectoryNumber>1002</calledDirectoryNumber></MakeCall>`)
	wantError(f.msg, csta.CategoryOperation, csta.OperationRequestIncompatible)
	// ISO-8859-1, and no namespace: served.
	if f := raw(62, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><SnapshotDevice><snapshotObject>1002</snapshotObject></SnapshotDevice>"); f.id != 62 {
		t.Fatalf("ISO-8859-1 request answered %04d %s", f.id, f.msg)
	} else if _, ok := f.msg.(csta.SnapshotDeviceResponse); !ok {
		t.Fatalf("ISO-8859-1 SnapshotDevice: %s", f.msg)
	}
	// An encoding Go has not: generic, and the error event names it.
	named := l.watch(func(e sim.Event) bool {
		return e.Kind == sim.KindError && strings.Contains(e.Summary, `encoding "x-klingon"`)
	})
	wantError(raw(63, `<?xml version="1.0" encoding="x-klingon"?><SystemStatus xmlns="`+csta.Namespace+`"><systemStatus>normal</systemStatus></SystemStatus>`).msg,
		csta.CategoryOperation, csta.OperationGeneric)
	named()

	if _, ok := rec.request(csta.StopApplicationSession{SessionID: "nope"}).(csta.StopApplicationSessionNegResponse); !ok {
		t.Fatal("StopApplicationSession of another session was not refused")
	}
	if _, ok := rec.request(csta.StopApplicationSession{SessionID: pos.SessionID, Reason: "normal"}).(csta.StopApplicationSessionPosResponse); !ok {
		t.Fatal("StopApplicationSession not confirmed")
	}
	wantError(rec.request(csta.MonitorStart{Device: "1001"}), csta.CategorySecurity, csta.SecurityNoSession)
}

// Without an application password a session is optional: a client that
// starts one gets it, one that does not is served all the same.
func TestCSTASessionOptionalWithoutPassword(t *testing.T) {
	l := newTestLab(t, Config{CSTAKeepAlive: time.Hour})
	plain := l.recorder("plain", 2)
	plain.monitor("1001")
	sess := l.recorder("sess", 3)
	if _, ok := sess.request(csta.StartApplicationSession{ApplicationID: "any", Password: "whatever"}).(csta.StartApplicationSessionPosResponse); !ok {
		t.Fatal("no session without a password set")
	}
	sess.monitor("1002")
}

// snapshot lists a device's calls with its connection state in each, by
// callID, and none that ended.
func TestSnapshot(t *testing.T) {
	b := &B2BUA{calls: map[string]*call{
		"a": {id: csta.FormatCallID(2), from: "1001", to: "1002", state: CallRinging},
		"b": {id: csta.FormatCallID(1), from: "1003", to: "1001", state: CallTalking},
		"c": {id: csta.FormatCallID(3), from: "1001", to: "1003", state: CallEnded},
	}}
	for _, c := range []struct{ dev, want string }{
		{"1001", "000000000000000000000001 connected, 000000000000000000000002 connected"},
		{"1002", "000000000000000000000002 alerting"},
		{"1003", "000000000000000000000001 connected"},
		{"1004", ""},
	} {
		var got []string
		for _, s := range snapshot(b, c.dev) {
			if s.Device != c.dev {
				t.Errorf("%s: a call's device is %s", c.dev, s.Device)
			}
			got = append(got, s.CallID+" "+string(s.State))
		}
		if strings.Join(got, ", ") != c.want {
			t.Errorf("snapshot %s = %q, want %q", c.dev, got, c.want)
		}
	}
}

// csta.StartSession, the client's half (the recorder's), against the PBX:
// refused with a wrong password, a session with the right one, and the
// SystemStatus the PBX sends at link start answered on the way.
func TestStartSessionClient(t *testing.T) {
	l := newTestLab(t, Config{CSTAPassword: "s3same", CSTAKeepAlive: time.Hour})
	node, err := l.net.AddNode("client", l.ip(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		password string
		ok       bool
	}{{"wrong", false}, {"s3same", true}} {
		nc, err := node.Dial(l.pbx.CSTAAddr())
		if err != nil {
			t.Fatal(err)
		}
		link := csta.NewConn(nc)
		answered := l.watch(func(e sim.Event) bool {
			return e.Proto == sim.ProtoCSTA && e.From == "client" && strings.Contains(e.Summary, "SystemStatusResponse")
		})
		id, err := csta.StartSession(link, "reclab-test", c.password, sim.SocketDeadline(waitLimit))
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, csta.ErrSessionRefused)) || (c.ok && id == "") {
			t.Fatalf("password %q: session %q, %v", c.password, id, err)
		}
		answered()
		if c.ok {
			if err := link.Send(link.NextInvokeID(), csta.MonitorStart{Device: "1001"}); err != nil {
				t.Fatal(err)
			}
			if _, m, err := link.Recv(); err != nil {
				t.Fatal(err)
			} else if _, ok := m.(csta.MonitorStartResponse); !ok {
				t.Fatalf("MonitorStart in the session: %s", m)
			}
		}
		link.Close()
	}
}
