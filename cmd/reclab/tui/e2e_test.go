package tui

import (
	"context"
	"net/netip"
	"testing"

	"github.com/charmbracelet/x/exp/teatest"

	"github.com/reclab/reclab/lab"
)

// TestEndToEndCall starts the UI's default lab for real, on loopback
// addresses of its own (127.22.x.x, so other packages' lab tests never
// collide), makes a call with the keys a person would press and reads the
// ladder: REGISTER, the recorder's INVITE to the phone's recording port,
// CSTA EstablishedEvent and the RTP streams, forked ones included.
func TestEndToEndCall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole lab")
	}
	l, dir, ctx := uiLab(t)

	// Wide enough for the summary column beside the ladder (so the
	// INVITE's port shows) and the detail beside both.
	tm := teatest.NewTestModel(t, New(ctx, NewLabBackend(l, dir)), teatest.WithInitialTermSize(200, 60))
	s := &screen{tm: tm}
	s.waitFor(t, "lab up: 6 phones registered", "REGISTER sip:127.22.0.1", "200 OK (REGISTER)", "BackInServiceEvent 1006")

	// 7434 (phone 2, extension 1002) calls the 6867i (phone 5, 1005).
	tm.Type("2d1005")
	tm.Send(key("enter"))
	s.waitFor(t, "ringing 1002")
	tm.Type("5a")
	s.waitFor(t,
		"INVITE sip:1002@127.22.1.2:7300", // the recorder, to the 7434's fixed recording port
		"INVITE sip:1005@127.22.1.5:5071", // to the 6867i's configured SIP port
		"EstablishedEvent 1002→1005",
		"RTP on", "RTP tx on", "RTP rx on",
		"talking 1002", "rec forking",
	)
	// The 7434's record key: an HTTP request to the recorder on the same
	// ladder (what the recorder answers is its policy's business).
	tm.Type("2R")
	s.waitFor(t, "GET /record?page=START&OPN=1002")
	// The 6867i hangs up: the streams stop with their counts.
	tm.Type("5")
	tm.Type("x")
	s.waitFor(t, "RTP tx off", "ConnectionClearedEvent")
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(waitLong))
}

// uiLab builds the UI's default lab on loopback addresses of its own
// (127.22.x.x), not started; closed when the test ends.
func uiLab(t *testing.T) (*lab.Lab, string, context.Context) {
	t.Helper()
	topo := lab.UIDefault()
	topo.PBXAddr = netip.MustParseAddr("127.22.0.1")
	topo.RecorderAddr = netip.MustParseAddr("127.22.0.2")
	topo.PhoneBase = netip.MustParseAddr("127.22.1.1")
	dir := t.TempDir()
	l, err := lab.Build(topo, lab.Options{OutDir: dir, Pcap: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return l, dir, ctx
}
