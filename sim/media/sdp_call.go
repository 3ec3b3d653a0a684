package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// CallMedia is the audio of a normal call as one side's SDP describes it.
type CallMedia struct {
	Remote    netip.AddrPort // where that side wants RTP
	Codec     Codec          // PCMA if offered, else PCMU
	Direction string         // SendRecv, SendOnly, RecvOnly or Inactive
	SessionID uint64         // o= sess-id
	// TelephoneEvent is the payload type of telephone-event, 0 when the
	// body has none (0 is PCMU, so it can never be telephone-event).
	TelephoneEvent uint8
	// Secure: the line is RTP/SAVP; Key is its first a=crypto of a suite
	// this lab speaks, the key that side sends with (RFC 4568 §6.1), and
	// SSRC its a=ssrc (0 when absent). Spec §1.3.
	Secure bool
	Key    SDESKey
	SSRC   uint32
}

// SecureMedia is what an SRTP side puts in its SDP: the key it sends with
// and the SSRC of its stream, named by CNAME (RFC 4568, RFC 5576).
type SecureMedia struct {
	Key   SDESKey
	SSRC  uint32
	CNAME string
}

// CallOffer builds the SDP of a normal call: one m=audio at ip:port,
// sendrecv, the codecs in the given order of preference, telephone-event
// 101 (events 0-15) and ptime 20. The o= version equals sessID.
func CallOffer(sessID uint64, ip netip.Addr, port uint16, codecs []Codec) ([]byte, error) {
	return callOffer(sessID, ip, port, codecs, nil)
}

// CallOfferSRTP is CallOffer over RTP/SAVP with sec's a=crypto and a=ssrc
// (spec §1.3, RFC 4568 §9.1).
func CallOfferSRTP(sessID uint64, ip netip.Addr, port uint16, codecs []Codec, sec SecureMedia) ([]byte, error) {
	if !sec.Key.Valid() {
		return nil, fmt.Errorf("sdp: call offer: SRTP key of suite %s is not usable", sec.Key.Suite)
	}
	return callOffer(sessID, ip, port, codecs, &sec)
}

func callOffer(sessID uint64, ip netip.Addr, port uint16, codecs []Codec, sec *SecureMedia) ([]byte, error) {
	if err := checkAddr("call offer", ip); err != nil {
		return nil, err
	}
	if err := checkPort("call offer", port); err != nil {
		return nil, err
	}
	if err := checkCodecs(codecs); err != nil {
		return nil, err
	}
	d := newSession(sessID, sessID, ip)
	d.ConnectionInformation = connection(ip)
	m := audioMedia(port, codecs, TelephoneEventPT, "", SendRecv)
	if sec != nil {
		secureMedia(m, sec.Key, sec.SSRC, sec.CNAME)
	}
	d.WithMedia(m)
	return d.Marshal()
}

// ParseCall reads the first m=audio line with a non-zero port of a call's
// offer or answer. It picks PCMA if that is offered and PCMU otherwise (our
// preference, whatever the order), and fails if neither is.
func ParseCall(body []byte) (CallMedia, error) {
	d, err := parseSDP(body)
	if err != nil {
		return CallMedia{}, err
	}
	for i, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue // other media, or a stream rejected with port 0 (RFC 3264 §6)
		}
		a, err := readAudioLine(d, i)
		if err != nil {
			return CallMedia{}, err
		}
		if err := a.needCrypto(); err != nil {
			return CallMedia{}, err
		}
		codec, ok := preferredCodec(a.codecs)
		if !ok {
			return CallMedia{}, fmt.Errorf("sdp: m= line %d: formats %q offer neither PCMA nor PCMU", a.index, strings.Join(m.MediaName.Formats, " "))
		}
		cm := CallMedia{
			Remote:         a.endpoint(),
			Codec:          codec,
			Direction:      a.direction,
			SessionID:      d.Origin.SessionID,
			TelephoneEvent: a.eventPT,
			Secure:         a.secure,
			SSRC:           a.ssrc,
		}
		if a.secure {
			cm.Key = a.crypto[0]
		}
		return cm, nil
	}
	return CallMedia{}, errors.New("sdp: no m=audio line with a non-zero port")
}

// answerDirection is the direction an answer gives to an offered one
// (RFC 3264 §6.1).
func answerDirection(offered string) (string, error) {
	switch offered {
	case SendRecv, "":
		return SendRecv, nil
	case SendOnly:
		return RecvOnly, nil
	case RecvOnly:
		return SendOnly, nil
	case Inactive:
		return Inactive, nil
	}
	return "", fmt.Errorf("sdp: offered direction %q is not one of sendrecv, sendonly, recvonly, inactive", offered)
}

// CallAnswer answers a parsed offer: one m=audio at ip:port with the
// offer's chosen codec, the offer's telephone-event payload type if it had
// one, and the mirrored direction (RFC 3264 §6.1). The o= version equals
// sessID.
func CallAnswer(offer CallMedia, sessID uint64, ip netip.Addr, port uint16) ([]byte, error) {
	if offer.Secure {
		return nil, errors.New("sdp: call answer: the offer is RTP/SAVP, answer it with CallAnswerSRTP")
	}
	return callAnswer(offer, sessID, ip, port, nil)
}

// CallAnswerSRTP answers an RTP/SAVP offer over RTP/SAVP with sec's key,
// which must be of the offer's suite and carry its tag (RFC 4568 §7.1.1).
func CallAnswerSRTP(offer CallMedia, sessID uint64, ip netip.Addr, port uint16, sec SecureMedia) ([]byte, error) {
	switch {
	case !offer.Secure:
		return nil, errors.New("sdp: call answer: the offer is plain RTP/AVP, no SRTP to answer")
	case !sec.Key.Valid():
		return nil, fmt.Errorf("sdp: call answer: SRTP key of suite %s is not usable", sec.Key.Suite)
	case sec.Key.Suite != offer.Key.Suite || sec.Key.Tag != offer.Key.Tag:
		return nil, fmt.Errorf("sdp: call answer: key %d %s does not answer the offered %d %s", sec.Key.Tag, sec.Key.Suite, offer.Key.Tag, offer.Key.Suite)
	}
	return callAnswer(offer, sessID, ip, port, &sec)
}

func callAnswer(offer CallMedia, sessID uint64, ip netip.Addr, port uint16, sec *SecureMedia) ([]byte, error) {
	if err := checkAddr("call answer", ip); err != nil {
		return nil, err
	}
	if err := checkPort("call answer", port); err != nil {
		return nil, err
	}
	if !offer.Codec.Valid() {
		return nil, fmt.Errorf("sdp: call answer codec %s is neither PCMA nor PCMU", offer.Codec)
	}
	dir, err := answerDirection(offer.Direction)
	if err != nil {
		return nil, err
	}
	d := newSession(sessID, sessID, ip)
	d.ConnectionInformation = connection(ip)
	m := audioMedia(port, []Codec{offer.Codec}, offer.TelephoneEvent, "", dir)
	if sec != nil {
		secureMedia(m, sec.Key, sec.SSRC, sec.CNAME)
	}
	d.WithMedia(m)
	return d.Marshal()
}
