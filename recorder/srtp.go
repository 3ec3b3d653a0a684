package recorder

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim/media"
)

// Encrypted calls (spec §1.3: recording "requires CSTA support, especially
// if voice media encryption is used"). In MX-ONE's way the phone forwards
// the call's SRTP packets byte for byte and the PBX gives the recorder each
// stream's suite, key, salt and SSRC in the EstablishedEvent's private data
// (csta.MediaKey); the sink decrypts with them. In the lab's own way the
// recorder offers keys of its own in the recording SDP and the phone
// protects the copies with those (docs/wire.md "SRTP").

// SRTPKeys is where the recorder takes the keys of encrypted forks from.
type SRTPKeys uint8

const (
	// KeysCSTA: from the EstablishedEvent (MX-ONE's way). The default.
	KeysCSTA SRTPKeys = iota
	// KeysSDP: the recorder offers a=crypto keys in its recording INVITE and
	// the phone protects the forks with them (the lab's own).
	KeysSDP
	// KeysNone: a recorder that cannot use CTI keys and offers none: an
	// encrypted call records nothing audible, and the JSON says why.
	KeysNone
	// KeysWrong: a recorder whose key store is out of step: it takes the
	// CTI keys with one bit flipped, so every packet fails authentication
	// (a demo of what a wrong key does).
	KeysWrong
)

var srtpKeysNames = [...]string{"csta", "sdp", "none", "wrong"}

func (k SRTPKeys) String() string {
	if int(k) < len(srtpKeysNames) {
		return srtpKeysNames[k]
	}
	return fmt.Sprintf("SRTPKeys(%d)", uint8(k))
}

// SRTPKeysNames lists the values ParseSRTPKeys takes.
func SRTPKeysNames() []string { return append([]string(nil), srtpKeysNames[:]...) }

// ParseSRTPKeys reads "csta" (or ""), "sdp", "none" or "wrong".
func ParseSRTPKeys(s string) (SRTPKeys, error) {
	if strings.TrimSpace(s) == "" {
		return KeysCSTA, nil
	}
	for i, n := range srtpKeysNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return SRTPKeys(i), nil
		}
	}
	return 0, fmt.Errorf("recorder: unknown srtp-keys %q; valid: %s", s, strings.Join(srtpKeysNames[:], ", "))
}

// SRTPInfo is what a recording's JSON says of its encryption: present when
// the call or its forks were encrypted.
type SRTPInfo struct {
	Keys      string `json:"keys"`  // where the keys came from: csta, sdp, none, wrong
	Suite     string `json:"suite"` // the forks' crypto suite
	Decrypted int64  `json:"decrypted"`
	// Failed counts packets that could not be decrypted (no key, or one
	// that does not authenticate): they are not in the WAV.
	Failed int64  `json:"failed,omitempty"`
	Reason string `json:"reason,omitempty"` // why audio is missing, when it is
}

// forkKeys are the SRTP contexts for one call's forks: tx for what the
// phone sends, rx for what it receives; encrypted says the forks are SRTP
// even when the keys are missing.
type forkKeys struct {
	tx, rx    *media.SRTP
	encrypted bool
	suite     media.CryptoSuite
	keys      SRTPKeys
}

// callForkKeys is what decrypts the forks of call on ext's session, from
// the EstablishedEvent's keys (spec §1.3): the key of ext's own stream for
// tx, the other party's for rx. A plain call has none.
func callForkKeys(mode SRTPKeys, ext string, call Call) (forkKeys, error) {
	fk := forkKeys{keys: mode}
	var own, other *csta.MediaKey
	for i := range call.Media {
		if k := &call.Media[i]; k.Device == ext {
			own = k
		} else if other == nil {
			other = k
		}
	}
	if own == nil && other == nil {
		return fk, nil
	}
	fk.encrypted = true
	for _, k := range []*csta.MediaKey{own, other} {
		if k != nil {
			fk.suite, _ = media.ParseCryptoSuite(k.Suite)
			break
		}
	}
	if mode == KeysNone {
		return fk, nil
	}
	newCtx := func(k *csta.MediaKey, side string) (*media.SRTP, error) {
		if k == nil {
			return nil, fmt.Errorf("the EstablishedEvent has no SRTP key for the %s stream", side)
		}
		suite, err := media.ParseCryptoSuite(k.Suite)
		if err != nil {
			return nil, fmt.Errorf("the %s stream's key: %w", side, err)
		}
		key := media.SDESKey{Suite: suite, Key: append([]byte(nil), k.Key...), Salt: append([]byte(nil), k.Salt...)}
		if mode == KeysWrong && len(key.Key) > 0 {
			key.Key[0] ^= 0x01
		}
		return media.NewSRTP(key)
	}
	var err error
	if fk.tx, err = newCtx(own, "tx"); err != nil {
		return fk, err
	}
	fk.rx, err = newCtx(other, "rx")
	return fk, err
}

// sessionForkKeys makes the keys a recorder in KeysSDP mode offers for a
// session's two forks, and their contexts.
func sessionForkKeys() (txKey, rxKey media.SDESKey, fk forkKeys, err error) {
	if txKey, err = media.NewSDESKey(1, media.AESCM128HMACSHA180); err != nil {
		return
	}
	if rxKey, err = media.NewSDESKey(1, media.AESCM128HMACSHA180); err != nil {
		return
	}
	fk = forkKeys{encrypted: true, suite: media.AESCM128HMACSHA180, keys: KeysSDP}
	if fk.tx, err = media.NewSRTP(txKey); err != nil {
		return
	}
	fk.rx, err = media.NewSRTP(rxKey)
	return
}

// info is the JSON's srtp object for these keys, before any packet.
func (fk forkKeys) info() *SRTPInfo {
	if !fk.encrypted {
		return nil
	}
	return &SRTPInfo{Keys: fk.keys.String(), Suite: fk.suite.String()}
}

// srtpState is the sink's decryption of the current call's forks; under
// sink.mu.
type srtpState struct {
	keys      forkKeys
	fixed     bool // the session's own keys (KeysSDP): calls do not change them
	buf       [2][rtpBufSize]byte
	decrypted int64
	failed    int64
	firstErr  string
}

// setKeys installs the keys of the next call, unless the session's own
// keys are fixed; the counts start again.
func (s *sink) setKeys(fk forkKeys, fixed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srtp.fixed && !fixed {
		s.srtp.decrypted, s.srtp.failed, s.srtp.firstErr = 0, 0, ""
		return
	}
	s.srtp.keys, s.srtp.fixed = fk, fixed
	s.srtp.decrypted, s.srtp.failed, s.srtp.firstErr = 0, 0, ""
}

// unprotect is pkt in the clear for channel ch, or false when it cannot be
// (spec §1.3): no key for an encrypted call, or a packet that does not
// authenticate. s.mu is held; nothing is allocated for a good packet.
func (s *sink) unprotect(ch int, pkt []byte) ([]byte, bool) {
	st := &s.srtp
	if !st.keys.encrypted {
		return pkt, true
	}
	c := st.keys.tx
	if ch == media.ChannelRX {
		c = st.keys.rx
	}
	if c == nil {
		st.failed++
		if st.firstErr == "" {
			st.firstErr = fmt.Sprintf("the call is encrypted (SRTP %s) and this recorder has no key for it (srtp-keys: %s)", st.keys.suite, st.keys.keys)
		}
		return nil, false
	}
	out, err := c.Unprotect(st.buf[ch][:], pkt)
	if err != nil {
		st.failed++
		if st.firstErr == "" {
			st.firstErr = fmt.Sprintf("SRTP %s packets fail authentication with the key this recorder has (srtp-keys: %s): %v", st.keys.suite, st.keys.keys, err)
		}
		return nil, false
	}
	st.decrypted++
	return out, true
}

// srtpResult fills the JSON's srtp object of the file just closed.
func (s *sink) srtpResult(info *SRTPInfo) *SRTPInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.srtp
	if info == nil && !st.keys.encrypted {
		return nil
	}
	if info == nil {
		info = st.keys.info()
	}
	info.Decrypted, info.Failed = st.decrypted, st.failed
	if st.failed > 0 && st.decrypted == 0 {
		info.Reason = fmt.Sprintf("nothing audible recorded: %s; %d packets left out", st.firstErr, st.failed)
	} else if st.failed > 0 {
		info.Reason = fmt.Sprintf("%d packets left out: %s", st.failed, st.firstErr)
	}
	return info
}

// installKeys gives the sink the keys of call's forks (KeysCSTA, KeysNone,
// KeysWrong; a KeysSDP session keeps its own) and says in the trace how the
// call's recording is decrypted.
func (r *Recorder) installKeys(s *session, call Call) {
	if r.cfg.SRTP == KeysSDP {
		s.sink.setKeys(forkKeys{}, false) // counts start again; the keys stay
		return
	}
	fk, err := callForkKeys(r.cfg.SRTP, s.ext, call)
	if err != nil {
		r.net.Errorf(r.node.Name(), netip.AddrPort{}, "%s of %s: SRTP: %v", call, s.ext, err)
	}
	s.sink.setKeys(fk, false)
	switch {
	case !fk.encrypted:
	case fk.tx != nil && fk.rx != nil:
		r.node.Note("%s of %s is encrypted (SRTP %s): decrypting its forks with the keys of the EstablishedEvent", call, s.ext, fk.suite)
	default:
		r.node.Note("%s of %s is encrypted (SRTP %s) and this recorder takes no keys (srtp-keys: %s)", call, s.ext, fk.suite, r.cfg.SRTP)
	}
}

// forksSAVP reports whether a recording offer for call says RTP/SAVP with
// no keys: an encrypted call whose forks come byte for byte, keys over CSTA
// (spec §1.3; the lab's own SDP for it, docs/wire.md "SRTP"), so that
// Wireshark reads the copies as SRTP too. A recorder that takes no keys
// (KeysNone) offers plain RTP.
func (r *Recorder) forksSAVP(call Call) bool {
	return len(call.Media) > 0 && (r.cfg.SRTP == KeysCSTA || r.cfg.SRTP == KeysWrong)
}
