package h225ras

import (
	"errors"
	"fmt"
	"math/bits"
)

// The ASN.1 ALIGNED PER primitives (ITU-T X.691) H.225.0 RAS needs: bit
// fields, octet alignment, constrained whole numbers, length determinants,
// open types, OBJECT IDENTIFIER contents and the two character strings.

// writer appends bits, most significant first.
type writer struct {
	buf  []byte
	nbit int // bits used in the last octet (0: it is full or there is none)
}

func (w *writer) bit(b bool) {
	if w.nbit == 0 {
		w.buf = append(w.buf, 0)
	}
	if b {
		w.buf[len(w.buf)-1] |= 0x80 >> w.nbit
	}
	w.nbit = (w.nbit + 1) % 8
}

// bitsOf writes the n low bits of v.
func (w *writer) bitsOf(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bit(v>>uint(i)&1 == 1)
	}
}

// align pads to the next octet (X.691 §3.7.4: octet-aligned fields).
func (w *writer) align() { w.nbit = 0 }

func (w *writer) octets(b []byte) {
	w.align()
	w.buf = append(w.buf, b...)
}

// bytes ends the encoding; an empty one is one zero octet (X.691 §11.1.3).
func (w *writer) bytes() []byte {
	if len(w.buf) == 0 {
		return []byte{0}
	}
	return w.buf
}

// constrained writes v in lb..ub (X.691 §11.5.7, aligned variant).
func (w *writer) constrained(v, lb, ub uint64) {
	r := ub - lb // range - 1
	v -= lb
	switch {
	case r == 0:
	case r < 255:
		w.bitsOf(v, bits.Len64(r))
	case r == 255:
		w.align()
		w.bitsOf(v, 8)
	case r < 65536:
		w.align()
		w.bitsOf(v, 16)
	default:
		// Indefinite length case: the octet count as a bit-field, then the
		// octets, aligned (X.691 §11.5.7.4).
		n := max((bits.Len64(v)+7)/8, 1)
		maxn := (bits.Len64(r) + 7) / 8
		w.bitsOf(uint64(n-1), bits.Len64(uint64(maxn-1)))
		w.align()
		w.bitsOf(v, 8*n)
	}
}

// length writes an unconstrained length determinant (X.691 §11.9.3.6).
func (w *writer) length(n int) error {
	w.align()
	switch {
	case n < 128:
		w.bitsOf(uint64(n), 8)
	case n < 16384:
		w.bitsOf(uint64(n)|0x8000, 16)
	default:
		return fmt.Errorf("length %d needs fragmentation, which RAS never does", n)
	}
	return nil
}

// smallLength writes a normally small length (X.691 §11.9.3.4), n ≥ 1.
func (w *writer) smallLength(n int) {
	w.bit(false)
	w.bitsOf(uint64(n-1), 6)
}

// openType writes a complete encoding as an open type (X.691 §11.2).
func (w *writer) openType(enc []byte) error {
	if err := w.length(len(enc)); err != nil {
		return err
	}
	w.octets(enc)
	return nil
}

// reader takes bits, most significant first. Every read past the end is
// errShort, so a decoder checks once.
type reader struct {
	buf []byte
	pos int // in bits
	err error
}

var errShort = errors.New("message ends early")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) bit() bool {
	if r.pos >= 8*len(r.buf) {
		r.fail(errShort)
		return false
	}
	b := r.buf[r.pos/8]>>(7-r.pos%8)&1 == 1
	r.pos++
	return b
}

func (r *reader) bitsOf(n int) uint64 {
	if r.pos+n > 8*len(r.buf) {
		r.fail(errShort)
		r.pos = 8 * len(r.buf)
		return 0
	}
	var v uint64
	for range n {
		v = v<<1 | uint64(r.buf[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v
}

func (r *reader) align() { r.pos = (r.pos + 7) &^ 7 }

func (r *reader) octets(n int) []byte {
	r.align()
	if r.pos/8+n > len(r.buf) || n < 0 {
		r.fail(errShort)
		r.pos = 8 * len(r.buf)
		return nil
	}
	b := r.buf[r.pos/8 : r.pos/8+n]
	r.pos += 8 * n
	return b
}

func (r *reader) constrained(lb, ub uint64) uint64 {
	rg := ub - lb
	var v uint64
	switch {
	case rg == 0:
	case rg < 255:
		v = r.bitsOf(bits.Len64(rg))
	case rg == 255:
		r.align()
		v = r.bitsOf(8)
	case rg < 65536:
		r.align()
		v = r.bitsOf(16)
	default:
		maxn := (bits.Len64(rg) + 7) / 8
		n := int(r.bitsOf(bits.Len64(uint64(maxn-1)))) + 1
		r.align()
		v = r.bitsOf(8 * n)
	}
	if v > rg {
		r.fail(fmt.Errorf("value %d is above its range %d..%d", v+lb, lb, ub))
		return lb
	}
	return v + lb
}

func (r *reader) length() int {
	r.align()
	b := r.bitsOf(8)
	switch {
	case b < 128:
		return int(b)
	case b < 192:
		return int(b&0x3f)<<8 | int(r.bitsOf(8))
	}
	r.fail(errors.New("fragmented length, which RAS never uses"))
	return 0
}

func (r *reader) smallLength() int {
	if r.bit() {
		r.fail(errors.New("extension bit-map longer than 64"))
		return 0
	}
	return int(r.bitsOf(6)) + 1
}

// openType returns the octets of an open type; the caller decodes or skips them.
func (r *reader) openType() []byte { return r.octets(r.length()) }

// OID is an OBJECT IDENTIFIER's arcs.
type OID []uint64

// ProtocolV4 is H.225.0 version 4, {itu-t(0) recommendation(0) h(8) 2250 version(0) 4}:
// the version whose extension additions (timeToLive, keepAlive,
// endpointIdentifier, willSupplyUUIEs, maintainConnection) this package
// writes.
var ProtocolV4 = OID{0, 0, 8, 2250, 0, 4}

func (o OID) String() string {
	s := ""
	for i, a := range o {
		if i > 0 {
			s += "."
		}
		s += fmt.Sprint(a)
	}
	return s
}

// contents is the BER contents octets (X.690 §8.19), which PER carries
// after a length (X.691 §24).
func (o OID) contents() ([]byte, error) {
	if len(o) < 2 || o[0] > 2 || (o[0] < 2 && o[1] > 39) {
		return nil, fmt.Errorf("object identifier %s has no valid first two arcs", o)
	}
	var out []byte
	arcs := append([]uint64{o[0]*40 + o[1]}, o[2:]...)
	for _, a := range arcs {
		var tmp [10]byte
		i := len(tmp) - 1
		tmp[i] = byte(a & 0x7f)
		for a >>= 7; a > 0; a >>= 7 {
			i--
			tmp[i] = byte(a&0x7f) | 0x80
		}
		out = append(out, tmp[i:]...)
	}
	return out, nil
}

func parseOID(b []byte) (OID, error) {
	if len(b) == 0 {
		return nil, errors.New("empty object identifier")
	}
	var o OID
	var a uint64
	for i, c := range b {
		if a > 1<<56 {
			return nil, errors.New("object identifier arc too large")
		}
		a = a<<7 | uint64(c&0x7f)
		if c&0x80 != 0 {
			if i == len(b)-1 {
				return nil, errors.New("object identifier ends inside an arc")
			}
			continue
		}
		if len(o) == 0 {
			switch {
			case a < 40:
				o = append(o, 0, a)
			case a < 80:
				o = append(o, 1, a-40)
			default:
				o = append(o, 2, a-80)
			}
		} else {
			o = append(o, a)
		}
		a = 0
	}
	return o, nil
}

func (w *writer) oid(o OID) error {
	c, err := o.contents()
	if err != nil {
		return err
	}
	if err := w.length(len(c)); err != nil {
		return err
	}
	w.octets(c)
	return nil
}

func (r *reader) oid() OID {
	o, err := parseOID(r.octets(r.length()))
	if err != nil && r.err == nil {
		r.fail(fmt.Errorf("protocolIdentifier: %w", err))
	}
	return o
}

// bmp writes a BMPString(SIZE(1..ub)) (X.691 §30: 16 bits a character,
// octet-aligned since ub·16 > 16). Characters beyond the BMP are refused.
func (w *writer) bmp(field, s string, ub int) error {
	rs := []rune(s)
	if len(rs) < 1 || len(rs) > ub {
		return fmt.Errorf("%s %q: %d characters, want 1..%d", field, s, len(rs), ub)
	}
	w.constrained(uint64(len(rs)), 1, uint64(ub))
	w.align()
	for _, c := range rs {
		if c > 0xffff {
			return fmt.Errorf("%s %q: %q is outside the Basic Multilingual Plane", field, s, c)
		}
		w.bitsOf(uint64(c), 16)
	}
	return nil
}

func (r *reader) bmp(ub int) string {
	n := int(r.constrained(1, uint64(ub)))
	r.align()
	rs := make([]rune, 0, n)
	for range n {
		rs = append(rs, rune(r.bitsOf(16)))
	}
	return string(rs)
}

// digitAlphabet is dialledDigits' permitted alphabet FROM("0123456789#*,")
// in code order; its 13 characters take 4 bits each as an index, since '9'
// does not fit in 4 bits (X.691 §30.5.4).
const digitAlphabet = "#*,0123456789"

func (w *writer) digits(field, s string) error {
	if len(s) < 1 || len(s) > 128 {
		return fmt.Errorf("%s %q: %d digits, want 1..128", field, s, len(s))
	}
	w.constrained(uint64(len(s)), 1, 128)
	w.align()
	for i := 0; i < len(s); i++ {
		k := indexByte(digitAlphabet, s[i])
		if k < 0 {
			return fmt.Errorf("%s %q: %q is not one of %q", field, s, s[i], "0123456789#*,")
		}
		w.bitsOf(uint64(k), 4)
	}
	return nil
}

func (r *reader) digits() string {
	n := int(r.constrained(1, 128))
	r.align()
	b := make([]byte, 0, n)
	for range n {
		k := r.bitsOf(4)
		if int(k) >= len(digitAlphabet) {
			r.fail(fmt.Errorf("dialledDigits: index %d is outside the alphabet", k))
			return ""
		}
		b = append(b, digitAlphabet[k])
	}
	return string(b)
}

// ia5 writes an IA5String(SIZE(1..ub)): 8 bits a character in the aligned
// variant (X.691 §30.5.3), octet-aligned.
func (w *writer) ia5(field, s string, ub int) error {
	if len(s) < 1 || len(s) > ub {
		return fmt.Errorf("%s %q: %d characters, want 1..%d", field, s, len(s), ub)
	}
	w.constrained(uint64(len(s)), 1, uint64(ub))
	w.align()
	for i := 0; i < len(s); i++ {
		if s[i] > 0x7f {
			return fmt.Errorf("%s %q: byte %#x is not IA5", field, s, s[i])
		}
	}
	w.buf = append(w.buf, s...)
	return nil
}

func (r *reader) ia5(ub int) string {
	n := int(r.constrained(1, uint64(ub)))
	return string(r.octets(n))
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
