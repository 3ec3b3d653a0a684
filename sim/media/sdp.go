package media

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Endpoint is where a stream goes: an IP address and a UDP port.
type Endpoint = netip.AddrPort

// maxSDPSize bounds the bodies we parse. Our bodies are a few hundred bytes;
// anything near this is garbage or an attack.
const maxSDPSize = 64 << 10

// Direction attribute values (RFC 4566 §6, RFC 3264 §5.1).
const (
	SendRecv = "sendrecv"
	SendOnly = "sendonly"
	RecvOnly = "recvonly"
	Inactive = "inactive"
)

// ParseError is a body that pion/sdp could not parse at all. It unwraps to
// pion's error.
type ParseError struct{ Err error }

func (e *ParseError) Error() string {
	return "sdp: body does not parse: " + strings.TrimPrefix(e.Err.Error(), "sdp: ")
}

func (e *ParseError) Unwrap() error { return e.Err }

func parseSDP(body []byte) (*sdp.SessionDescription, error) {
	if len(body) == 0 {
		return nil, errors.New("sdp: empty body")
	}
	if len(body) > maxSDPSize {
		return nil, fmt.Errorf("sdp: body of %d bytes exceeds %d", len(body), maxSDPSize)
	}
	if err := checkMediaPorts(body); err != nil {
		return nil, err
	}
	if body[len(body)-1] != '\n' {
		// pion needs the last line terminated; a body cut after its last
		// attribute is common enough to accept.
		body = append(body[:len(body):len(body)], '\r', '\n')
	}
	d := new(sdp.SessionDescription)
	if err := d.Unmarshal(body); err != nil {
		return nil, &ParseError{Err: err}
	}
	if d.Version != 0 {
		return nil, fmt.Errorf("sdp: v=%d, want 0", d.Version)
	}
	return d, nil
}

// checkMediaPorts looks at the port of every m= line before pion does, so
// that the commonest mistake gets an error naming the line and the value.
func checkMediaPorts(body []byte) error {
	index := 0
	for line := range bytes.Lines(body) {
		if !bytes.HasPrefix(line, []byte("m=")) {
			continue
		}
		index++
		fields := strings.Fields(string(line[2:]))
		if len(fields) < 2 {
			return fmt.Errorf("sdp: m= line %d: %q lacks a port", index, strings.TrimSpace(string(line)))
		}
		port, _, _ := strings.Cut(fields[1], "/")
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
			return fmt.Errorf("sdp: m= line %d: port %q is not a number from 0 to 65535", index, port)
		}
	}
	return nil
}

// addrType returns the SDP address type of ip (RFC 4566 §5.7).
func addrType(ip netip.Addr) string {
	if ip.Is4() {
		return "IP4"
	}
	return "IP6"
}

func checkAddr(field string, ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("sdp: %s address is not set", field)
	}
	if ip.Zone() != "" {
		return fmt.Errorf("sdp: %s address %s has a zone, which SDP cannot carry", field, ip)
	}
	return nil
}

func checkPort(field string, port uint16) error {
	if port == 0 {
		return fmt.Errorf("sdp: %s port is 0, which would reject the stream", field)
	}
	return nil
}

// checkCodecs validates a codec list for an offer or answer.
func checkCodecs(codecs []Codec) error {
	if len(codecs) == 0 {
		return errors.New("sdp: codec list is empty")
	}
	for i, c := range codecs {
		if !c.Valid() {
			return fmt.Errorf("sdp: codec %s is neither PCMA nor PCMU", c)
		}
		if slices.Contains(codecs[:i], c) {
			return fmt.Errorf("sdp: codec %s is listed twice", c)
		}
	}
	return nil
}

func newSession(sessID, version uint64, origin netip.Addr) *sdp.SessionDescription {
	origin = origin.Unmap()
	return &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       "-",
			SessionID:      sessID,
			SessionVersion: version,
			NetworkType:    "IN",
			AddressType:    addrType(origin),
			UnicastAddress: origin.String(),
		},
		SessionName:      "-", // RFC 3264 §5: s= carries no meaning here
		TimeDescriptions: []sdp.TimeDescription{{}},
	}
}

func connection(ip netip.Addr) *sdp.ConnectionInformation {
	ip = ip.Unmap()
	return &sdp.ConnectionInformation{
		NetworkType: "IN",
		AddressType: addrType(ip),
		Address:     &sdp.Address{Address: ip.String()},
	}
}

// audioMedia builds one m=audio line with our usual attributes: rtpmap for
// every codec and telephone-event, fmtp 0-15 (RFC 4733 §7.1.1), ptime 20,
// an optional label (RFC 4574) and the direction.
func audioMedia(port uint16, codecs []Codec, eventPT uint8, label, direction string) *sdp.MediaDescription {
	m := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media:  "audio",
			Port:   sdp.RangedPort{Value: int(port)},
			Protos: []string{"RTP", "AVP"},
		},
	}
	for _, c := range codecs {
		m.MediaName.Formats = append(m.MediaName.Formats, strconv.Itoa(int(c)))
	}
	for _, c := range codecs {
		m.Attributes = append(m.Attributes, sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/%d", c, c, SampleRate)))
	}
	if eventPT != 0 {
		pt := strconv.Itoa(int(eventPT))
		m.MediaName.Formats = append(m.MediaName.Formats, pt)
		m.Attributes = append(m.Attributes,
			sdp.NewAttribute("rtpmap", pt+" telephone-event/8000"),
			sdp.NewAttribute("fmtp", pt+" 0-15"))
	}
	m.Attributes = append(m.Attributes, sdp.NewAttribute("ptime", "20"))
	if label != "" {
		m.Attributes = append(m.Attributes, sdp.NewAttribute("label", label))
	}
	m.Attributes = append(m.Attributes, sdp.NewPropertyAttribute(direction))
	return m
}

// audioLine is what we read from one m=audio line.
type audioLine struct {
	index     int // 1-based position among the m= lines, for errors
	port      uint16
	addr      netip.Addr
	codecs    []Codec // PCMA and PCMU in the order offered
	eventPT   uint8   // telephone-event payload type, 0 if absent
	direction string
	label     string
	// secure: the line is RTP/SAVP (RFC 3711 §12); crypto its usable
	// a=crypto lines in order (RFC 4568 §9.1), ssrc its first a=ssrc
	// (RFC 5576 §4.1), 0 when absent.
	secure bool
	crypto []SDESKey
	ssrc   uint32
}

func (a audioLine) endpoint() Endpoint { return netip.AddrPortFrom(a.addr, a.port) }

// readAudioLine reads m= line i (0-based) of d, which must be m=audio over
// RTP/AVP, or RTP/SAVP with at least one a=crypto of a suite this lab
// speaks (spec §1.3), with a usable address. A port of 0 is returned, not refused:
// callers decide what a rejected stream means.
func readAudioLine(d *sdp.SessionDescription, i int) (audioLine, error) {
	m := d.MediaDescriptions[i]
	a := audioLine{index: i + 1}
	where := fmt.Sprintf("sdp: m= line %d", a.index)
	if m.MediaName.Media != "audio" {
		return a, fmt.Errorf("%s: media %q, want audio", where, m.MediaName.Media)
	}
	switch proto := strings.Join(m.MediaName.Protos, "/"); proto {
	case "RTP/AVP":
	case "RTP/SAVP":
		a.secure = true
	default:
		return a, fmt.Errorf("%s: proto %q, want RTP/AVP or RTP/SAVP", where, proto)
	}
	if m.MediaName.Port.Range != nil {
		return a, fmt.Errorf("%s: port %q: port ranges are not supported", where, m.MediaName.Port.String())
	}
	if p := m.MediaName.Port.Value; p < 0 || p > 65535 {
		return a, fmt.Errorf("%s: port %d is out of range", where, p)
	}
	a.port = uint16(m.MediaName.Port.Value)

	c := m.ConnectionInformation
	if c == nil {
		c = d.ConnectionInformation
	}
	if c == nil || c.Address == nil {
		return a, fmt.Errorf("%s: no c= address in the media or the session", where)
	}
	addr, err := netip.ParseAddr(c.Address.Address)
	if err != nil || addr.Zone() != "" {
		return a, fmt.Errorf("%s: connection address %q is not an IP address", where, c.Address.Address)
	}
	if addr.Is4() != (c.AddressType == "IP4") {
		return a, fmt.Errorf("%s: connection address %s does not match address type %s", where, addr, c.AddressType)
	}
	a.addr = addr

	rtpmap := map[uint8]string{}
	for _, at := range m.Attributes {
		if at.Key != "rtpmap" {
			continue
		}
		ptText, enc, ok := strings.Cut(at.Value, " ")
		pt, err := strconv.ParseUint(ptText, 10, 7)
		if !ok || err != nil {
			return a, fmt.Errorf("%s: rtpmap %q does not start with a payload type", where, at.Value)
		}
		rtpmap[uint8(pt)] = strings.TrimSpace(enc)
	}
	for _, f := range m.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			return a, fmt.Errorf("%s: format %q is not an RTP payload type", where, f)
		}
		pt := uint8(n)
		enc, mapped := rtpmap[pt]
		name, rate, _ := strings.Cut(enc, "/")
		switch c := Codec(pt); {
		case c.Valid():
			// Static payload types need no rtpmap (RFC 3551 §6); one that
			// names something else is a broken offer, not a choice.
			if mapped && (!strings.EqualFold(name, c.String()) || !strings.HasPrefix(rate, "8000")) {
				return a, fmt.Errorf("%s: rtpmap \"%d %s\" contradicts static payload type %d (%s/8000)", where, pt, enc, pt, c)
			}
			if !slices.Contains(a.codecs, c) {
				a.codecs = append(a.codecs, c)
			}
		case mapped && strings.EqualFold(name, "telephone-event") && a.eventPT == 0:
			a.eventPT = pt
		}
	}

	a.direction = directionOf(m.Attributes)
	if a.direction == "" {
		a.direction = directionOf(d.Attributes)
	}
	if a.direction == "" {
		a.direction = SendRecv // RFC 4566 §6: the default
	}
	if v, ok := m.Attribute("label"); ok {
		a.label = v
	}
	if v, ok := m.Attribute("ssrc"); ok {
		id, _, _ := strings.Cut(v, " ")
		n, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return a, fmt.Errorf("%s: a=ssrc %q does not start with an SSRC", where, v)
		}
		a.ssrc = uint32(n)
	}
	if a.secure {
		for _, at := range m.Attributes {
			if at.Key != "crypto" {
				continue
			}
			k, err := ParseCryptoAttribute(at.Value)
			if errors.Is(err, ErrUnknownSuite) {
				continue // RFC 4568 §7.1.1: the answerer picks one it supports
			}
			if err != nil {
				return a, fmt.Errorf("%s: %s", where, strings.TrimPrefix(err.Error(), "sdp: "))
			}
			a.crypto = append(a.crypto, k)
		}
	}
	return a, nil
}

// needCrypto is the error of an RTP/SAVP line with no a=crypto this lab
// speaks, where the keys must be in the SDP (a call).
func (a audioLine) needCrypto() error {
	if a.secure && len(a.crypto) == 0 {
		return fmt.Errorf("sdp: m= line %d: RTP/SAVP without an a=crypto of %s", a.index, strings.Join(CryptoSuites(), ", "))
	}
	return nil
}

// secureMedia makes m an RTP/SAVP line with key's a=crypto and, when ssrc
// is not 0, an a=ssrc naming cname (RFC 4568 §9.1, RFC 5576 §4.1). The
// attributes go before the direction, which audioMedia puts last.
func secureMedia(m *sdp.MediaDescription, key SDESKey, ssrc uint32, cname string) {
	m.MediaName.Protos = []string{"RTP", "SAVP"}
	var extra []sdp.Attribute
	if key.Valid() { // none: the keys go another way (a recording offer's, docs/wire.md "SRTP")
		extra = append(extra, sdp.NewAttribute("crypto", key.Attribute()))
	}
	if ssrc != 0 {
		extra = append(extra, sdp.NewAttribute("ssrc", fmt.Sprintf("%d cname:%s", ssrc, cname)))
	}
	last := len(m.Attributes) - 1
	m.Attributes = append(m.Attributes[:last], append(extra, m.Attributes[last])...)
}

func directionOf(attrs []sdp.Attribute) string {
	for _, at := range attrs {
		switch at.Key {
		case SendRecv, SendOnly, RecvOnly, Inactive:
			return at.Key
		}
	}
	return ""
}

// preferredCodec picks PCMA if offered, else PCMU.
func preferredCodec(codecs []Codec) (Codec, bool) {
	for _, c := range []Codec{PCMA, PCMU} {
		if slices.Contains(codecs, c) {
			return c, true
		}
	}
	return 0, false
}

func formatCodecs(codecs []Codec) string {
	var b strings.Builder
	for i, c := range codecs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.String())
	}
	return b.String()
}
