package csta

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzFrameDecode feeds arbitrary bytes to the frame reader and Decode, the path every byte
// from the network takes. It must never panic, classify every error, and whatever decodes
// must encode and decode back to the same message.
func FuzzFrameDecode(f *testing.F) {
	for _, m := range examples {
		doc, _ := Encode(m)
		raw, _ := AppendFrame(nil, EventInvokeID, doc)
		f.Add(raw)
	}
	for _, pattern := range []string{"testdata/frames/*.bin", "testdata/valid/*.xml", "testdata/invalid/*.xml"} {
		files, _ := filepath.Glob(pattern)
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			if filepath.Ext(path) == ".xml" {
				data, _ = AppendFrame(nil, 1, data)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = SummarizeFrames(data)
		fr := NewFrameReader(bytes.NewReader(data))
		for range 64 {
			id, doc, err := fr.Next()
			if err != nil {
				if !Recoverable(err) {
					return
				}
				continue
			}
			if id < 0 || id > 9999 {
				t.Fatalf("invokeID %d out of range", id)
			}
			m, err := Decode(doc)
			if err != nil {
				if !errors.Is(err, ErrInvalidMessage) && !errors.Is(err, ErrUnsupported) {
					t.Fatalf("Decode error %v is neither ErrInvalidMessage nor ErrUnsupported", err)
				}
				continue
			}
			_ = Summary(m)
			again, err := Encode(m)
			if err != nil {
				t.Fatalf("decoded %#v does not encode: %v", m, err)
			}
			m2, err := Decode(again)
			if err != nil || !reflect.DeepEqual(m, m2) {
				t.Fatalf("round trip of %#v gave %#v, %v", m, m2, err)
			}
		}
	})
}

// FuzzDecode fuzzes Decode alone on bare XML, so the fuzzer need not learn the header.
func FuzzDecode(f *testing.F) {
	for _, m := range examples {
		doc, _ := Encode(m)
		f.Add(doc)
	}
	files, _ := filepath.Glob("testdata/*/*.xml")
	for _, path := range files {
		data, _ := os.ReadFile(path)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		m, err := Decode(doc)
		if err != nil {
			if !Recoverable(err) {
				t.Fatalf("Decode error %v is not recoverable", err)
			}
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", m, err)
		}
		if m2, err := Decode(again); err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip of %#v gave %#v, %v", m, m2, err)
		}
	})
}
