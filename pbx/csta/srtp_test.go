package csta

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Spec §1.3: EstablishedEvent carries each SRTP stream's keys in reclab's
// private data, and reads back the same.
func TestEstablishedMediaKeysRoundTrip(t *testing.T) {
	ev := EstablishedEvent{CrossRefID: "7", CallID: "000000000000000000000042", Device: "1002", Answering: "1002",
		Calling: "1001", Called: "1002", LocalConnection: StateConnected, Cause: CauseNormal,
		Media: []MediaKey{
			{Device: "1001", SSRC: 305419896, Suite: "AES_CM_128_HMAC_SHA1_80", Key: []byte("0123456789abcdef"), Salt: []byte("0123456789abcd")},
			{Device: "1002", Suite: "AEAD_AES_256_GCM", Key: []byte("0123456789abcdef0123456789abcdef"), Salt: []byte("0123456789ab")},
		}}
	doc, err := Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<srtp xmlns="urn:reclab:csta-private:1">`, "<deviceID>1001</deviceID><ssrc>305419896</ssrc><suite>AES_CM_128_HMAC_SHA1_80</suite>"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("encoded event lacks %q:\n%s", want, doc)
		}
	}
	back, err := Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Fatalf("decoded %+v\nwant %+v", back, ev)
	}
	if s := Summary(back); !strings.HasSuffix(s, "SRTP keys ×2") {
		t.Errorf("summary %q does not mark the keys", s)
	}
	bad := strings.Replace(string(doc), "<ssrc>305419896</ssrc>", "<ssrc>x</ssrc>", 1)
	if _, err := Decode([]byte(bad)); !errors.Is(err, ErrInvalidMessage) || !strings.Contains(err.Error(), "srtp/stream[1]/ssrc") {
		t.Errorf("bad ssrc: %v", err)
	}
	ev.Media = nil
	doc, _ = Encode(ev)
	if strings.Contains(string(doc), "extensions") {
		t.Errorf("a plain call's event has private data:\n%s", doc)
	}
}
