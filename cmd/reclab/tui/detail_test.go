package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/sim"
)

func TestDetailCSTAIndented(t *testing.T) {
	e := sessionEvents()[6]
	got := detail(e)
	for _, want := range []string{
		"pbx (127.20.0.1:8882) → recorder (127.20.0.2:40001)",
		"CSTA call 000000000000000000000001",
		"invokeID 9999",
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<EstablishedEvent",
		"\n  <monitorCrossRefID>2</monitorCrossRefID>",
		"\n    <callID>000000000000000000000001</callID>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("detail lacks %q:\n%s", want, got)
		}
	}
}

func TestDetailSIPAndBadBytes(t *testing.T) {
	e := sessionEvents()[7]
	got := detail(e)
	if !strings.Contains(got, "Call-ID: rec1\n") || !strings.Contains(got, "\nINVITE sip:1002@127.20.1.2:7300 SIP/2.0\nVia:") {
		t.Errorf("SIP detail:\n%s", got)
	}
	// A CSTA segment that does not frame is shown, not hidden.
	bad := sim.Event{Kind: sim.KindMessage, Proto: sim.ProtoCSTA, From: "rogue", To: "pbx", Summary: "?", Bytes: []byte("hello")}
	if got := detail(bad); !strings.Contains(got, "csta:") {
		t.Errorf("unframed CSTA detail does not say why:\n%s", got)
	}
	// Malformed XML comes back as it was.
	if got := indentXML([]byte("<a><b></a>")); got != "<a><b></a>" {
		t.Errorf("indentXML(malformed) = %q", got)
	}
}

func TestMermaid(t *testing.T) {
	ev := sessionEvents()
	ev = append(ev, sim.Event{At: time.Second, Kind: sim.KindNote, From: "scenario", Summary: "7434 calls 6867i; #1"})
	got := mermaid([]string{"pbx", "7434", "6867i", "recorder"}, ev)
	for _, want := range []string{
		"sequenceDiagram\n    participant n0 as pbx\n    participant n1 as 7434\n",
		"    n1->>n0: SIP REGISTER sip:127.20.0.1\n",
		"    n0-xn2: SIP DROPPED INVITE sip:1005@127.20.1.5:5071\n",
		"    n1-->>n3: RTP RTP stream 127.20.1.2:40000 → recorder tx started\n",
		"    Note over n0,n3: 7434 calls 6867i, #35;1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("mermaid lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "participant n4") {
		t.Errorf("\"recorder tx\" became a participant of its own:\n%s", got)
	}
}

func TestReport(t *testing.T) {
	b := newFakeBackend()
	var problems []sim.Event
	for _, e := range sessionEvents() {
		if _, ok := problemKind(e); ok {
			problems = append(problems, e)
		}
	}
	got := report(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "out/x", b.snap, sessionEvents(), problems, len(problems)+2, 3)
	for _, want := range []string{
		"Written 2026-01-02T03:04:05Z",
		"| 7434 | 1002 | 7434 | 127.20.1.2:7300 | yes | yes | idle | idle | 0 | 0 |",
		"| SIP message | 5 |",
		"| SIP dropped | 1 |",
		"missed 3 events",
		"-   0.600 ERROR 6867i: from 127.20.9.9:5060: recording INVITE refused: 403",
		"-   0.031 warning (dropped) pbx → 6867i: DROPPED INVITE sip:1005@127.20.1.5:5071",
		"- … and 2 more",
		"| 3.561 | 7434 | recorder | HTTP | GET /record?page=START&OPN=1002 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestParseFilter(t *testing.T) {
	snap := newFakeBackend().snap
	f, err := parseFilter("7434, 1005 sip", snap)
	if err != nil {
		t.Fatal(err)
	}
	if !f.nodes["7434"] || !f.nodes["6867i"] || !f.protos[sim.ProtoSIP] || len(f.protos) != 1 {
		t.Errorf("filter = %+v", f)
	}
	c := newColumns("pbx", "7434", "6867i", "recorder")
	pass := 0
	for _, e := range sessionEvents() {
		if isLadder(e) && f.pass(e, c) {
			pass++
		}
	}
	if pass != 6 { // REGISTER, 200, INVITE ×2, dropped INVITE, recorder's INVITE
		t.Errorf("%d events pass, want 6", pass)
	}
	// CSTA events about a phone go pbx → recorder and name its extension.
	f, err = parseFilter("6867i csta", snap)
	if err != nil {
		t.Fatal(err)
	}
	if e := sessionEvents()[6]; !f.pass(e, c) {
		t.Errorf("filter 6867i csta drops %q", e.Summary)
	}
	if _, err := parseFilter("7434 bogus", snap); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("unknown word: err = %v", err)
	}
}
