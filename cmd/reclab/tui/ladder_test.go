package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/sim"
)

func TestLabel(t *testing.T) {
	for _, tc := range []struct {
		e    sim.Event
		want string
	}{
		{sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: "INVITE sip:1005@127.20.0.1"}, "INVITE"},
		{sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: "200 OK (INVITE)"}, "200 OK"},
		{sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: "INVITE sip:1002@127.20.1.2:7300", Dst: ph7434R}, "INVITE :7300"},
		{sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: "200 OK (INVITE)", Dst: ph7434R}, "200 OK"},
		{sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: "180 Ringing (INVITE)"}, "180 Ringing"},
		{sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoCSTA, Summary: "0001 MonitorStart 1001"}, "MonitorStart"},
		{sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoCSTA, Summary: "EstablishedEvent 1001→1002 call 1"}, "EstablishedEvent"},
		{sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoHTTP, Summary: "GET /record?page=START&OPN=1001"}, "GET /record"},
		{sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoHTTP, Summary: "200 OK"}, "200 OK"},
		{sim.Event{Kind: sim.KindStreamStart, Proto: sim.ProtoRTP, To: "6867i"}, "RTP on"},
		{sim.Event{Kind: sim.KindStreamStart, Proto: sim.ProtoRTP, To: "recorder tx"}, "RTP tx on"},
		{sim.Event{Kind: sim.KindStreamStop, Proto: sim.ProtoRTP, To: "recorder rx", Packets: 151}, "RTP rx off 151"},
		// Spec §1.3: an encrypted flow is marked.
		{sim.Event{Kind: sim.KindStreamStart, Proto: sim.ProtoRTP, To: "recorder tx", Summary: "SRTP stream 127.20.1.1:40000 → recorder tx started (AES_CM_128_HMAC_SHA1_80)"}, "SRTP tx on"},
		{sim.Event{Kind: sim.KindStreamStop, Proto: sim.ProtoRTP, To: "6867i", Summary: "SRTP stream 127.20.1.1:40000 → 6867i stopped (socket closed), 9 packets", Packets: 9}, "SRTP off 9"},
		{sim.Event{Kind: sim.KindDropped, Proto: sim.ProtoSIP, Summary: "BYE sip:x"}, "x BYE"},
		{sim.Event{Kind: sim.KindDropped, Proto: sim.ProtoRTP, Summary: "RTP stream a → b: dropping packets (impairment 1: drop 50% RTP any→any)"}, "x RTP"},
		{sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: "BYE sip:x", Delayed: 200400 * time.Microsecond}, "BYE +200ms"},
		{sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: "BYE sip:x", Duplicate: true}, "dup BYE"},
	} {
		if got := label(tc.e); got != tc.want {
			t.Errorf("label(%q) = %q, want %q", tc.e.Summary, got, tc.want)
		}
	}
}

func TestColumnsByNodeName(t *testing.T) {
	c := newColumns("pbx", "7434", "recorder")
	if got := c.of("recorder tx"); got != 2 {
		t.Errorf(`"recorder tx" is column %d, want the recorder's 2`, got)
	}
	if got := c.of("rogue"); got != 3 || len(c.names) != 4 {
		t.Errorf("a new node gets column %d of %d, want 3 of 4", got, len(c.names))
	}
}

func TestRowArrows(t *testing.T) {
	g := newGeometry(60, 3) // no room for summaries: 17 columns each
	if g.summaryX != 0 {
		t.Fatalf("summary at %d in 60 columns for 3 nodes, want none", g.summaryX)
	}
	for _, tc := range []struct {
		name     string
		e        sim.Event
		from, to int
		re       bool
		want     string
	}{
		{"right", sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: "INVITE sip:x"}, 0, 2, false,
			"   0.000         │─────────────INVITE─────────────>"},
		{"left", sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: "200 OK (INVITE)"}, 1, 0, false,
			"   0.000         │<────200 OK─────"},
		{"dropped", sim.Event{Kind: sim.KindDropped, Proto: sim.ProtoSIP, Summary: "BYE sip:x"}, 0, 1, false,
			"   0.000         │─────x BYE─────x"},
		{"resent", sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoSIP, Summary: "INVITE sip:x"}, 0, 1, true,
			"   0.000         │───re INVITE───>"},
		{"rtp", sim.Event{Kind: sim.KindStreamStart, Proto: sim.ProtoRTP, To: "b"}, 2, 1, false,
			"   0.000         │                │<┄┄┄┄RTP on┄┄┄┄┄"},
	} {
		got := g.row(tc.e, tc.from, tc.to, tc.re).text
		// Only the arrow's part of the line matters here.
		got = strings.TrimRight(got, " │")
		want := strings.TrimRight(tc.want, " │")
		if got != want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, want)
		}
	}
}

func TestRowSummaryWhenWide(t *testing.T) {
	g := newGeometry(160, 8)
	if g.summaryX == 0 {
		t.Fatal("no summary column in 120 columns")
	}
	e := sim.Event{Kind: sim.KindDropped, Proto: sim.ProtoSIP, Summary: "INVITE sip:1002@127.20.1.2:7300"}
	if got := g.row(e, 7, 2, false).text; !strings.HasSuffix(got, "DROPPED INVITE sip:1002@127.20.1.2:7300") {
		t.Errorf("row %q does not end with the marked summary", got)
	}
}
