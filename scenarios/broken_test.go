package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenStories: every file of testdata/broken is refused with the
// message in its .txt beside it (issue 19: structure errors say what the
// author did and what to write, with the line and an example from
// README.md; misspellings get a "did you mean"). -update rewrites the .txt
// files from this run; read their diff.
func TestBrokenStories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "broken", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no broken stories: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(f, src)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse accepted %s (err %v)", f, err)
			}
			got := err.Error() + "\n"
			want := strings.TrimSuffix(f, ".yaml") + ".txt"
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (go test ./scenarios -run TestBrokenStories -update writes it)", err)
			}
			if string(b) != got {
				t.Errorf("%s says:\n%s\nwant (%s):\n%s", f, got, want, b)
			}
		})
	}
}

// The examples structure errors quote are in README.md's yaml block.
func TestStructureErrorsQuoteTheReadme(t *testing.T) {
	for _, first := range []string{docSteps, docPhone} {
		ex := docExample(first)
		if ex == "" {
			t.Errorf("README.md has no line %q to quote", first)
			continue
		}
		src := "steps:\n  - say: x\n" // a story made of the example must parse
		if first == docSteps {
			src = strings.Join(dedent(ex), "\n") + "\n"
		}
		if _, err := Parse("example.yaml", []byte(src)); err != nil {
			t.Errorf("the quoted example does not parse: %v\n%s", err, src)
		}
	}
}

func dedent(block string) []string {
	var out []string
	for _, l := range strings.Split(block, "\n") {
		out = append(out, strings.TrimPrefix(l, "    "))
	}
	return out
}

// structureError reads the lines around whatever place the parser names,
// even one past the file's end, without failing itself.
func TestStructureErrorAnyPlace(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "broken", "*.yaml"))
	srcs := [][]byte{nil, []byte("\t"), []byte("-\n-x\n  a: b\n   c: d\n{[")}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, b)
	}
	for _, src := range srcs {
		n := strings.Count(string(src), "\n")
		for line := -1; line <= n+3; line++ {
			for col := -1; col <= 12; col++ {
				if msg := structureError("f.yaml", src, line, col, "parser says"); !strings.HasPrefix(msg, "f.yaml:") {
					t.Fatalf("line %d col %d of %q: %q", line, col, src, msg)
				}
			}
		}
	}
}
