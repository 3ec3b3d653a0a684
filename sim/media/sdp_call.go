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
}

// CallOffer builds the SDP of a normal call: one m=audio at ip:port,
// sendrecv, the codecs in the given order of preference, telephone-event
// 101 (events 0-15) and ptime 20. The o= version equals sessID.
func CallOffer(sessID uint64, ip netip.Addr, port uint16, codecs []Codec) ([]byte, error) {
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
	d.WithMedia(audioMedia(port, codecs, TelephoneEventPT, "", SendRecv))
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
		codec, ok := preferredCodec(a.codecs)
		if !ok {
			return CallMedia{}, fmt.Errorf("sdp: m= line %d: formats %q offer neither PCMA nor PCMU", a.index, strings.Join(m.MediaName.Formats, " "))
		}
		return CallMedia{
			Remote:         a.endpoint(),
			Codec:          codec,
			Direction:      a.direction,
			SessionID:      d.Origin.SessionID,
			TelephoneEvent: a.eventPT,
		}, nil
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
	d.WithMedia(audioMedia(port, []Codec{offer.Codec}, offer.TelephoneEvent, "", dir))
	return d.Marshal()
}
