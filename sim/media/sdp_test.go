package media

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestSDPVectors parses every testdata/sdp/<kind>/*.sdp with the parser of
// its kind and checks the result against the .golden beside it. Files named
// ok_* must parse and bad_* must not.
func TestSDPVectors(t *testing.T) {
	parsers := map[string]func([]byte) (any, error){
		"call":             func(b []byte) (any, error) { return ParseCall(b) },
		"recording_offer":  func(b []byte) (any, error) { return ParseRecordingOffer(b) },
		"recording_answer": func(b []byte) (any, error) { return ParseRecordingAnswerMedia(b) },
	}
	for kind, parse := range parsers {
		files, err := filepath.Glob(filepath.Join("testdata", "sdp", kind, "*.sdp"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no vectors for %s: %v", kind, err)
		}
		for _, file := range files {
			name := strings.TrimSuffix(filepath.Base(file), ".sdp")
			t.Run(kind+"/"+name, func(t *testing.T) {
				body, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				got, err := parse(body)
				var out string
				if err != nil {
					out = "error: " + err.Error() + "\n"
				} else {
					out = fmt.Sprintf("%+v\n", got)
				}
				switch {
				case strings.HasPrefix(name, "ok_") && err != nil:
					t.Errorf("want success, got %v", err)
				case strings.HasPrefix(name, "bad_") && err == nil:
					t.Errorf("want an error, got %s", out)
				case err != nil && !strings.HasPrefix(err.Error(), "sdp: "):
					t.Errorf("error %q lacks the sdp: prefix", err)
				}
				golden(t, filepath.Join("sdp", kind, name+".golden"), []byte(out))
			})
		}
	}
}

var (
	phoneA   = netip.MustParseAddr("127.20.1.1")
	phoneB   = netip.MustParseAddr("127.20.1.2")
	recorder = netip.MustParseAddr("127.20.0.2")
)

func TestBuildGolden(t *testing.T) {
	offer := RecordingOffer{
		SessionID: 1001, SessionVersion: 1, Origin: recorder,
		TX: netip.AddrPortFrom(recorder, 20000), RX: netip.AddrPortFrom(recorder, 20002),
	}
	callOffer := must(CallOffer(42, phoneA, 40000, []Codec{PCMA, PCMU}))
	cases := map[string][]byte{
		"call_offer.sdp":       callOffer,
		"call_offer_pcmu.sdp":  must(CallOffer(42, phoneA, 40000, []Codec{PCMU})),
		"call_offer_ipv6.sdp":  must(CallOffer(42, netip.MustParseAddr("fd00::1"), 40000, []Codec{PCMA})),
		"call_answer.sdp":      must(CallAnswer(must(ParseCall(callOffer)), 43, phoneB, 40002)),
		"recording_offer.sdp":  must(BuildRecordingOffer(offer)),
		"recording_answer.sdp": must(BuildRecordingAnswer(offer, 7, phoneA, 40010, 40012, PCMA)),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			if !bytes.HasSuffix(body, []byte("\r\n")) || bytes.Contains(bytes.ReplaceAll(body, []byte("\r\n"), nil), []byte("\n")) {
				t.Errorf("body does not use CRLF line ends:\n%q", body)
			}
			golden(t, filepath.Join("sdp", "build", name), body)
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCallRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		ip     netip.Addr
		port   uint16
		codecs []Codec
		want   Codec
	}{
		{"pcma first", phoneA, 40000, []Codec{PCMA, PCMU}, PCMA},
		{"pcmu first still picks pcma", phoneA, 40000, []Codec{PCMU, PCMA}, PCMA},
		{"pcmu only", phoneA, 40002, []Codec{PCMU}, PCMU},
		{"ipv6", netip.MustParseAddr("fd00::7"), 40004, []Codec{PCMA}, PCMA},
		{"v4-mapped is written as v4", netip.MustParseAddr("::ffff:127.20.1.9"), 40006, []Codec{PCMA}, PCMA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := CallOffer(99, tt.ip, tt.port, tt.codecs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseCall(body)
			if err != nil {
				t.Fatal(err)
			}
			want := CallMedia{
				Remote: netip.AddrPortFrom(tt.ip.Unmap(), tt.port), Codec: tt.want,
				Direction: SendRecv, SessionID: 99, TelephoneEvent: TelephoneEventPT,
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseCall(CallOffer) = %+v, want %+v", got, want)
			}
			answer, err := CallAnswer(got, 100, phoneB, 41000)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseCall(answer)
			if err != nil {
				t.Fatal(err)
			}
			wantBack := CallMedia{Remote: netip.AddrPortFrom(phoneB, 41000), Codec: tt.want, Direction: SendRecv, SessionID: 100, TelephoneEvent: TelephoneEventPT}
			if !reflect.DeepEqual(back, wantBack) {
				t.Errorf("ParseCall(CallAnswer) = %+v, want %+v", back, wantBack)
			}
		})
	}
}

func TestCallAnswerMirrorsDirection(t *testing.T) {
	for offered, want := range map[string]string{SendRecv: SendRecv, SendOnly: RecvOnly, RecvOnly: SendOnly, Inactive: Inactive} {
		body, err := CallAnswer(CallMedia{Codec: PCMU, Direction: offered}, 1, phoneA, 40000)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseCall(body)
		if err != nil {
			t.Fatal(err)
		}
		if got.Direction != want || got.Codec != PCMU || got.TelephoneEvent != 0 {
			t.Errorf("answer to %s: %+v, want direction %s, PCMU, no telephone-event", offered, got, want)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	okOffer := RecordingOffer{Origin: recorder, TX: netip.AddrPortFrom(recorder, 20000), RX: netip.AddrPortFrom(recorder, 20002)}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"offer no ip", second(CallOffer(1, netip.Addr{}, 40000, []Codec{PCMA})), "sdp: call offer address is not set"},
		{"offer port 0", second(CallOffer(1, phoneA, 0, []Codec{PCMA})), "sdp: call offer port is 0"},
		{"offer no codecs", second(CallOffer(1, phoneA, 40000, nil)), "sdp: codec list is empty"},
		{"offer bad codec", second(CallOffer(1, phoneA, 40000, []Codec{18})), "sdp: codec pt18 is neither PCMA nor PCMU"},
		{"offer dup codec", second(CallOffer(1, phoneA, 40000, []Codec{PCMA, PCMA})), "sdp: codec PCMA is listed twice"},
		{"offer zone", second(CallOffer(1, netip.MustParseAddr("fe80::1%lo"), 40000, []Codec{PCMA})), "has a zone"},
		{"answer bad codec", second(CallAnswer(CallMedia{Codec: 3}, 1, phoneA, 40000)), "sdp: call answer codec pt3"},
		{"answer bad direction", second(CallAnswer(CallMedia{Codec: PCMA, Direction: "both"}, 1, phoneA, 40000)), `offered direction "both"`},
		{"rec offer no origin", second(BuildRecordingOffer(RecordingOffer{TX: okOffer.TX, RX: okOffer.RX})), "sdp: recording offer origin address is not set"},
		{"rec offer rx port 0", second(BuildRecordingOffer(RecordingOffer{Origin: recorder, TX: okOffer.TX, RX: netip.AddrPortFrom(recorder, 0)})), "sdp: recording offer rx port is 0"},
		{"rec offer bad codec", second(BuildRecordingOffer(RecordingOffer{Origin: recorder, TX: okOffer.TX, RX: okOffer.RX, Codecs: []Codec{PCMA, 9}})), "sdp: codec pt9"},
		{"rec answer codec not offered", second(BuildRecordingAnswer(RecordingOffer{Codecs: []Codec{PCMU}}, 1, phoneA, 1, 2, PCMA)), "sdp: recording answer codec PCMA is not among the offered PCMU"},
		{"rec answer tx port 0", second(BuildRecordingAnswer(okOffer, 1, phoneA, 0, 2, PCMA)), "sdp: recording answer tx port is 0"},
		{"rec answer invalid codec", second(BuildRecordingAnswer(okOffer, 1, phoneA, 1, 2, 101)), "telephone-event is neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", tt.err, tt.want)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

func TestRecordingRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		offer RecordingOffer
		want  []Codec
	}{
		{"defaults", RecordingOffer{SessionID: 5, SessionVersion: 1, Origin: recorder,
			TX: netip.AddrPortFrom(recorder, 20000), RX: netip.AddrPortFrom(recorder, 20002)}, []Codec{PCMA, PCMU}},
		{"pcmu first", RecordingOffer{SessionID: 6, SessionVersion: 3, Origin: recorder,
			TX: netip.AddrPortFrom(recorder, 20004), RX: netip.AddrPortFrom(recorder, 20006), Codecs: []Codec{PCMU, PCMA}}, []Codec{PCMU, PCMA}},
		{"split addresses", RecordingOffer{SessionID: 1<<63 + 1, SessionVersion: 2, Origin: recorder,
			TX: netip.AddrPortFrom(recorder, 20008), RX: netip.MustParseAddrPort("127.20.0.3:20010"), Codecs: []Codec{PCMA}}, []Codec{PCMA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := BuildRecordingOffer(tt.offer)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseRecordingOffer(body)
			if err != nil {
				t.Fatalf("%v\n%s", err, body)
			}
			want := tt.offer
			want.Codecs = tt.want
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseRecordingOffer = %+v, want %+v", got, want)
			}
			for _, codec := range tt.want {
				answer, err := BuildRecordingAnswer(got, 77, phoneA, 40010, 40012, codec)
				if err != nil {
					t.Fatal(err)
				}
				c, err := ParseRecordingAnswer(answer)
				if err != nil || c != codec {
					t.Errorf("ParseRecordingAnswer = %v, %v, want %v", c, err, codec)
				}
				m, err := ParseRecordingAnswerMedia(answer)
				wantM := RecordingAnswer{SessionID: 77, TX: netip.AddrPortFrom(phoneA, 40010), RX: netip.AddrPortFrom(phoneA, 40012), Codec: codec}
				if err != nil || m != wantM {
					t.Errorf("ParseRecordingAnswerMedia = %+v, %v, want %+v", m, err, wantM)
				}
				// An answer is not an offer, and the other way round.
				if _, err := ParseRecordingOffer(answer); err == nil || !strings.Contains(err.Error(), "direction sendonly, want recvonly") {
					t.Errorf("ParseRecordingOffer(answer) error %v", err)
				}
			}
			if _, err := ParseRecordingAnswer(body); err == nil || !strings.Contains(err.Error(), "direction recvonly, want sendonly") {
				t.Errorf("ParseRecordingAnswer(offer) error %v", err)
			}
		})
	}
}

func TestParseErrorUnwraps(t *testing.T) {
	_, err := ParseCall([]byte("v=0\nx"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Unwrap() == nil {
		t.Fatalf("error %v is not a *ParseError", err)
	}
	if strings.Count(err.Error(), "sdp:") != 1 {
		t.Errorf("error %q repeats the sdp: prefix", err)
	}
}

func TestParseSDPBodyLimit(t *testing.T) {
	body := append([]byte("v=0\r\n"), bytes.Repeat([]byte("a=x\r\n"), maxSDPSize/5+1)...)
	if _, err := ParseCall(body); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("error %v, want a size error", err)
	}
}
