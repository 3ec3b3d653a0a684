package recorder

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A recording's metadata in the industry's format as well as the JSON:
// RFC 7865's recording metadata (urn:ietf:params:xml:ns:recording:1), the
// document a SIPREC recording server keeps beside the media, so tools on
// the recorder's side read the lab's recordings as their own.
//
// One communication session (the call), its two parties and two streams:
// the WAV's left channel ("tx", what the recorded phone sent) and its right
// ("rx", what it received). The recorded party sends tx and receives rx;
// the other party the reverse. The datamode is "partial" while the file is
// open (the document written when it opens) and "complete" at close.

// RFC7865Namespace is the metadata's XML namespace (RFC 7865 §8).
const RFC7865Namespace = "urn:ietf:params:xml:ns:recording:1"

// RecordingMetadata is an RFC 7865 <recording> document.
type RecordingMetadata struct {
	XMLName                  xml.Name                 `xml:"urn:ietf:params:xml:ns:recording:1 recording"`
	DataMode                 string                   `xml:"datamode"`
	Sessions                 []MetaSession            `xml:"session"`
	Participants             []MetaParticipant        `xml:"participant"`
	Streams                  []MetaStream             `xml:"stream"`
	SessionRecordingAssocs   []MetaSessionRecording   `xml:"sessionrecordingassoc"`
	ParticipantSessionAssocs []MetaParticipantSession `xml:"participantsessionassoc"`
	ParticipantStreamAssocs  []MetaParticipantStreams `xml:"participantstreamassoc"`
}

// MetaSession is a communication session: the call.
type MetaSession struct {
	ID        string `xml:"session_id,attr"`
	StartTime string `xml:"start-time,omitempty"`
	StopTime  string `xml:"stop-time,omitempty"`
}

// MetaParticipant is a party of the call.
type MetaParticipant struct {
	ID     string     `xml:"participant_id,attr"`
	NameID MetaNameID `xml:"nameID"`
}

// MetaNameID names a participant by its address of record.
type MetaNameID struct {
	AOR  string `xml:"aor,attr"`
	Name string `xml:"name,omitempty"`
}

// MetaStream is one recorded stream, a channel of the WAV.
type MetaStream struct {
	ID        string `xml:"stream_id,attr"`
	SessionID string `xml:"session_id,attr"`
	Label     string `xml:"label"`
}

// MetaSessionRecording is when the call was being recorded.
type MetaSessionRecording struct {
	SessionID        string `xml:"session_id,attr"`
	AssociateTime    string `xml:"associate-time"`
	DisassociateTime string `xml:"disassociate-time,omitempty"`
}

// MetaParticipantSession is when a party was in the call.
type MetaParticipantSession struct {
	ParticipantID    string `xml:"participant_id,attr"`
	SessionID        string `xml:"session_id,attr"`
	AssociateTime    string `xml:"associate-time"`
	DisassociateTime string `xml:"disassociate-time,omitempty"`
}

// MetaParticipantStreams is which streams a party sends and receives.
type MetaParticipantStreams struct {
	ParticipantID string   `xml:"participant_id,attr"`
	Send          []string `xml:"send"`
	Recv          []string `xml:"recv"`
}

// rfc7865ID is an RFC 7865 §6.9 identifier: 128 bits, base64. It is
// derived from what it names, so the same recording gives the same
// document.
func rfc7865ID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)[:16])
}

// rfc7865Time is the xs:dateTime of a lab time; "" for none.
func rfc7865Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// RFC7865 is m as an RFC 7865 metadata document.
func (m Meta) RFC7865() RecordingMetadata {
	key := m.CallID + "/" + m.Extension + "/" + m.Start.String()
	session := rfc7865ID(key, "session")
	tx, rx := rfc7865ID(key, "tx"), rfc7865ID(key, "rx")
	other := m.Called
	if other == m.Extension {
		other = m.Calling
	}
	mode, start, stop := "complete", rfc7865Time(m.Start), rfc7865Time(m.Stop)
	if m.Reason == ReasonUnfinished {
		mode, stop = "partial", ""
	}
	party := func(number, name string) MetaParticipant {
		return MetaParticipant{ID: rfc7865ID(key, "participant", number),
			NameID: MetaNameID{AOR: "sip:" + number + "@" + m.PBX, Name: name}}
	}
	recorded, far := party(m.Extension, m.Model), party(other, "")
	doc := RecordingMetadata{
		DataMode:     mode,
		Sessions:     []MetaSession{{ID: session, StartTime: start, StopTime: stop}},
		Participants: []MetaParticipant{recorded, far},
		Streams: []MetaStream{
			{ID: tx, SessionID: session, Label: "tx"},
			{ID: rx, SessionID: session, Label: "rx"},
		},
		SessionRecordingAssocs: []MetaSessionRecording{{SessionID: session, AssociateTime: start, DisassociateTime: stop}},
		ParticipantStreamAssocs: []MetaParticipantStreams{
			{ParticipantID: recorded.ID, Send: []string{tx}, Recv: []string{rx}},
			{ParticipantID: far.ID, Send: []string{rx}, Recv: []string{tx}},
		},
	}
	for _, p := range doc.Participants {
		doc.ParticipantSessionAssocs = append(doc.ParticipantSessionAssocs,
			MetaParticipantSession{ParticipantID: p.ID, SessionID: session, AssociateTime: start, DisassociateTime: stop})
	}
	return doc
}

// rfc7865Document is the XML of m's metadata, with its declaration.
func rfc7865Document(m Meta) ([]byte, error) {
	doc, err := xml.MarshalIndent(m.RFC7865(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), doc...), '\n'), nil
}

// ParseRFC7865 reads an RFC 7865 document and checks what the RFC asks of
// it: the namespace, a datamode, ids of 128 bits in base64 (§6.9) that are
// unique, and every reference (a stream's session, each association's
// participant, session and streams) to something the document defines.
func ParseRFC7865(doc []byte) (RecordingMetadata, error) {
	var m RecordingMetadata
	if err := xml.Unmarshal(doc, &m); err != nil {
		return m, fmt.Errorf("RFC 7865 metadata: %w", err)
	}
	var errs []error // the root's name and namespace Unmarshal checked
	if m.DataMode != "complete" && m.DataMode != "partial" {
		errs = append(errs, fmt.Errorf("datamode %q: want complete or partial", m.DataMode))
	}
	ids := map[string]string{}
	define := func(kind, id string) {
		if b, err := base64.StdEncoding.DecodeString(id); err != nil || len(b) != 16 {
			errs = append(errs, fmt.Errorf("%s id %q is not 128 bits of base64 (RFC 7865 §6.9)", kind, id))
		}
		if prev, ok := ids[id]; ok {
			errs = append(errs, fmt.Errorf("%s id %s is also a %s id", kind, id, prev))
		}
		ids[id] = kind
	}
	refer := func(what, kind, id string) {
		if ids[id] != kind {
			errs = append(errs, fmt.Errorf("%s names %s %q, which the document does not define", what, kind, id))
		}
	}
	for _, s := range m.Sessions {
		define("session", s.ID)
	}
	for _, p := range m.Participants {
		define("participant", p.ID)
		if !strings.HasPrefix(p.NameID.AOR, "sip:") {
			errs = append(errs, fmt.Errorf("participant %s: aor %q is not a SIP URI", p.ID, p.NameID.AOR))
		}
	}
	for _, s := range m.Streams {
		define("stream", s.ID)
		refer("stream "+s.ID, "session", s.SessionID)
	}
	for _, a := range m.SessionRecordingAssocs {
		refer("a sessionrecordingassoc", "session", a.SessionID)
	}
	for _, a := range m.ParticipantSessionAssocs {
		refer("a participantsessionassoc", "participant", a.ParticipantID)
		refer("a participantsessionassoc", "session", a.SessionID)
	}
	for _, a := range m.ParticipantStreamAssocs {
		refer("a participantstreamassoc", "participant", a.ParticipantID)
		for _, s := range append(append([]string{}, a.Send...), a.Recv...) {
			refer("a participantstreamassoc", "stream", s)
		}
	}
	return m, errors.Join(errs...)
}
