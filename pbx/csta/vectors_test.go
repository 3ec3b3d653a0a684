package csta

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func globNonEmpty(t *testing.T, pattern string) ([]string, error) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err == nil && len(files) == 0 {
		t.Fatalf("no vectors match %s", pattern)
	}
	return files, err
}

// TestValidVectors: every testdata/valid/*.xml decodes, survives Encode→Decode unchanged,
// and summarises as testdata/valid/summaries.golden says (go test -update rewrites it).
func TestValidVectors(t *testing.T) {
	files, err := globNonEmpty(t, "testdata/valid/*.xml")
	if err != nil {
		t.Fatal(err)
	}
	var summaries strings.Builder
	for _, path := range files {
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(doc)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		again, err := Encode(m)
		if err != nil {
			t.Errorf("%s: re-encode: %v", path, err)
			continue
		}
		if m2, err := Decode(again); err != nil || !reflect.DeepEqual(m, m2) {
			t.Errorf("%s: re-encoded form decodes to %#v, %v; want %#v", path, m2, err, m)
		}
		summaries.WriteString(filepath.Base(path) + ": " + Summary(m) + "\n")
	}
	checkGolden(t, "testdata/valid/summaries.golden", []byte(summaries.String()))
}

var wantComment = regexp.MustCompile(`^<!-- want: (.*?) -->`)

// TestInvalidVectors: every testdata/invalid/*.xml starts with <!-- want: TEXT --> and
// Decode must refuse it, recoverably, with an error containing TEXT.
func TestInvalidVectors(t *testing.T) {
	files, err := globNonEmpty(t, "testdata/invalid/*.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			doc, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			match := wantComment.FindSubmatch(doc)
			if match == nil {
				t.Fatalf("%s does not start with <!-- want: ... -->", path)
			}
			m, err := Decode(doc)
			if err == nil {
				t.Fatalf("Decode succeeded: %#v", m)
			}
			if !strings.Contains(err.Error(), string(match[1])) {
				t.Errorf("error %q does not contain %q", err, match[1])
			}
			if !Recoverable(err) || !(errors.Is(err, ErrInvalidMessage) || errors.Is(err, ErrUnsupported)) {
				t.Errorf("error %q is not a recoverable content error", err)
			}
		})
	}
}
