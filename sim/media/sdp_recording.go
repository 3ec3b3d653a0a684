package media

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pion/sdp/v3"
)

// Labels of the two forked streams (RFC 4574 a=label), design.md "The
// recording session".
const (
	LabelTX = "tx" // what the phone sends: its microphone
	LabelRX = "rx" // what the phone receives: the far end
)

// defaultRecordingCodecs is what a recording offer lists when
// RecordingOffer.Codecs is empty.
var defaultRecordingCodecs = []Codec{PCMA, PCMU}

// RecordingOffer is the recorder's offer to a phone: two receive-only
// streams at the recorder, TX for what the phone sends and RX for what it
// receives.
type RecordingOffer struct {
	SessionID, SessionVersion uint64
	Origin                    netip.Addr // o= address: the recorder
	TX, RX                    netip.AddrPort
	Codecs                    []Codec // empty means PCMA, PCMU
	// TXKey and RXKey, when valid, make the lines RTP/SAVP with these
	// a=crypto: the keys the phone encrypts the forks with (the lab's own
	// use of SDES for a recorder that cannot take keys over CSTA, spec
	// §1.3; docs/wire.md "SRTP"). Both or neither.
	TXKey, RXKey SDESKey
	// SAVP makes the lines RTP/SAVP without keys: the forks are the call's
	// SRTP packets and the recorder has their keys over CSTA (spec §1.3;
	// the lab's own SDP for MX-ONE's way, docs/wire.md "SRTP").
	SAVP bool
}

// Secure reports whether the offer asks for SRTP forks with keys of its own.
func (o RecordingOffer) Secure() bool { return o.TXKey.Valid() }

// savp reports whether the offer's lines are RTP/SAVP.
func (o RecordingOffer) savp() bool { return o.SAVP || o.Secure() }

// RecordingAnswer is the phone's answer: the ports it sends the forked
// streams from and the codec they carry.
type RecordingAnswer struct {
	SessionID uint64
	TX, RX    netip.AddrPort
	Codec     Codec
	Secure    bool // RTP/SAVP: the forks are encrypted with the offer's keys
}

func (o RecordingOffer) codecs() []Codec {
	if len(o.Codecs) == 0 {
		return defaultRecordingCodecs
	}
	return o.Codecs
}

// BuildRecordingOffer builds the recorder's offer: two m=audio lines, the
// first a=label:tx at o.TX, the second a=label:rx at o.RX, both recvonly,
// with the codecs and telephone-event 101. The session c= is TX's address;
// RX gets its own c= only if its address differs.
func BuildRecordingOffer(o RecordingOffer) ([]byte, error) {
	if err := checkAddr("recording offer origin", o.Origin); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		name string
		ep   netip.AddrPort
	}{{"recording offer tx", o.TX}, {"recording offer rx", o.RX}} {
		if err := checkAddr(s.name, s.ep.Addr()); err != nil {
			return nil, err
		}
		if err := checkPort(s.name, s.ep.Port()); err != nil {
			return nil, err
		}
	}
	codecs := o.codecs()
	if err := checkCodecs(codecs); err != nil {
		return nil, err
	}
	if o.TXKey.Valid() != o.RXKey.Valid() {
		return nil, errors.New("sdp: recording offer: SRTP keys for both streams or neither")
	}
	d := newSession(o.SessionID, o.SessionVersion, o.Origin)
	d.ConnectionInformation = connection(o.TX.Addr())
	tx := audioMedia(o.TX.Port(), codecs, TelephoneEventPT, LabelTX, RecvOnly)
	rx := audioMedia(o.RX.Port(), codecs, TelephoneEventPT, LabelRX, RecvOnly)
	if o.RX.Addr().Unmap() != o.TX.Addr().Unmap() {
		rx.ConnectionInformation = connection(o.RX.Addr())
	}
	if o.savp() {
		secureMedia(tx, o.TXKey, 0, "")
		secureMedia(rx, o.RXKey, 0, "")
	}
	d.WithMedia(tx).WithMedia(rx)
	return d.Marshal()
}

// readRecordingPair reads the two m=audio lines of a recording offer or
// answer, checks their direction and ports, and returns them as (tx, rx).
// Labels decide which is which; a missing label is the one not taken by
// the other line, and with no labels at all the order decides (tx first).
func readRecordingPair(d *sdp.SessionDescription, what, direction string) (tx, rx audioLine, err error) {
	if n := len(d.MediaDescriptions); n != 2 {
		return tx, rx, fmt.Errorf("sdp: %s has %d m= lines, want 2 (tx, rx)", what, n)
	}
	var lines [2]audioLine
	for i := range lines {
		a, err := readAudioLine(d, i)
		if err != nil {
			return tx, rx, err
		}
		if a.port == 0 {
			return tx, rx, fmt.Errorf("sdp: m= line %d: port 0 rejects the stream", a.index)
		}
		if a.direction != direction {
			return tx, rx, fmt.Errorf("sdp: m= line %d: direction %s, want %s", a.index, a.direction, direction)
		}
		if len(a.codecs) == 0 {
			return tx, rx, fmt.Errorf("sdp: m= line %d: formats %q offer neither PCMA nor PCMU", a.index, strings.Join(d.MediaDescriptions[i].MediaName.Formats, " "))
		}
		if a.label != "" && a.label != LabelTX && a.label != LabelRX {
			return tx, rx, fmt.Errorf("sdp: m= line %d: label %q is neither %s nor %s", a.index, a.label, LabelTX, LabelRX)
		}
		lines[i] = a
	}
	l0, l1 := lines[0].label, lines[1].label
	switch {
	case l0 != "" && l0 == l1:
		return tx, rx, fmt.Errorf("sdp: m= lines 1 and 2 are both labelled %q", l0)
	case l0 == LabelRX || l1 == LabelTX:
		return lines[1], lines[0], nil
	}
	return lines[0], lines[1], nil
}

// ParseRecordingOffer reads a recorder's offer strictly: exactly two
// m=audio lines, both recvonly with a non-zero port, labelled tx and rx
// (see readRecordingPair for missing labels), and at least one codec that
// both offer. Codecs lists the common PCMA/PCMU codecs in TX's order.
func ParseRecordingOffer(body []byte) (RecordingOffer, error) {
	d, err := parseSDP(body)
	if err != nil {
		return RecordingOffer{}, err
	}
	origin, err := netip.ParseAddr(d.Origin.UnicastAddress)
	if err != nil || origin.Zone() != "" {
		return RecordingOffer{}, fmt.Errorf("sdp: o= address %q is not an IP address", d.Origin.UnicastAddress)
	}
	tx, rx, err := readRecordingPair(d, "recording offer", RecvOnly)
	if err != nil {
		return RecordingOffer{}, err
	}
	var common []Codec
	for _, c := range tx.codecs {
		if slices.Contains(rx.codecs, c) {
			common = append(common, c)
		}
	}
	if len(common) == 0 {
		return RecordingOffer{}, fmt.Errorf("sdp: recording offer tx codecs %q and rx codecs %q have none in common", formatCodecs(tx.codecs), formatCodecs(rx.codecs))
	}
	if tx.secure != rx.secure {
		return RecordingOffer{}, errors.New("sdp: recording offer: one stream RTP/SAVP, the other RTP/AVP")
	}
	o := RecordingOffer{
		SessionID:      d.Origin.SessionID,
		SessionVersion: d.Origin.SessionVersion,
		Origin:         origin,
		TX:             tx.endpoint(),
		RX:             rx.endpoint(),
		Codecs:         common,
	}
	switch {
	case tx.secure && (len(tx.crypto) == 0) != (len(rx.crypto) == 0):
		return RecordingOffer{}, errors.New("sdp: recording offer: a=crypto on one stream only")
	case tx.secure && len(tx.crypto) > 0:
		o.TXKey, o.RXKey = tx.crypto[0], rx.crypto[0]
	case tx.secure:
		o.SAVP = true
	}
	return o, nil
}

// BuildRecordingAnswer builds the phone's 200 OK body: two m=audio lines
// from phoneIP (tx first at txPort, rx at rxPort), both sendonly with the
// same labels, one codec (which the offer must list) and telephone-event
// 101. The o= version equals sessID.
func BuildRecordingAnswer(offer RecordingOffer, sessID uint64, phoneIP netip.Addr, txPort, rxPort uint16, codec Codec) ([]byte, error) {
	if err := checkAddr("recording answer", phoneIP); err != nil {
		return nil, err
	}
	if err := checkPort("recording answer tx", txPort); err != nil {
		return nil, err
	}
	if err := checkPort("recording answer rx", rxPort); err != nil {
		return nil, err
	}
	if !codec.Valid() {
		return nil, fmt.Errorf("sdp: recording answer codec %s is neither PCMA nor PCMU", codec)
	}
	if !slices.Contains(offer.codecs(), codec) {
		return nil, fmt.Errorf("sdp: recording answer codec %s is not among the offered %s", codec, formatCodecs(offer.codecs()))
	}
	d := newSession(sessID, sessID, phoneIP)
	d.ConnectionInformation = connection(phoneIP)
	tx := audioMedia(txPort, []Codec{codec}, TelephoneEventPT, LabelTX, SendOnly)
	rx := audioMedia(rxPort, []Codec{codec}, TelephoneEventPT, LabelRX, SendOnly)
	if offer.savp() {
		// The lab's own: the answer takes the offered keys back, as the ones
		// the forks are sent with, or none when the keys go over CSTA
		// (docs/wire.md "SRTP").
		secureMedia(tx, offer.TXKey, 0, "")
		secureMedia(rx, offer.RXKey, 0, "")
	}
	d.WithMedia(tx).WithMedia(rx)
	return d.Marshal()
}

// ParseRecordingAnswer checks a phone's answer (two m=audio lines, both
// sendonly, labelled tx and rx or in that order, the same codec on both)
// and returns the codec.
func ParseRecordingAnswer(body []byte) (Codec, error) {
	a, err := ParseRecordingAnswerMedia(body)
	return a.Codec, err
}

// ParseRecordingAnswerMedia is ParseRecordingAnswer returning the phone's
// ports and session id too. The codec of each line is its first PCMA/PCMU
// format.
func ParseRecordingAnswerMedia(body []byte) (RecordingAnswer, error) {
	d, err := parseSDP(body)
	if err != nil {
		return RecordingAnswer{}, err
	}
	tx, rx, err := readRecordingPair(d, "recording answer", SendOnly)
	if err != nil {
		return RecordingAnswer{}, err
	}
	if tx.codecs[0] != rx.codecs[0] {
		return RecordingAnswer{}, fmt.Errorf("sdp: recording answer tx codec %s differs from rx codec %s", tx.codecs[0], rx.codecs[0])
	}
	return RecordingAnswer{
		SessionID: d.Origin.SessionID,
		TX:        tx.endpoint(),
		RX:        rx.endpoint(),
		Codec:     tx.codecs[0],
		Secure:    tx.secure && rx.secure,
	}, nil
}
