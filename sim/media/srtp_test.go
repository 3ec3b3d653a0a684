package media

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

// Spec §1.3: every suite protects and unprotects a G.711 packet, a wrong
// key fails authentication, and neither direction allocates per packet.
func TestSRTPRoundTripEverySuite(t *testing.T) {
	for _, name := range CryptoSuites() {
		t.Run(name, func(t *testing.T) {
			suite, err := ParseCryptoSuite(name)
			if err != nil {
				t.Fatal(err)
			}
			key, err := NewSDESKey(1, suite)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseCryptoAttribute(key.Attribute())
			if err != nil || !bytes.Equal(back.Key, key.Key) || !bytes.Equal(back.Salt, key.Salt) || back.Suite != suite {
				t.Fatalf("ParseCryptoAttribute(%q) = %v, %v", key.Attribute(), back, err)
			}
			tx, _ := NewSRTP(key)
			rx, _ := NewSRTP(key)
			wrongKey, _ := NewSDESKey(1, suite)
			wrong, _ := NewSRTP(wrongKey)
			snd := NewSender(0x1234, 1, 0, PCMA)
			pcm := make([]int16, FrameSamples)
			NewTone(ToneFrequency(2), 8000).Next(pcm)
			plain := make([]byte, 0, 1500)
			enc := make([]byte, 1500)
			dec := make([]byte, 1500)
			for i := range 3 {
				pkt := snd.EncodePacket(plain, pcm, i == 0)
				s, err := tx.Protect(enc, pkt)
				if err != nil {
					t.Fatal(err)
				}
				if len(s) != len(pkt)+tx.Overhead() || bytes.Equal(s[HeaderSize:len(pkt)], pkt[HeaderSize:]) {
					t.Fatalf("protected packet of %d bytes from %d, payload in the clear: %v", len(s), len(pkt), bytes.Equal(s[HeaderSize:len(pkt)], pkt[HeaderSize:]))
				}
				p, err := rx.Unprotect(dec, s)
				if err != nil || !bytes.Equal(p, pkt) {
					t.Fatalf("Unprotect = %x, %v; want %x", p, err, pkt)
				}
				if _, err := wrong.Unprotect(dec, s); err == nil {
					t.Fatal("a wrong key unprotected the packet")
				}
			}
			pkt := snd.EncodePacket(plain, pcm, false)
			allocs := testing.AllocsPerRun(100, func() {
				pkt = snd.EncodePacket(plain, pcm, false)
				s, _ := tx.Protect(enc, pkt)
				if _, err := rx.Unprotect(dec, s); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("protect+unprotect allocate %.1f times a packet", allocs)
			}
		})
	}
}

// A receiver that joins a stream after its sequence wrapped (a recorder's
// fork of a call already talking) finds the rollover the sender is at and
// keeps it, across the next wrap too; one that saw the stream from its
// start needs no guess; a wrong key still fails every packet.
func TestSRTPLateJoinerAfterRollover(t *testing.T) {
	for _, name := range CryptoSuites() {
		t.Run(name, func(t *testing.T) {
			suite, _ := ParseCryptoSuite(name)
			key, _ := NewSDESKey(1, suite)
			wrongKey, _ := NewSDESKey(1, suite)
			tx, _ := NewSRTP(key)
			early, _ := NewSRTP(key)
			late, _ := NewSRTP(key)
			wrong, _ := NewSRTP(wrongKey)
			snd := NewSender(0x4242, 65500, 0, PCMA) // wraps after 36 packets
			pcm := make([]int16, FrameSamples)
			plain, enc, dec := make([]byte, 0, 1500), make([]byte, 1500), make([]byte, 1500)
			lateOK, wrongOK := 0, 0
			for i := range 65536 + 200 { // and on past the second wrap
				pkt := snd.EncodePacket(plain, pcm, false)
				s, err := tx.Protect(enc, pkt)
				if err != nil {
					t.Fatal(err)
				}
				if i%500 == 0 || i < 200 || i > 65536 {
					if p, err := early.Unprotect(dec, s); err != nil || !bytes.Equal(p, pkt) {
						t.Fatalf("packet %d (seq %d) from the start: %v", i, binary.BigEndian.Uint16(pkt[2:]), err)
					}
				}
				if i < 100 {
					continue // the late receiver joins at the 100th packet, seq 64
				}
				if i%500 == 0 || i < 200 || i > 65536 {
					p, err := late.Unprotect(dec, s)
					if err != nil || !bytes.Equal(p, pkt) {
						t.Fatalf("packet %d (seq %d) joined late: %v", i, binary.BigEndian.Uint16(pkt[2:]), err)
					}
					lateOK++
					if _, err := wrong.Unprotect(dec, s); err == nil {
						wrongOK++
					}
				}
			}
			if lateOK == 0 || wrongOK != 0 {
				t.Errorf("joined late: %d decrypted; a wrong key decrypted %d", lateOK, wrongOK)
			}
		})
	}
}

func TestSRTPCallSDP(t *testing.T) {
	ip := netip.MustParseAddr("127.20.1.1")
	key, _ := NewSDESKey(1, AEADAES128GCM)
	offer, err := CallOfferSRTP(5, ip, 40000, []Codec{PCMA, PCMU}, SecureMedia{Key: key, SSRC: 99, CNAME: "1001@127.20.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"RTP/SAVP 8 0 101", "a=crypto:1 AEAD_AES_128_GCM inline:" + key.Inline(), "a=ssrc:99 cname:1001@127.20.1.1"} {
		if !strings.Contains(string(offer), want) {
			t.Errorf("offer lacks %q:\n%s", want, offer)
		}
	}
	m, err := ParseCall(offer)
	if err != nil || !m.Secure || m.SSRC != 99 || !bytes.Equal(m.Key.Key, key.Key) {
		t.Fatalf("ParseCall = %+v, %v", m, err)
	}
	if _, err := CallAnswer(m, 6, ip, 40002); err == nil {
		t.Error("CallAnswer answered an SRTP offer in the clear")
	}
	other, _ := NewSDESKey(1, AESCM128HMACSHA180)
	if _, err := CallAnswerSRTP(m, 6, ip, 40002, SecureMedia{Key: other}); err == nil {
		t.Error("CallAnswerSRTP took a key of another suite")
	}
	mine, _ := NewSDESKey(1, AEADAES128GCM)
	ans, err := CallAnswerSRTP(m, 6, ip, 40002, SecureMedia{Key: mine, SSRC: 7, CNAME: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := ParseCall(ans); err != nil || !a.Secure || !bytes.Equal(a.Key.Key, mine.Key) || a.SSRC != 7 {
		t.Fatalf("answer parses as %+v, %v", a, err)
	}
}

// The lab's own mode: a recorder offers the keys the forks are encrypted
// with; the phone's answer takes them back.
func TestSRTPRecordingSDP(t *testing.T) {
	rec := netip.MustParseAddr("127.20.0.2")
	txKey, _ := NewSDESKey(1, AESCM128HMACSHA180)
	rxKey, _ := NewSDESKey(1, AESCM128HMACSHA180)
	o := RecordingOffer{SessionID: 1, SessionVersion: 1, Origin: rec, TX: netip.AddrPortFrom(rec, 20000), RX: netip.AddrPortFrom(rec, 20002), TXKey: txKey, RXKey: rxKey}
	body, err := BuildRecordingOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(body), "RTP/SAVP") != 2 || strings.Count(string(body), "a=crypto:") != 2 {
		t.Fatalf("offer:\n%s", body)
	}
	back, err := ParseRecordingOffer(body)
	if err != nil || !back.Secure() || !bytes.Equal(back.TXKey.Key, txKey.Key) || !bytes.Equal(back.RXKey.Key, rxKey.Key) {
		t.Fatalf("ParseRecordingOffer = %+v, %v", back, err)
	}
	ans, err := BuildRecordingAnswer(back, 2, netip.MustParseAddr("127.20.1.1"), 40000, 40000, PCMA)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseRecordingAnswerMedia(ans)
	if err != nil || !a.Secure {
		t.Fatalf("answer %+v, %v:\n%s", a, err, ans)
	}
	o.RXKey = SDESKey{}
	if _, err := BuildRecordingOffer(o); err == nil {
		t.Error("an offer with one key was built")
	}
	// MX-ONE's way: RTP/SAVP with no keys, which come over CSTA.
	o.TXKey, o.SAVP = SDESKey{}, true
	body, err = BuildRecordingOffer(o)
	if err != nil || strings.Count(string(body), "RTP/SAVP") != 2 || strings.Contains(string(body), "a=crypto") {
		t.Fatalf("keyless SAVP offer %v:\n%s", err, body)
	}
	back, err = ParseRecordingOffer(body)
	if err != nil || !back.SAVP || back.Secure() {
		t.Fatalf("ParseRecordingOffer = %+v, %v", back, err)
	}
	ans, _ = BuildRecordingAnswer(back, 2, netip.MustParseAddr("127.20.1.1"), 40000, 40000, PCMA)
	if a, err := ParseRecordingAnswerMedia(ans); err != nil || !a.Secure || strings.Contains(string(ans), "a=crypto") {
		t.Fatalf("answer %+v, %v:\n%s", a, err, ans)
	}
}
