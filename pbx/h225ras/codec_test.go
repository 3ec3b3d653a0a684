package h225ras

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, v := range vectors() {
		b, err := Encode(v.msg)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: decode % x: %v", v.name, b, err)
		}
		if !reflect.DeepEqual(got, v.msg) {
			t.Errorf("%s: round trip\n got %#v\nwant %#v", v.name, got, v.msg)
		}
	}
}

// A newer endpoint's RRQ: extension additions after maintainConnection
// (supportsAltGK, multipleCalls, supportsAssignedGK) are skipped by Decode,
// and tshark shows them, so the vector is a real one.
func TestDecodeSkipsLaterExtensions(t *testing.T) {
	var rrq *RRQ
	for _, v := range vectors() {
		if v.name == "rrq-keepalive" {
			rrq = v.msg.(*RRQ)
		}
	}
	w := &writer{}
	w.bit(false)
	w.constrained(uint64(KindRRQ), 0, rasMessageRoot-1)
	if err := encodeRRQWith(w, rrq, map[int][]byte{12: {0}, 14: {0x80}, 23: {0}}); err != nil {
		t.Fatal(err)
	}
	b := w.bytes()
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !reflect.DeepEqual(got, Message(rrq)) {
		t.Errorf("got %#v\nwant %#v", got, rrq)
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatalf("tshark is needed: %v", err)
	}
	path := filepath.Join(t.TempDir(), "later.pcap")
	if err := writePcap(path, []vector{{from: phoneRAS, to: gkRAS}}, [][]byte{b}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-r", path, "-V", "-O", "h225").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	for _, w := range []string{"supportsAltGK", "multipleCalls: True", "supportsAssignedGK: False", "keepAlive: True"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("tshark's decode lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(string(out), "Malformed") {
		t.Errorf("tshark: malformed:\n%s", out)
	}
}

func TestDecodeUnsupportedAndMalformed(t *testing.T) {
	// An ARQ (root alternative 9) is RAS, not ours.
	if _, err := Decode([]byte{9 << 2, 0, 0}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "ARQ") {
		t.Errorf("ARQ: %v, want ErrUnsupported naming ARQ", err)
	}
	good, err := Encode(vectors()[3].msg) // the RRQ
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(good); i++ {
		_, err := Decode(good[:i])
		if err == nil {
			t.Errorf("a %d-byte prefix of a %d-byte RRQ decoded", i, len(good))
			continue
		}
		if !strings.HasPrefix(err.Error(), "h225ras: decode") {
			t.Errorf("prefix %d: error %q does not name the package and step", i, err)
		}
	}
	if _, err := Decode(nil); err == nil {
		t.Error("an empty datagram decoded")
	}
}

func TestEncodeRefusesBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		m    Message
		want string
	}{
		"digit":     {&GRQ{RequestSeqNum: 1, Protocol: ProtocolV4, RASAddress: phoneRAS, EndpointAlias: []Alias{Digits("10a1")}}, `dialledDigits "10a1": 'a' is not one of`},
		"seq":       {&UCF{}, "requestSeqNum 0"},
		"empty id":  {&RCF{RequestSeqNum: 1, Protocol: ProtocolV4, CallSignal: nil}, "endpointIdentifier"},
		"no signal": {&URQ{RequestSeqNum: 1}, "callSignalAddress needs an address"},
		"ipv6":      {&GCF{RequestSeqNum: 1, Protocol: ProtocolV4, RASAddress: netipV6}, "not an IPv4 address"},
	} {
		_, err := Encode(tc.m)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}

// The vectors as files, for anyone checking them with other tools:
// testdata/NAME.bin, rewritten with -rewrite... kept in step by this test.
func TestVectorFiles(t *testing.T) {
	for _, v := range vectors() {
		b, err := Encode(v.msg)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", v.name+".bin")
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		if string(want) != string(b) {
			t.Errorf("%s: encoding % x differs from %s % x", v.name, b, path, want)
		}
	}
}
