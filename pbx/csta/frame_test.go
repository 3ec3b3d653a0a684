package csta

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

func frame(t testing.TB, id int, doc string) []byte {
	t.Helper()
	b, err := AppendFrame(nil, id, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendFrame(t *testing.T) {
	got, err := AppendFrame([]byte("x"), 42, []byte("<a/>"))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("x\x00\x00\x00\x0c0042<a/>")
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendFrame = %q, want %q", got, want)
	}
	if got, _ := AppendFrame(nil, EventInvokeID, nil); !bytes.Equal(got, []byte("\x00\x00\x00\x089999")) {
		t.Fatalf("empty event frame = %q", got)
	}
	if got, err := AppendFrame(nil, 1, make([]byte, MaxFrame-HeaderLen)); err != nil || len(got) != MaxFrame || got[2] != 0xff || got[3] != 0xff {
		t.Fatalf("largest frame: len %d, err %v", len(got), err)
	}

	bad := []struct {
		id   int
		size int
		is   error
		want string
	}{
		{-1, 0, ErrBadInvokeID, "invokeID -1"},
		{10000, 0, ErrBadInvokeID, "invokeID 10000"},
		{1, MaxFrame - HeaderLen + 1, ErrFrameTooLarge, "frame of 65536 bytes"},
	}
	for _, tt := range bad {
		dst := []byte("keep")
		got, err := AppendFrame(dst, tt.id, make([]byte, tt.size))
		if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "csta: ") {
			t.Errorf("AppendFrame(%d, %d bytes) error %v, want %v with %q", tt.id, tt.size, err, tt.is, tt.want)
		}
		if string(got) != "keep" {
			t.Errorf("AppendFrame changed dst on error: %q", got)
		}
	}
}

// result is one call of FrameReader.Next, flattened for comparison.
type result struct {
	id   int
	xml  string
	is   error // nil for success
	stop bool  // the error is fatal
}

func readAll(fr *FrameReader, max int) []result {
	var out []result
	for range max {
		id, doc, err := fr.Next()
		r := result{id: id, xml: string(doc)}
		if err != nil {
			for _, s := range []error{ErrFramingLost, ErrFrameTooLarge, ErrBadInvokeID, io.ErrUnexpectedEOF, io.EOF} {
				if errors.Is(err, s) {
					r.is = s
					break
				}
			}
			if r.is == nil {
				r.is = err
			}
			r.stop = !Recoverable(err)
		}
		out = append(out, r)
		if r.stop {
			break
		}
	}
	return out
}

func TestFrameReader(t *testing.T) {
	a := "<a/>"
	tests := []struct {
		name  string
		input []byte
		limit int
		want  []result
	}{
		{"two frames then EOF",
			cat(frame(t, 1, a), frame(t, 9999, "<b/>")), 0,
			[]result{{id: 1, xml: a}, {id: 9999, xml: "<b/>"}, {is: io.EOF, stop: true}}},
		{"empty body",
			[]byte("\x00\x00\x00\x080007"), 0,
			[]result{{id: 7, xml: ""}, {is: io.EOF, stop: true}}},
		{"bad invokeID is recoverable and the body is returned",
			cat([]byte("\x00\x00\x00\x0c00x1<a/>"), frame(t, 2, a)), 0,
			[]result{{xml: a, is: ErrBadInvokeID}, {id: 2, xml: a}, {is: io.EOF, stop: true}}},
		{"length below header loses framing, and it sticks",
			cat([]byte("\x00\x00\x00\x050001"), frame(t, 2, a)), 0,
			[]result{{is: ErrFramingLost, stop: true}}},
		{"nonzero bytes 0-1 lose framing",
			cat([]byte("<?xml ve"), frame(t, 2, a)), 0,
			[]result{{is: ErrFramingLost, stop: true}}},
		{"32-bit length style header loses framing",
			[]byte("\x00\x01\x00\x0c0001<a/>"), 0,
			[]result{{is: ErrFramingLost, stop: true}}},
		{"over the limit is skipped, the next frame reads",
			cat(frame(t, 3, strings.Repeat("x", 100)), frame(t, 4, a)), 50,
			[]result{{id: 3, is: ErrFrameTooLarge}, {id: 4, xml: a}, {is: io.EOF, stop: true}}},
		{"limit above MaxFrame means MaxFrame",
			frame(t, 5, a), 1 << 20,
			[]result{{id: 5, xml: a}, {is: io.EOF, stop: true}}},
		{"EOF inside header",
			[]byte("\x00\x00\x00"), 0,
			[]result{{is: io.ErrUnexpectedEOF, stop: true}}},
		{"EOF inside body",
			frame(t, 6, a)[:10], 0,
			[]result{{is: io.ErrUnexpectedEOF, stop: true}}},
		{"EOF inside a skipped body",
			frame(t, 6, strings.Repeat("x", 100))[:20], 50,
			[]result{{is: io.ErrUnexpectedEOF, stop: true}}},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			name := tt.name
			var r io.Reader = bytes.NewReader(tt.input)
			if oneByte {
				name += "/one byte reads"
				r = iotest.OneByteReader(r)
			}
			t.Run(name, func(t *testing.T) {
				fr := NewFrameReader(r)
				fr.Limit = tt.limit
				got := readAll(fr, 10)
				if len(got) != len(tt.want) {
					t.Fatalf("got %d results %+v, want %+v", len(got), got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("Next #%d = %+v, want %+v", i, got[i], tt.want[i])
					}
				}
				// A fatal error sticks.
				last := got[len(got)-1]
				if last.stop {
					_, _, err := fr.Next()
					if !errors.Is(err, last.is) {
						t.Errorf("after a fatal error Next = %v, want %v again", err, last.is)
					}
				}
			})
		}
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// flaky fails its first read with a timeout, then reads normally.
type flaky struct {
	r      io.Reader
	failed bool
}

var errTimeout = errors.New("i/o timeout")

func (f *flaky) Read(p []byte) (int, error) {
	if !f.failed {
		f.failed = true
		return 0, errTimeout
	}
	return f.r.Read(p)
}

func TestFrameReaderErrorAtBoundaryDoesNotStick(t *testing.T) {
	fr := NewFrameReader(&flaky{r: bytes.NewReader(frame(t, 1, "<a/>"))})
	if _, _, err := fr.Next(); !errors.Is(err, errTimeout) || Recoverable(err) {
		t.Fatalf("first Next = %v, want the timeout, not recoverable", err)
	}
	if id, doc, err := fr.Next(); err != nil || id != 1 || string(doc) != "<a/>" {
		t.Fatalf("second Next = %d %q %v", id, doc, err)
	}
}

func TestFrameReaderReturnsFreshSlices(t *testing.T) {
	fr := NewFrameReader(bytes.NewReader(cat(frame(t, 1, "<a/>"), frame(t, 2, "<b/>"))))
	_, first, _ := fr.Next()
	_, _, _ = fr.Next()
	if string(first) != "<a/>" {
		t.Fatalf("first frame overwritten: %q", first)
	}
}

// TestFrameVectors runs every raw stream under testdata/frames/ through FrameReader and
// Decode and compares the outcome with the .golden file beside it (go test -update).
func TestFrameVectors(t *testing.T) {
	files, err := globNonEmpty(t, "testdata/frames/*.bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, strings.TrimSuffix(path, ".bin")+".golden", []byte(describeStream(data)))
		})
	}
}

// describeStream is what a server loop does with a stream, one line per Recv.
func describeStream(data []byte) string {
	var sb strings.Builder
	fr := NewFrameReader(bytes.NewReader(data))
	for range 100 {
		id, doc, err := fr.Next()
		if err == nil {
			var m Message
			m, err = Decode(doc)
			if err == nil {
				sb.WriteString(padID(id) + " " + Summary(m) + "\n")
				continue
			}
		}
		if Recoverable(err) {
			sb.WriteString(padID(id) + " recoverable: " + err.Error() + "\n")
			continue
		}
		sb.WriteString("end: " + err.Error() + "\n")
		break
	}
	return sb.String()
}

func padID(id int) string {
	b, _ := AppendFrame(nil, id, nil)
	return string(b[4:8])
}

func TestSummarizeFrames(t *testing.T) {
	est := examples[10]
	doc, _ := Encode(est)
	ms, _ := Encode(MonitorStart{Device: "1001"})
	tests := []struct {
		name string
		in   []byte
		want []string
	}{
		{"nothing", nil, nil},
		{"two frames", cat(frame(t, 1, string(ms)), frame(t, 9999, string(doc))),
			[]string{"0001 MonitorStart 1001", "9999 EstablishedEvent 1001→1002 call " + call42}},
		{"malformed then good", cat(frame(t, 2, "<oops"), frame(t, 3, string(ms))),
			[]string{"0002 malformed: XML is not well formed: XML syntax error on line 1: unexpected EOF: invalid message", "0003 MonitorStart 1001"}},
		{"unsupported", frame(t, 4, `<MakeCall xmlns="`+Namespace+`"/>`),
			[]string{"0004 <MakeCall> is not a message this lab speaks: unsupported message"}},
		{"bad invokeID shows quoted", []byte("\x00\x00\x00\x08ab\x00d"),
			[]string{`"ab\x00d" malformed: document has no root element: invalid message`}},
		{"partial frame", frame(t, 5, string(ms))[:20],
			[]string{"0005 partial CSTA frame (20 of " + strconv.Itoa(HeaderLen+len(ms)) + " bytes)"}},
		{"partial header", []byte{0, 0, 1},
			[]string{"partial CSTA header (3 of 8 bytes)"}},
		{"framing lost", []byte("<?xml version"),
			[]string{"CSTA framing lost: header 3c 3f 78 6d 6c 20 76 65"}},
		{"short length", []byte("\x00\x00\x00\x020001"),
			[]string{"CSTA framing lost: length 2 in header 00 00 00 02 30 30 30 31"}},
		// CSTA over TLS (port 8883): the records as they crossed the wire.
		{"TLS records", cat([]byte{22, 3, 1, 0, 2, 1, 0}, []byte{20, 3, 3, 0, 1, 1}, []byte{23, 3, 3, 0, 3, 9, 9, 9}),
			[]string{"TLS handshake (2 bytes)", "TLS change cipher spec (1 bytes)", "TLS application data (CSTA, 3 bytes)"}},
		{"TLS partial record", []byte{23, 3, 3, 1, 0, 9, 9},
			[]string{"TLS application data (partial record, 2 of 256 bytes)"}},
		{"TLS then junk", []byte{21, 3, 3, 0, 2, 2, 40, 0, 0},
			[]string{"TLS alert (2 bytes)", "TLS record header lost (2 bytes)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SummarizeFrames(tt.in)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("SummarizeFrames =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
