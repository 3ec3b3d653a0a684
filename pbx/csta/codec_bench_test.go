package csta

import (
	"bytes"
	"testing"
)

// benchEstablished is the event the recorder acts on for every monitored
// party of every call (docs/wire.md "CSTA"), so the one to measure.
var benchEstablished = EstablishedEvent{CrossRefID: "18", CallID: "000000000000000000000042", Device: "1002",
	Answering: "1002", Calling: "1001", Called: "1002", LocalConnection: StateConnected, Cause: CauseNewCall}

// BenchmarkEncodeEstablished is the PBX's side: one call event to XML.
func BenchmarkEncodeEstablished(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(benchEstablished); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEstablished is the recorder's side: the XML back to a
// message.
func BenchmarkDecodeEstablished(b *testing.B) {
	doc, err := Encode(benchEstablished)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFrameRoundTrip is one event framed (8-byte header, design.md
// "CSTA") and read back by a FrameReader, as the link does per event.
func BenchmarkFrameRoundTrip(b *testing.B) {
	doc, err := Encode(benchEstablished)
	if err != nil {
		b.Fatal(err)
	}
	frame, err := AppendFrame(nil, 9999, doc)
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(frame)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(frame)
		if _, _, err := NewFrameReader(r).Next(); err != nil {
			b.Fatal(err)
		}
	}
}
