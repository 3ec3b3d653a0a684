package media

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// Encrypted calls (spec §1.3: recording "requires CSTA support, especially
// if voice media encryption is used"). Keys travel in the SDP as RFC 4568
// SDES (`a=crypto`, proto RTP/SAVP); pion/srtp does the cipher work. Nothing
// here is hand-written crypto.

// CryptoSuite is an SRTP crypto suite a phone can offer (RFC 4568 §6.2,
// RFC 7714 §12). The zero value is no SRTP.
type CryptoSuite uint8

const (
	// SuiteNone is plain RTP.
	SuiteNone CryptoSuite = iota
	// AESCM128HMACSHA180 is AES_CM_128_HMAC_SHA1_80 (RFC 4568 §6.2.1), the default.
	AESCM128HMACSHA180
	// AEADAES128GCM is AEAD_AES_128_GCM (RFC 7714 §12).
	AEADAES128GCM
	// AEADAES256GCM is AEAD_AES_256_GCM (RFC 7714 §12).
	AEADAES256GCM
)

var suiteNames = [...]string{"none", "AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM", "AEAD_AES_256_GCM"}

var suiteProfiles = [...]srtp.ProtectionProfile{0, srtp.ProtectionProfileAes128CmHmacSha1_80,
	srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm}

// String is the suite's SDP name, e.g. "AES_CM_128_HMAC_SHA1_80", or
// "none".
func (s CryptoSuite) String() string {
	if int(s) < len(suiteNames) {
		return suiteNames[s]
	}
	return fmt.Sprintf("CryptoSuite(%d)", uint8(s))
}

// Valid reports whether s is one of the SRTP suites (not SuiteNone).
func (s CryptoSuite) Valid() bool { return s > SuiteNone && int(s) < len(suiteNames) }

// CryptoSuites lists the SRTP suites by name, the default first.
func CryptoSuites() []string { return append([]string(nil), suiteNames[1:]...) }

// ParseCryptoSuite reads a suite name as SDP writes it (case-insensitive);
// "none", "off" and "" are SuiteNone.
func ParseCryptoSuite(name string) (CryptoSuite, error) {
	switch strings.ToLower(name) {
	case "", "none", "off":
		return SuiteNone, nil
	}
	for i, n := range suiteNames[1:] {
		if strings.EqualFold(name, n) {
			return CryptoSuite(i + 1), nil
		}
	}
	return SuiteNone, fmt.Errorf("media: crypto suite %q is not one of %s", name, strings.Join(CryptoSuites(), ", "))
}

// KeyLen and SaltLen are the suite's master key and salt lengths in bytes
// (16/14 for AES_CM_128, 16/12 and 32/12 for the GCM suites).
func (s CryptoSuite) KeyLen() int {
	if !s.Valid() {
		return 0
	}
	n, _ := suiteProfiles[s].KeyLen()
	return n
}

// SaltLen: see KeyLen.
func (s CryptoSuite) SaltLen() int {
	if !s.Valid() {
		return 0
	}
	n, _ := suiteProfiles[s].SaltLen()
	return n
}

// SDESKey is one `a=crypto` line (RFC 4568 §9.1): tag, suite and the
// inline master key and salt. The key in a side's SDP is the one that side
// encrypts what it sends with (RFC 4568 §6.1).
type SDESKey struct {
	Tag   int
	Suite CryptoSuite
	Key   []byte
	Salt  []byte
}

// NewSDESKey makes a fresh random key and salt for suite, with tag.
func NewSDESKey(tag int, suite CryptoSuite) (SDESKey, error) {
	if !suite.Valid() {
		return SDESKey{}, fmt.Errorf("media: no SRTP key for suite %s", suite)
	}
	k := SDESKey{Tag: tag, Suite: suite, Key: make([]byte, suite.KeyLen()), Salt: make([]byte, suite.SaltLen())}
	if _, err := rand.Read(k.Key); err != nil {
		return SDESKey{}, fmt.Errorf("media: SRTP key: %w", err)
	}
	if _, err := rand.Read(k.Salt); err != nil {
		return SDESKey{}, fmt.Errorf("media: SRTP salt: %w", err)
	}
	return k, nil
}

// Valid reports whether the key and salt fit the suite.
func (k SDESKey) Valid() bool {
	return k.Suite.Valid() && len(k.Key) == k.Suite.KeyLen() && len(k.Salt) == k.Suite.SaltLen()
}

// Inline is the key-params' base64 of key || salt (RFC 4568 §6.1).
func (k SDESKey) Inline() string {
	return base64.StdEncoding.EncodeToString(append(append([]byte(nil), k.Key...), k.Salt...))
}

// Attribute is the value of the `a=crypto` line, e.g.
// "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz".
func (k SDESKey) Attribute() string {
	return fmt.Sprintf("%d %s inline:%s", k.Tag, k.Suite, k.Inline())
}

// ParseCryptoAttribute reads the value of an `a=crypto` line. A suite this
// lab does not speak is an error wrapping ErrUnknownSuite, so an answerer
// can skip it (RFC 4568 §7.1.1). Lifetime and MKI parameters are refused:
// the lab's phones never send them.
func ParseCryptoAttribute(v string) (SDESKey, error) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return SDESKey{}, fmt.Errorf("sdp: a=crypto %q: want \"tag suite inline:key\"", v)
	}
	tag, err := strconv.ParseUint(f[0], 10, 31)
	if err != nil || len(f[0]) > 9 {
		return SDESKey{}, fmt.Errorf("sdp: a=crypto %q: tag %q is not 1-9 digits", v, f[0])
	}
	suite, err := ParseCryptoSuite(f[1])
	if err != nil || !suite.Valid() {
		return SDESKey{}, fmt.Errorf("sdp: a=crypto %q: suite %q: %w", v, f[1], ErrUnknownSuite)
	}
	params, ok := strings.CutPrefix(f[2], "inline:")
	if !ok {
		return SDESKey{}, fmt.Errorf("sdp: a=crypto %q: key method %q, want inline:", v, f[2])
	}
	if strings.Contains(params, "|") || strings.Contains(params, ";") {
		return SDESKey{}, fmt.Errorf("sdp: a=crypto %q: lifetime, MKI and several keys are not supported", v)
	}
	raw, err := base64.StdEncoding.DecodeString(params)
	if err != nil {
		// RFC 4568 §6.1 base64 may come without padding.
		if raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(params, "=")); err != nil {
			return SDESKey{}, fmt.Errorf("sdp: a=crypto %q: key is not base64", v)
		}
	}
	kl, sl := suite.KeyLen(), suite.SaltLen()
	if len(raw) != kl+sl {
		return SDESKey{}, fmt.Errorf("sdp: a=crypto %q: %d bytes of key and salt, %s wants %d", v, len(raw), suite, kl+sl)
	}
	return SDESKey{Tag: int(tag), Suite: suite, Key: raw[:kl:kl], Salt: raw[kl:]}, nil
}

// ErrUnknownSuite is an `a=crypto` line of a suite this lab does not speak.
var ErrUnknownSuite = errors.New("unknown crypto suite")

// SRTP is one SRTP cryptographic context (RFC 3711 §3.2) made from an SDES
// key: it protects the packets of the streams its owner sends, or
// unprotects those it receives. One goroutine owns it. Protect and
// Unprotect do not allocate when dst has room for the packet and its tag
// (alloc_test.go): the header is parsed into a reused value.
type SRTP struct {
	key SDESKey
	ctx *srtp.Context
	hdr rtp.Header
	// authed are the SSRCs a packet authenticated of; guessed counts the
	// packets a late joiner's rollover guesses were tried on (Unprotect).
	authed  []uint32
	guessed int
}

// lateROCs is how many rollovers a receiver that joins a stream late (a
// recorder's fork begins when its session is up, a pcap's reader where
// the capture does) tries past 0: a stream's sequence wraps every 65,536
// packets, 22 minutes at 50 a second.
const lateROCs = 3

// lateGuesses bounds the packets they are tried on: a wrong key fails them
// all, and after these each packet gets one try again.
const lateGuesses = 64

// NewSRTP makes a context from k.
func NewSRTP(k SDESKey) (*SRTP, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("media: SRTP key of suite %s has %d bytes of key and %d of salt, want %d and %d",
			k.Suite, len(k.Key), len(k.Salt), k.Suite.KeyLen(), k.Suite.SaltLen())
	}
	ctx, err := srtp.CreateContext(k.Key, k.Salt, suiteProfiles[k.Suite])
	if err != nil {
		return nil, fmt.Errorf("media: SRTP context: %w", err)
	}
	return &SRTP{key: k, ctx: ctx}, nil
}

// Key is the key the context was made from.
func (s *SRTP) Key() SDESKey { return s.key }

// Overhead is how many bytes Protect adds to a packet (the auth tag).
func (s *SRTP) Overhead() int {
	if s.key.Suite == AESCM128HMACSHA180 {
		return 10
	}
	return 16 // the GCM suites' AEAD tag (RFC 7714 §7)
}

// Protect encrypts and authenticates the RTP packet pkt into dst (RFC 3711
// §3.3) and returns the SRTP packet.
func (s *SRTP) Protect(dst, pkt []byte) ([]byte, error) {
	return s.ctx.EncryptRTP(dst[:0], pkt, &s.hdr)
}

// Unprotect authenticates and decrypts the SRTP packet pkt into dst and
// returns the RTP packet; a packet that fails authentication (a wrong key,
// or not SRTP) is an error.
//
// RFC 3711 §3.3.1: a receiver starts a stream's rollover counter (ROC) at
// 0, which holds for one that sees the stream from its first packet. One
// that joins late may meet it after its sequence wrapped: until a packet
// of an SSRC authenticates, a packet that fails with ROC 0 is tried with
// ROC 1 to lateROCs too (the first lateGuesses failures of the context),
// and the ROC that authenticates it is the stream's from then on.
func (s *SRTP) Unprotect(dst, pkt []byte) ([]byte, error) {
	out, err := s.ctx.DecryptRTP(dst[:0], pkt, &s.hdr)
	if err == nil {
		if n := len(s.authed); n == 0 || s.authed[n-1] != s.hdr.SSRC {
			s.authenticated(s.hdr.SSRC) // per packet only a compare: the stream's SSRC is the last one
		}
		return out, nil
	}
	if len(pkt) < HeaderSize || s.guessed >= lateGuesses {
		return nil, err
	}
	ssrc := binary.BigEndian.Uint32(pkt[8:12])
	if s.isAuthed(ssrc) {
		return nil, err
	}
	s.guessed++
	for roc := uint32(1); roc <= lateROCs; roc++ {
		s.ctx.SetROC(ssrc, roc)
		if out, gerr := s.ctx.DecryptRTP(dst[:0], pkt, &s.hdr); gerr == nil {
			s.authenticated(ssrc)
			return out, nil
		}
	}
	s.ctx.SetROC(ssrc, 0) // as if never guessed: the next packet starts at 0 again
	return nil, err
}

func (s *SRTP) isAuthed(ssrc uint32) bool {
	for _, a := range s.authed {
		if a == ssrc {
			return true
		}
	}
	return false
}

func (s *SRTP) authenticated(ssrc uint32) {
	if !s.isAuthed(ssrc) {
		s.authed = append(s.authed, ssrc)
	}
}

// String is the key as its a=crypto value, "none" without a suite.
func (k SDESKey) String() string {
	if !k.Suite.Valid() {
		return "none"
	}
	return k.Attribute()
}
