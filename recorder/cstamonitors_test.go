package recorder

import (
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/internal/labtest"
	"github.com/reclab/reclab/pbx/csta"
)

// TestCSTAMonitorsTranscripts plays testdata/cstalink/*.txt: what the link
// did in, what the recorder's CSTA client does out (labtest.PlayTranscripts;
// `-rewrite` rewrites the expected output). The lab time is set with at=.
//
//	new monitored=(1001,1002) keep-alive=1s      start   connected   reconnect-due
//	dial-failed err=…   lost err=EOF   send-failed err=…   keep-alive-due
//	frame-refused id=3 err=…
//	received id=1 msg=MonitorStartResponse cross=7
//	received id=2 msg=CSTAErrorCode category=operation value=invalidDeviceID
//	received id=9 msg=SystemStatus | SystemStatusResponse | MonitorStopResponse | MonitorStart device=1001
//	received msg=BackInServiceEvent device=1001 | OutOfServiceEvent device=1001
//	received msg=EstablishedEvent cross=7 call=42 | ConnectionClearedEvent … | DeliveredEvent …
func TestCSTAMonitorsTranscripts(t *testing.T) {
	var m *CSTAMonitors
	var now time.Duration
	labtest.PlayTranscripts(t, "testdata/cstalink", func() { m, now = nil, 0 }, func(c labtest.Cmd) ([]string, string) {
		if d := c.Dur("at"); d > 0 {
			now = d
		}
		if c.D.Cmd == "new" {
			m = NewCSTAMonitors("127.20.0.1:8882", strings.Fields(c.Arg("monitored")), c.Dur("keep-alive"))
			return nil, m.String()
		}
		if m == nil {
			c.D.Fatalf(c.T, "no `new` before %s", c.D.Cmd)
		}
		ev := CSTAEvent{Kind: CSTAEventKind(c.Kind(cstaEventNames[:])), InvokeID: int(c.Uint("id", 0)), Err: c.Arg("err")}
		if ev.Kind == CSTAReceived {
			ev.Msg = transcriptMessage(c)
			if ev.InvokeID == 0 && csta.IsEvent(ev.Msg) {
				ev.InvokeID = csta.EventInvokeID
			}
		}
		return labtest.ActionLines(m.Step(now, ev)), m.String()
	})
}

// transcriptMessage is the command's msg= with its fields.
func transcriptMessage(c labtest.Cmd) csta.Message {
	cross, call, dev := c.Arg("cross"), c.Arg("call"), c.Arg("device")
	switch c.Arg("msg") {
	case "MonitorStart":
		return csta.MonitorStart{Device: dev}
	case "MonitorStartResponse":
		return csta.MonitorStartResponse{CrossRefID: cross}
	case "MonitorStopResponse":
		return csta.MonitorStopResponse{}
	case "CSTAErrorCode":
		return csta.ErrorResponse{Category: c.Arg("category"), Value: c.Arg("value")}
	case "SystemStatus":
		return csta.SystemStatus{Status: csta.StatusNormal}
	case "SystemStatusResponse":
		return csta.SystemStatusResponse{}
	case "BackInServiceEvent":
		return csta.BackInServiceEvent{Device: dev}
	case "OutOfServiceEvent":
		return csta.OutOfServiceEvent{Device: dev}
	case "DeliveredEvent":
		return csta.DeliveredEvent{CrossRefID: cross, CallID: call, Calling: "1001", Called: "1002"}
	case "EstablishedEvent":
		return csta.EstablishedEvent{CrossRefID: cross, CallID: call, Calling: "1001", Called: "1002"}
	case "ConnectionClearedEvent":
		return csta.ConnectionClearedEvent{CrossRefID: cross, CallID: call, Releasing: "1002", Cause: csta.CauseNormalClearing}
	}
	c.D.Fatalf(c.T, "unknown msg %q", c.Arg("msg"))
	return nil
}
