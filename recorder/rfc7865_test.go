package recorder

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

// The RFC 7865 document of a recording: one session, both parties with
// their addresses of record, the WAV's two channels as streams, and each
// party sending one and receiving the other; partial while open.
func TestRFC7865Metadata(t *testing.T) {
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	m := Meta{CallID: "000000000000000000000001", Calling: "1001", Called: "1002", Extension: "1002",
		Model: "6867i", PBX: "127.20.0.1", Start: start, Stop: start.Add(3 * time.Second), Reason: "call cleared"}
	doc, err := rfc7865Document(m)
	if err != nil {
		t.Fatal(err)
	}
	got := CheckRFC7865(t, doc)
	if got.DataMode != "complete" || got.Sessions[0].StartTime != "2026-12-02T10:00:00Z" || got.Sessions[0].StopTime != "2026-12-02T10:00:03Z" {
		t.Errorf("session %+v, datamode %s", got.Sessions, got.DataMode)
	}
	if a := got.Participants[0].NameID; a.AOR != "sip:1002@127.20.0.1" || a.Name != "6867i" {
		t.Errorf("the recorded party is %+v, want 1002", a)
	}
	if a := got.Participants[1].NameID; a.AOR != "sip:1001@127.20.0.1" {
		t.Errorf("the other party is %+v, want 1001", a)
	}
	// The recorded party sends the left channel (tx).
	tx := got.Streams[0]
	if tx.Label != "tx" || got.ParticipantStreamAssocs[0].Send[0] != tx.ID || got.ParticipantStreamAssocs[1].Recv[0] != tx.ID {
		t.Errorf("stream associations %+v for streams %+v", got.ParticipantStreamAssocs, got.Streams)
	}
	again, _ := rfc7865Document(m)
	if string(again) != string(doc) {
		t.Error("the same recording gave another document")
	}

	m.Reason, m.Stop = ReasonUnfinished, time.Time{}
	doc, _ = rfc7865Document(m)
	if got := CheckRFC7865(t, doc); got.DataMode != "partial" || got.Sessions[0].StopTime != "" {
		t.Errorf("an open recording: datamode %s, stop %q", got.DataMode, got.Sessions[0].StopTime)
	}
}

// CheckRFC7865 parses an RFC 7865 document and validates it.
func CheckRFC7865(t testing.TB, doc []byte) RecordingMetadata {
	t.Helper()
	m, err := ParseRFC7865(doc)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	if len(m.Sessions) != 1 || len(m.Participants) != 2 || len(m.Streams) != 2 || len(m.ParticipantStreamAssocs) != 2 {
		t.Fatalf("sessions %d, participants %d, streams %d, stream associations %d; want 1, 2, 2, 2",
			len(m.Sessions), len(m.Participants), len(m.Streams), len(m.ParticipantStreamAssocs))
	}
	return m
}

// Validation finds what is wrong in a document, each fault by name.
func TestRFC7865Refused(t *testing.T) {
	meta := Meta{CallID: "1", Calling: "1001", Called: "1002", Extension: "1001", PBX: "127.20.0.1",
		Start: time.Unix(0, 0), Reason: "call cleared"}
	for _, tc := range []struct {
		name  string
		spoil func(*RecordingMetadata)
		want  string
	}{
		{"no datamode", func(m *RecordingMetadata) { m.DataMode = "" }, "datamode"},
		{"a stream of no session", func(m *RecordingMetadata) { m.Streams[0].SessionID = rfc7865ID("none") }, "does not define"},
		{"a short id", func(m *RecordingMetadata) { m.Participants[0].ID = "AAAA" }, "128 bits"},
		{"an id twice", func(m *RecordingMetadata) { m.Streams[1].ID = m.Streams[0].ID }, "is also a stream id"},
		{"a tel: aor", func(m *RecordingMetadata) { m.Participants[1].NameID.AOR = "tel:1002" }, "not a SIP URI"},
	} {
		m := meta.RFC7865()
		tc.spoil(&m)
		doc, err := xml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseRFC7865(doc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.want)
		}
	}
	good, _ := rfc7865Document(meta)
	for _, bad := range []string{strings.Replace(string(good), RFC7865Namespace, "urn:x", 1), strings.TrimSuffix(string(good), "</recording>\n")} {
		if _, err := ParseRFC7865([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "RFC 7865 metadata: ") {
			t.Errorf("%.80s…: %v, want the XML refused", bad[len(xml.Header):], err)
		}
	}
}
