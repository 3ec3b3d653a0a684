package h225ras

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrUnsupported marks a well-formed RAS message outside this package's
// subset (an ARQ, an LRQ, a gateway's EndpointType, …): the receiver may
// ignore it rather than call it malformed.
var ErrUnsupported = errors.New("outside this package's RAS subset")

// rasMessageRoot is the number of root alternatives of RasMessage.
const rasMessageRoot = 25

var rasMessageNames = [...]string{"GRQ", "GCF", "GRJ", "RRQ", "RCF", "RRJ", "URQ", "UCF", "URJ",
	"ARQ", "ACF", "ARJ", "BRQ", "BCF", "BRJ", "DRQ", "DCF", "DRJ", "LRQ", "LCF", "LRJ", "IRQ", "IRR",
	"NonStandardMessage", "UnknownMessageResponse"}

// Encode writes m as a RasMessage in aligned PER. Values the ASN.1 does not
// allow (an empty identifier, a digit outside "0123456789#*,", no call
// signal address where one is required) are errors naming the field.
func Encode(m Message) ([]byte, error) {
	w := &writer{}
	w.bit(false) // RasMessage: a root alternative
	w.constrained(uint64(m.Kind()), 0, rasMessageRoot-1)
	var err error
	switch m := m.(type) {
	case *GRQ:
		err = encodeGRQ(w, m)
	case *GCF:
		err = encodeGCF(w, m)
	case *GRJ:
		err = encodeGRJ(w, m)
	case *RRQ:
		err = encodeRRQ(w, m)
	case *RCF:
		err = encodeRCF(w, m)
	case *RRJ:
		err = encodeRRJ(w, m)
	case *URQ:
		err = encodeURQ(w, m)
	case *UCF:
		w.bit(false)
		w.bit(false)
		w.constrained(uint64(m.RequestSeqNum), 1, 65535)
		err = seqNum(m.RequestSeqNum)
	case *URJ:
		w.bit(false)
		w.bit(false)
		w.constrained(uint64(m.RequestSeqNum), 1, 65535)
		err = errors.Join(seqNum(m.RequestSeqNum), encodeReason(w, int(m.Reason), urjRoot, urjNames, nil))
	default:
		return nil, fmt.Errorf("h225ras: encode %T: not a RAS message of this package", m)
	}
	if err != nil {
		return nil, fmt.Errorf("h225ras: encode %s: %w", m.Kind(), err)
	}
	return w.bytes(), nil
}

// Decode reads one RasMessage. Extension additions it does not know are
// skipped (X.691 §19.9: each is an open type with its own length), so a
// newer endpoint's message decodes. A message of another kind is an error
// wrapping ErrUnsupported; malformed input is an error naming the message
// and the byte where decoding stopped.
func Decode(b []byte) (Message, error) {
	r := &reader{buf: b}
	if r.bit() {
		n := int(r.bitsOf(7) & 0x3f)
		if r.err != nil {
			return nil, fmt.Errorf("h225ras: decode: %w", r.err)
		}
		return nil, fmt.Errorf("h225ras: decode: RasMessage extension alternative #%d: %w", n, ErrUnsupported)
	}
	i := int(r.constrained(0, rasMessageRoot-1))
	if r.err != nil {
		return nil, fmt.Errorf("h225ras: decode: %w", r.err)
	}
	var m Message
	switch Kind(i) {
	case KindGRQ:
		m = decodeGRQ(r)
	case KindGCF:
		m = decodeGCF(r)
	case KindGRJ:
		m = decodeGRJ(r)
	case KindRRQ:
		m = decodeRRQ(r)
	case KindRCF:
		m = decodeRCF(r)
	case KindRRJ:
		m = decodeRRJ(r)
	case KindURQ:
		m = decodeURQ(r)
	case KindUCF:
		m = decodeUCF(r)
	case KindURJ:
		m = decodeURJ(r)
	default:
		return nil, fmt.Errorf("h225ras: decode: %s: %w", rasMessageNames[i], ErrUnsupported)
	}
	if r.err != nil {
		return nil, fmt.Errorf("h225ras: decode %s at byte %d of %d: %w", Kind(i), r.pos/8, len(b), r.err)
	}
	return m, nil
}

func seqNum(n uint16) error {
	if n == 0 {
		return errors.New("requestSeqNum 0 is outside 1..65535")
	}
	return nil
}

// optionals writes a SEQUENCE's extension bit and its root preamble.
func (w *writer) optionals(ext bool, present ...bool) {
	w.bit(ext)
	for _, p := range present {
		w.bit(p)
	}
}

// readOptionals reads them back.
func (r *reader) readOptionals(n int) (ext bool, present []bool) {
	ext = r.bit()
	present = make([]bool, n)
	for i := range present {
		present[i] = r.bit()
	}
	return ext, present
}

// extensionAdditions writes the bit-map and open types of a SEQUENCE's
// extension additions (X.691 §19.7-19.9); enc[i] nil is absent.
func (w *writer) extensionAdditions(enc [][]byte) error {
	w.smallLength(len(enc))
	for _, e := range enc {
		w.bit(e != nil)
	}
	for _, e := range enc {
		if e != nil {
			if err := w.openType(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// readExtensions reads the extension additions; known gets each present
// one's index and a reader of its octets, and the rest are skipped.
func (r *reader) readExtensions(known func(i int, sub *reader)) {
	n := r.smallLength()
	present := make([]bool, n)
	for i := range present {
		present[i] = r.bit()
	}
	for i, p := range present {
		if !p || r.err != nil {
			continue
		}
		b := r.openType()
		if r.err == nil && known != nil {
			sub := &reader{buf: b}
			known(i, sub)
			if sub.err != nil {
				r.fail(fmt.Errorf("extension addition #%d: %w", i, sub.err))
			}
		}
	}
}

// skipExtensions reads past a SEQUENCE's extension additions if ext is set.
func (r *reader) skipExtensions(ext bool) {
	if ext {
		r.readExtensions(nil)
	}
}

func encoded(f func(w *writer) error) ([]byte, error) {
	w := &writer{}
	if err := f(w); err != nil {
		return nil, err
	}
	return w.bytes(), nil
}

func boolOctet(b bool) []byte {
	if b {
		return []byte{0x80}
	}
	return []byte{0}
}

// TransportAddress: only ipAddress is written; ip6Address is also read.
func (w *writer) transport(field string, ap netip.AddrPort) error {
	if !ap.Addr().Is4() {
		return fmt.Errorf("%s %v is not an IPv4 address and port", field, ap)
	}
	w.bit(false)
	w.constrained(0, 0, 6) // ipAddress
	a := ap.Addr().As4()
	w.octets(a[:])
	w.constrained(uint64(ap.Port()), 0, 65535)
	return nil
}

var transportNames = [...]string{"ipAddress", "ipSourceRoute", "ipxAddress", "ip6Address", "netBios", "nsap", "nonStandardAddress"}

func (r *reader) transport() netip.AddrPort {
	if r.bit() {
		r.smallNumber()
		r.openType() // an extension alternative: skipped
		return netip.AddrPort{}
	}
	switch i := r.constrained(0, 6); i {
	case 0:
		ip := r.octets(4)
		port := r.constrained(0, 65535)
		if len(ip) == 4 {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip)), uint16(port))
		}
	case 3:
		ext := r.bit()
		ip := r.octets(16)
		port := r.constrained(0, 65535)
		r.skipExtensions(ext)
		if len(ip) == 16 {
			return netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip)), uint16(port))
		}
	default:
		r.fail(fmt.Errorf("TransportAddress %s: %w", transportNames[i], ErrUnsupported))
	}
	return netip.AddrPort{}
}

func (w *writer) transports(field string, aps []netip.AddrPort) error {
	if err := w.length(len(aps)); err != nil {
		return err
	}
	for _, ap := range aps {
		if err := w.transport(field, ap); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) transports() []netip.AddrPort {
	n := r.length()
	var out []netip.AddrPort
	for i := 0; i < n && r.err == nil; i++ {
		if ap := r.transport(); ap.IsValid() {
			out = append(out, ap)
		}
	}
	return out
}

// smallNumber reads a normally small non-negative number (X.691 §11.6).
func (r *reader) smallNumber() int {
	if !r.bit() {
		return int(r.bitsOf(6))
	}
	r.align()
	return r.length()
}

func (w *writer) alias(a Alias) error {
	switch a.Kind {
	case AliasDigits:
		w.bit(false)
		w.constrained(0, 0, 1)
		return w.digits("dialledDigits", a.Value)
	case AliasH323ID:
		w.bit(false)
		w.constrained(1, 0, 1)
		return w.bmp("h323-ID", a.Value, 256)
	case AliasURL, AliasEmail:
		w.bit(true)
		n := 0 // url-ID
		if a.Kind == AliasEmail {
			n = 2
		}
		w.bit(false)
		w.bitsOf(uint64(n), 6)
		enc, err := encoded(func(w *writer) error { return w.ia5(a.Kind.String(), a.Value, 512) })
		if err != nil {
			return err
		}
		return w.openType(enc)
	}
	return fmt.Errorf("alias %v: kind %s cannot be written", a, a.Kind)
}

func (r *reader) alias() Alias {
	if r.bit() {
		n := r.smallNumber()
		b := r.openType()
		if n == 0 || n == 2 {
			sub := &reader{buf: b}
			s := sub.ia5(512)
			if sub.err != nil {
				r.fail(fmt.Errorf("AliasAddress: %w", sub.err))
			}
			if n == 0 {
				return Alias{Kind: AliasURL, Value: s}
			}
			return Alias{Kind: AliasEmail, Value: s}
		}
		return Alias{Kind: AliasOther, Other: 2 + n}
	}
	if r.constrained(0, 1) == 0 {
		return Alias{Kind: AliasDigits, Value: r.digits()}
	}
	return Alias{Kind: AliasH323ID, Value: r.bmp(256)}
}

func (w *writer) aliases(as []Alias) error {
	if err := w.length(len(as)); err != nil {
		return err
	}
	for _, a := range as {
		if err := w.alias(a); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) aliases() []Alias {
	n := r.length()
	var out []Alias
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.alias())
	}
	return out
}

// skipNonStandard reads past a NonStandardParameter.
func (r *reader) skipNonStandard() {
	if r.bit() { // NonStandardIdentifier: an extension alternative
		r.smallNumber()
		r.openType()
	} else if r.constrained(0, 1) == 0 {
		r.oid()
	} else {
		r.h221()
	}
	r.octets(r.length()) // data
}

func (w *writer) h221(v Vendor) {
	w.bit(false)
	w.constrained(uint64(v.CountryCode), 0, 255)
	w.constrained(uint64(v.Extension), 0, 255)
	w.constrained(uint64(v.ManufacturerCode), 0, 65535)
}

func (r *reader) h221() (v Vendor) {
	ext := r.bit()
	v.CountryCode = uint8(r.constrained(0, 255))
	v.Extension = uint8(r.constrained(0, 255))
	v.ManufacturerCode = uint16(r.constrained(0, 65535))
	r.skipExtensions(ext)
	return v
}

func (w *writer) vendor(v Vendor) error {
	w.optionals(false, v.ProductID != "", v.VersionID != "")
	w.h221(v)
	for _, s := range []string{v.ProductID, v.VersionID} {
		if s == "" {
			continue
		}
		if len(s) > 256 {
			return fmt.Errorf("vendor string %q is longer than 256 octets", s)
		}
		w.constrained(uint64(len(s)), 1, 256)
		w.octets([]byte(s))
	}
	return nil
}

func (r *reader) vendor() Vendor {
	ext, opt := r.readOptionals(2)
	v := r.h221()
	if opt[0] {
		v.ProductID = string(r.octets(int(r.constrained(1, 256))))
	}
	if opt[1] {
		v.VersionID = string(r.octets(int(r.constrained(1, 256))))
	}
	r.skipExtensions(ext)
	return v
}

func (w *writer) endpointType(t EndpointType) error {
	w.optionals(false, false, t.Vendor != nil, t.Gatekeeper, false, false, t.Terminal)
	if t.Vendor != nil {
		if err := w.vendor(*t.Vendor); err != nil {
			return err
		}
	}
	if t.Gatekeeper {
		w.optionals(false, false) // GatekeeperInfo, empty
	}
	if t.Terminal {
		w.optionals(false, false) // TerminalInfo, empty
	}
	w.bit(t.MC)
	w.bit(t.UndefinedNode)
	return nil
}

func (r *reader) endpointType() (t EndpointType) {
	ext, opt := r.readOptionals(6)
	if opt[0] {
		r.skipNonStandard()
	}
	if opt[1] {
		v := r.vendor()
		t.Vendor = &v
	}
	if opt[3] || opt[4] {
		r.fail(fmt.Errorf("EndpointType with gateway or mcu: %w", ErrUnsupported))
		return t
	}
	info := func() { // GatekeeperInfo, TerminalInfo: SEQUENCE {nonStandardData OPTIONAL, ...}
		ext, opt := r.readOptionals(1)
		if opt[0] {
			r.skipNonStandard()
		}
		r.skipExtensions(ext)
	}
	if t.Gatekeeper = opt[2]; t.Gatekeeper {
		info()
	}
	if t.Terminal = opt[5]; t.Terminal {
		info()
	}
	t.MC = r.bit()
	t.UndefinedNode = r.bit()
	r.skipExtensions(ext)
	return t
}

// skipQseries reads past a QseriesOptions (GRQ callServices).
func (r *reader) skipQseries() {
	ext := r.bit()
	r.bitsOf(7)
	qext := r.bit()
	r.bitsOf(2)
	r.skipExtensions(qext)
	r.skipExtensions(ext)
}

// encodeReason writes an extensible CHOICE of (mostly) NULLs; body writes
// a root alternative's contents, if it has any.
func encodeReason(w *writer, i, root int, names []string, body func(w *writer) error) error {
	if i >= len(names) {
		return fmt.Errorf("reason %d is not one of the %d alternatives", i, len(names))
	}
	if i < root {
		w.bit(false)
		w.constrained(uint64(i), 0, uint64(root-1))
		if body != nil {
			return body(w)
		}
		return nil
	}
	if names[i] == "securityError" {
		return fmt.Errorf("reason securityError: %w", ErrUnsupported)
	}
	w.bit(true)
	w.bit(false)
	w.bitsOf(uint64(i-root), 6)
	return w.openType([]byte{0}) // NULL: an empty encoding is one zero octet
}

// decodeReason reads it back; root alternatives with contents go to body.
func decodeReason(r *reader, root int, body func(i int)) int {
	if r.bit() {
		n := r.smallNumber()
		r.openType()
		return root + n
	}
	i := int(r.constrained(0, uint64(root-1)))
	if body != nil {
		body(i)
	}
	return i
}

func (w *writer) gatekeeperID(s string) error { return w.bmp("gatekeeperIdentifier", s, 128) }

// optGatekeeperID writes an OPTIONAL gatekeeperIdentifier whose preamble
// bit said present when s is not empty.
func (w *writer) optGatekeeperID(s string) error {
	if s == "" {
		return nil
	}
	return w.gatekeeperID(s)
}

// header writes requestSeqNum and protocolIdentifier, which most RAS
// messages open with.
func (w *writer) header(seq uint16, proto OID) error {
	w.constrained(uint64(seq), 1, 65535)
	return errors.Join(seqNum(seq), w.oid(proto))
}

func (r *reader) header() (uint16, OID) {
	seq := uint16(r.constrained(1, 65535))
	return seq, r.oid()
}

func encodeGRQ(w *writer, m *GRQ) error {
	w.optionals(false, false, m.GatekeeperID != "", false, len(m.EndpointAlias) > 0)
	if err := w.header(m.RequestSeqNum, m.Protocol); err != nil {
		return err
	}
	if err := w.transport("rasAddress", m.RASAddress); err != nil {
		return err
	}
	if err := w.endpointType(m.EndpointType); err != nil {
		return err
	}
	if err := w.optGatekeeperID(m.GatekeeperID); err != nil {
		return err
	}
	if len(m.EndpointAlias) > 0 {
		return w.aliases(m.EndpointAlias)
	}
	return nil
}

func decodeGRQ(r *reader) *GRQ {
	m := &GRQ{}
	ext, opt := r.readOptionals(4)
	m.RequestSeqNum, m.Protocol = r.header()
	if opt[0] {
		r.skipNonStandard()
	}
	m.RASAddress = r.transport()
	m.EndpointType = r.endpointType()
	if opt[1] {
		m.GatekeeperID = r.bmp(128)
	}
	if opt[2] {
		r.skipQseries()
	}
	if opt[3] {
		m.EndpointAlias = r.aliases()
	}
	r.skipExtensions(ext)
	return m
}

func encodeGCF(w *writer, m *GCF) error {
	w.optionals(false, false, m.GatekeeperID != "")
	if err := w.header(m.RequestSeqNum, m.Protocol); err != nil {
		return err
	}
	if err := w.optGatekeeperID(m.GatekeeperID); err != nil {
		return err
	}
	return w.transport("rasAddress", m.RASAddress)
}

func decodeGCF(r *reader) *GCF {
	m := &GCF{}
	ext, opt := r.readOptionals(2)
	m.RequestSeqNum, m.Protocol = r.header()
	if opt[0] {
		r.skipNonStandard()
	}
	if opt[1] {
		m.GatekeeperID = r.bmp(128)
	}
	m.RASAddress = r.transport()
	r.skipExtensions(ext)
	return m
}

func encodeGRJ(w *writer, m *GRJ) error {
	w.optionals(false, false, m.GatekeeperID != "")
	if err := w.header(m.RequestSeqNum, m.Protocol); err != nil {
		return err
	}
	if err := w.optGatekeeperID(m.GatekeeperID); err != nil {
		return err
	}
	return encodeReason(w, int(m.Reason), grjRoot, grjNames, nil)
}

func decodeGRJ(r *reader) *GRJ {
	m := &GRJ{}
	ext, opt := r.readOptionals(2)
	m.RequestSeqNum, m.Protocol = r.header()
	if opt[0] {
		r.skipNonStandard()
	}
	if opt[1] {
		m.GatekeeperID = r.bmp(128)
	}
	m.Reason = GRJReason(decodeReason(r, grjRoot, nil))
	r.skipExtensions(ext)
	return m
}

// rrqExtensions is how many RRQ extension additions this package writes:
// those of H.225.0 version 4, up to maintainConnection.
const rrqExtensions = 9

func encodeRRQ(w *writer, m *RRQ) error { return encodeRRQWith(w, m, nil) }

// encodeRRQWith writes later extension additions too (tests: what a newer
// endpoint sends), by their index in the RRQ's extension list.
func encodeRRQWith(w *writer, m *RRQ, later map[int][]byte) error {
	if len(m.CallSignal) == 0 || len(m.RAS) == 0 {
		return errors.New("callSignalAddress and rasAddress need an address each")
	}
	w.optionals(true, false, len(m.TerminalAlias) > 0, m.GatekeeperID != "")
	if err := w.header(m.RequestSeqNum, m.Protocol); err != nil {
		return err
	}
	w.bit(m.DiscoveryComplete)
	if err := errors.Join(w.transports("callSignalAddress", m.CallSignal), w.transports("rasAddress", m.RAS)); err != nil {
		return err
	}
	if err := w.endpointType(m.TerminalType); err != nil {
		return err
	}
	if len(m.TerminalAlias) > 0 {
		if err := w.aliases(m.TerminalAlias); err != nil {
			return err
		}
	}
	if err := w.optGatekeeperID(m.GatekeeperID); err != nil {
		return err
	}
	if err := w.vendor(m.EndpointVendor); err != nil {
		return err
	}
	n := rrqExtensions
	for i := range later {
		n = max(n, i+1)
	}
	ext := make([][]byte, n)
	for i, b := range later {
		ext[i] = b
	}
	if m.TimeToLive != 0 {
		ext[1], _ = encoded(func(w *writer) error { w.constrained(uint64(m.TimeToLive), 1, 1<<32-1); return nil })
	}
	ext[5] = boolOctet(m.KeepAlive)
	if m.EndpointID != "" {
		var err error
		if ext[6], err = encoded(func(w *writer) error { return w.bmp("endpointIdentifier", m.EndpointID, 128) }); err != nil {
			return err
		}
	}
	ext[7] = boolOctet(m.WillSupplyUUIEs)
	ext[8] = boolOctet(m.MaintainConnection)
	return w.extensionAdditions(ext)
}

func decodeRRQ(r *reader) *RRQ {
	m := &RRQ{}
	ext, opt := r.readOptionals(3)
	m.RequestSeqNum, m.Protocol = r.header()
	if opt[0] {
		r.skipNonStandard()
	}
	m.DiscoveryComplete = r.bit()
	m.CallSignal = r.transports()
	m.RAS = r.transports()
	m.TerminalType = r.endpointType()
	if opt[1] {
		m.TerminalAlias = r.aliases()
	}
	if opt[2] {
		m.GatekeeperID = r.bmp(128)
	}
	m.EndpointVendor = r.vendor()
	if ext {
		r.readExtensions(func(i int, sub *reader) {
			switch i {
			case 1:
				m.TimeToLive = uint32(sub.constrained(1, 1<<32-1))
			case 5:
				m.KeepAlive = sub.bit()
			case 6:
				m.EndpointID = sub.bmp(128)
			case 7:
				m.WillSupplyUUIEs = sub.bit()
			case 8:
				m.MaintainConnection = sub.bit()
			}
		})
	}
	return m
}

const rcfExtensions = 8

func encodeRCF(w *writer, m *RCF) error {
	w.optionals(true, false, len(m.TerminalAlias) > 0, m.GatekeeperID != "")
	if err := w.header(m.RequestSeqNum, m.Protocol); err != nil {
		return err
	}
	if err := w.transports("callSignalAddress", m.CallSignal); err != nil {
		return err
	}
	if len(m.TerminalAlias) > 0 {
		if err := w.aliases(m.TerminalAlias); err != nil {
			return err
		}
	}
	if err := w.optGatekeeperID(m.GatekeeperID); err != nil {
		return err
	}
	if err := w.bmp("endpointIdentifier", m.EndpointID, 128); err != nil {
		return err
	}
	ext := make([][]byte, rcfExtensions)
	if m.TimeToLive != 0 {
		ext[1], _ = encoded(func(w *writer) error { w.constrained(uint64(m.TimeToLive), 1, 1<<32-1); return nil })
	}
	ext[5] = boolOctet(m.WillRespondToIRR)
	ext[7] = boolOctet(m.MaintainConnection)
	return w.extensionAdditions(ext)
}

func decodeRCF(r *reader) *RCF {
	m := &RCF{}
	ext, opt := r.readOptionals(3)
	m.RequestSeqNum, m.Protocol = r.header()
	if opt[0] {
		r.skipNonStandard()
	}
	m.CallSignal = r.transports()
	if opt[1] {
		m.TerminalAlias = r.aliases()
	}
	if opt[2] {
		m.GatekeeperID = r.bmp(128)
	}
	m.EndpointID = r.bmp(128)
	if ext {
		r.readExtensions(func(i int, sub *reader) {
			switch i {
			case 1:
				m.TimeToLive = uint32(sub.constrained(1, 1<<32-1))
			case 5:
				m.WillRespondToIRR = sub.bit()
			case 7:
				m.MaintainConnection = sub.bit()
			}
		})
	}
	return m
}

func encodeRRJ(w *writer, m *RRJ) error {
	w.optionals(false, false, m.GatekeeperID != "")
	if err := w.header(m.RequestSeqNum, m.Protocol); err != nil {
		return err
	}
	err := encodeReason(w, int(m.Reason), rrjRoot, rrjNames, func(w *writer) error {
		if m.Reason == RRJDuplicateAlias {
			return w.aliases(m.DuplicateAlias)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if m.GatekeeperID != "" {
		return w.gatekeeperID(m.GatekeeperID)
	}
	return nil
}

func decodeRRJ(r *reader) *RRJ {
	m := &RRJ{}
	ext, opt := r.readOptionals(2)
	m.RequestSeqNum, m.Protocol = r.header()
	if opt[0] {
		r.skipNonStandard()
	}
	m.Reason = RRJReason(decodeReason(r, rrjRoot, func(i int) {
		if RRJReason(i) == RRJDuplicateAlias {
			m.DuplicateAlias = r.aliases()
		}
	}))
	if opt[1] {
		m.GatekeeperID = r.bmp(128)
	}
	r.skipExtensions(ext)
	return m
}

const urqExtensions = 6 // up to reason

func encodeURQ(w *writer, m *URQ) error {
	if len(m.CallSignal) == 0 {
		return errors.New("callSignalAddress needs an address")
	}
	ext := m.GatekeeperID != "" || m.Reason != nil
	w.optionals(ext, len(m.EndpointAlias) > 0, false, m.EndpointID != "")
	w.constrained(uint64(m.RequestSeqNum), 1, 65535)
	if err := seqNum(m.RequestSeqNum); err != nil {
		return err
	}
	if err := w.transports("callSignalAddress", m.CallSignal); err != nil {
		return err
	}
	if len(m.EndpointAlias) > 0 {
		if err := w.aliases(m.EndpointAlias); err != nil {
			return err
		}
	}
	if m.EndpointID != "" {
		if err := w.bmp("endpointIdentifier", m.EndpointID, 128); err != nil {
			return err
		}
	}
	if !ext {
		return nil
	}
	add := make([][]byte, urqExtensions)
	var err error
	if m.GatekeeperID != "" {
		if add[1], err = encoded(func(w *writer) error { return w.gatekeeperID(m.GatekeeperID) }); err != nil {
			return err
		}
	}
	if m.Reason != nil {
		if add[5], err = encoded(func(w *writer) error { return encodeReason(w, int(*m.Reason), urqRoot, urqNames, nil) }); err != nil {
			return err
		}
	}
	return w.extensionAdditions(add)
}

func decodeURQ(r *reader) *URQ {
	m := &URQ{}
	ext, opt := r.readOptionals(3)
	m.RequestSeqNum = uint16(r.constrained(1, 65535))
	m.CallSignal = r.transports()
	if opt[0] {
		m.EndpointAlias = r.aliases()
	}
	if opt[1] {
		r.skipNonStandard()
	}
	if opt[2] {
		m.EndpointID = r.bmp(128)
	}
	if ext {
		r.readExtensions(func(i int, sub *reader) {
			switch i {
			case 1:
				m.GatekeeperID = sub.bmp(128)
			case 5:
				reason := URQReason(decodeReason(sub, urqRoot, nil))
				m.Reason = &reason
			}
		})
	}
	return m
}

func decodeUCF(r *reader) *UCF {
	m := &UCF{}
	ext, opt := r.readOptionals(1)
	m.RequestSeqNum = uint16(r.constrained(1, 65535))
	if opt[0] {
		r.skipNonStandard()
	}
	r.skipExtensions(ext)
	return m
}

func decodeURJ(r *reader) *URJ {
	m := &URJ{}
	ext, opt := r.readOptionals(1)
	m.RequestSeqNum = uint16(r.constrained(1, 65535))
	m.Reason = URJReason(decodeReason(r, urjRoot, nil))
	if opt[0] {
		r.skipNonStandard()
	}
	r.skipExtensions(ext)
	return m
}
