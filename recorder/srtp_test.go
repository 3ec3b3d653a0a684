package recorder

import (
	"testing"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim/media"
)

// Spec §1.3: the keys of the EstablishedEvent decrypt ext's forks, its own
// stream's for tx and the other party's for rx; a recorder without keys,
// or with wrong ones, decrypts nothing.
func TestCallForkKeys(t *testing.T) {
	k1, _ := media.NewSDESKey(1, media.AESCM128HMACSHA180)
	k2, _ := media.NewSDESKey(1, media.AESCM128HMACSHA180)
	call := Call{ID: "000000000000000000000001", Calling: "1001", Called: "1002", Media: []csta.MediaKey{
		{Device: "1001", SSRC: 1, Suite: k1.Suite.String(), Key: k1.Key, Salt: k1.Salt},
		{Device: "1002", SSRC: 2, Suite: k2.Suite.String(), Key: k2.Key, Salt: k2.Salt},
	}}
	enc := func(k media.SDESKey) []byte {
		c, _ := media.NewSRTP(k)
		p, err := c.Protect(nil, media.NewSender(7, 1, 0, media.PCMA).Packet(nil, make([]byte, 160), true))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	from1001, from1002 := enc(k1), enc(k2)
	opens := func(c *media.SRTP, pkt []byte) bool {
		if c == nil {
			return false
		}
		_, err := c.Unprotect(nil, pkt)
		return err == nil
	}
	for _, tc := range []struct {
		mode             SRTPKeys
		ext              string
		txOpens, rxOpens bool
	}{
		{KeysCSTA, "1001", true, true},
		{KeysCSTA, "1002", true, true},
		{KeysWrong, "1001", false, false},
		{KeysNone, "1001", false, false},
	} {
		fk, err := callForkKeys(tc.mode, tc.ext, call)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.mode, tc.ext, err)
		}
		own, other := from1001, from1002
		if tc.ext == "1002" {
			own, other = from1002, from1001
		}
		if !fk.encrypted || fk.suite != media.AESCM128HMACSHA180 || opens(fk.tx, own) != tc.txOpens || opens(fk.rx, other) != tc.rxOpens {
			t.Errorf("%s %s: encrypted %v suite %s, tx opens own %v, rx opens other's %v", tc.mode, tc.ext, fk.encrypted, fk.suite, opens(fk.tx, own), opens(fk.rx, other))
		}
		if opens(fk.tx, other) {
			t.Errorf("%s %s: tx opens the other party's stream", tc.mode, tc.ext)
		}
	}
	if fk, err := callForkKeys(KeysCSTA, "1001", Call{ID: call.ID}); err != nil || fk.encrypted || fk.info() != nil {
		t.Errorf("plain call: %+v, %v", fk, err)
	}
	if _, err := callForkKeys(KeysCSTA, "1001", Call{ID: call.ID, Media: call.Media[:1]}); err == nil {
		t.Error("a call with one key only decrypts both streams")
	}
	if _, err := ParseSRTPKeys("cti"); err == nil {
		t.Error(`ParseSRTPKeys("cti") succeeded`)
	}
}
