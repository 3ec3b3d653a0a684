package h225ras

import (
	"flag"
	"net/netip"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bin")

var netipV6 = netip.MustParseAddrPort("[::1]:1719")

// FuzzDecode: no input panics, and whatever decodes encodes and decodes to
// the same value.
func FuzzDecode(f *testing.F) {
	for _, v := range vectors() {
		b, err := Encode(v.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		Summary(m)
		enc, err := Encode(m)
		if err != nil {
			return // decodable but not writable (an IPv6 address, an extension reason)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded % x does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip of a decoded message changed it:\n%#v\n%#v", m, m2)
		}
	})
}
