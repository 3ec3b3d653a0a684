package lab

import (
	"strings"
	"testing"
)

// Spec §1.3: a lab file's srtp settings reach the phones' configuration
// files and the recorder; a bad suite or key source is refused by Check.
func TestLabFileSRTP(t *testing.T) {
	src := `lab:
  srtp: AEAD_AES_128_GCM
  recorder: {srtp-keys: sdp}
  phones:
    - {name: "7434", ext: "1001", model: "7434", password: a}
    - {name: 6867i, ext: "1002", model: 6867i, password: b, srtp: "off"}
`
	lf, err := ParseLabFile("srtp.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tp := lf.Topology
	if tp.SRTP != "AEAD_AES_128_GCM" || tp.Recorder.SRTPKeys != "sdp" || tp.Phones[1].SRTP != "off" {
		t.Fatalf("topology: srtp %q, recorder %q, phones %+v", tp.SRTP, tp.Recorder.SRTPKeys, tp.Phones)
	}
	if err := Check(tp); err != nil {
		t.Fatalf("Check: %v", err)
	}
	on := string(phoneConfig(tp.Phones[0], mustAddr("127.20.1.1"), tp))
	off := string(phoneConfig(tp.Phones[1], mustAddr("127.20.1.2"), tp))
	if !strings.Contains(on, "sip srtp mode: 1\nsip srtp crypto suite: AEAD_AES_128_GCM\n") || !strings.Contains(off, "sip srtp mode: 0\n") || strings.Contains(off, "crypto suite") {
		t.Errorf("configuration files:\n%s\n%s", on, off)
	}
	bad := tp
	bad.SRTP = "AES_256_CM_HMAC_SHA1_80"
	if err := Check(bad); err == nil || !strings.Contains(err.Error(), `lab: srtp: media: crypto suite "AES_256_CM_HMAC_SHA1_80"`) {
		t.Errorf("Check with a bad suite: %v", err)
	}
	bad = tp
	bad.Recorder.SRTPKeys = "cti"
	if err := Check(bad); err == nil || !strings.Contains(err.Error(), `unknown srtp-keys "cti"`) {
		t.Errorf("Check with a bad key source: %v", err)
	}
}
