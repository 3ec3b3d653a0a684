package csta

import (
	"errors"
	"fmt"
	"io"
)

// Framing (design.md "CSTA"): every message is an 8-byte header and the XML.
//
//	bytes 0–1  0x00 0x00
//	bytes 2–3  total length, header included (8 + len(XML)), big-endian
//	bytes 4–7  invokeID as four ASCII digits
//
// Requests use 0001–9998, a response echoes its request's invokeID, unsolicited events use
// 9999 (EventInvokeID).
const (
	HeaderLen     = 8
	EventInvokeID = 9999
	MaxInvokeID   = 9998 // the highest invokeID of a request
	MaxFrame      = 65535
)

// AppendFrame appends the header and xml to dst. invokeID is any value 0–9999 (the frame
// layer carries four digits; which ranges mean what is checked by Conn.Send). A frame over
// MaxFrame bytes cannot be expressed and is refused with ErrFrameTooLarge.
func AppendFrame(dst []byte, invokeID int, xml []byte) ([]byte, error) {
	if invokeID < 0 || invokeID > 9999 {
		return dst, fmt.Errorf("csta: invokeID %d does not fit four digits 0000–9999: %w", invokeID, ErrBadInvokeID)
	}
	total := HeaderLen + len(xml)
	if total > MaxFrame {
		return dst, fmt.Errorf("csta: frame of %d bytes exceeds the %d the 16-bit length can say: %w", total, MaxFrame, ErrFrameTooLarge)
	}
	dst = append(dst, 0, 0, byte(total>>8), byte(total),
		byte('0'+invokeID/1000), byte('0'+invokeID/100%10), byte('0'+invokeID/10%10), byte('0'+invokeID%10))
	return append(dst, xml...), nil
}

// parseInvokeID reads four ASCII digits.
func parseInvokeID(b []byte) (int, bool) {
	if len(b) != 4 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// FrameReader splits a byte stream into frames. It reads exactly the bytes of each frame
// from r, so nothing is buffered past a frame. It is not safe for concurrent use.
//
// Errors of Next come in two classes (see Recoverable):
//   - recoverable, the stream is still at a frame boundary: ErrBadInvokeID (the body is
//     returned), ErrFrameTooLarge (the body was discarded). Call Next again.
//   - fatal: ErrFramingLost, io.EOF at a frame boundary, or an I/O error or io.ErrUnexpectedEOF
//     inside a frame. Every later call returns the same error; close the connection.
//     An I/O error before the first header byte (a read deadline, say) is returned as is
//     and does not stick, since the stream is still at a boundary.
type FrameReader struct {
	// Limit is the largest total frame length (header included) accepted. A longer frame is
	// read, discarded and reported as ErrFrameTooLarge. Zero, or anything above MaxFrame,
	// means MaxFrame, which no 16-bit length can exceed.
	Limit int

	r      io.Reader
	header [HeaderLen]byte
	fatal  error
}

// NewFrameReader returns a FrameReader reading from r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: r}
}

// Next returns the next frame's invokeID and XML. The XML slice is freshly allocated and
// may be kept. On ErrBadInvokeID the invokeID is 0 and xml holds the body; on
// ErrFrameTooLarge the invokeID is the frame's (0 if unreadable) and xml is nil, so a
// server can still answer the request with an error response.
func (fr *FrameReader) Next() (invokeID int, xml []byte, err error) {
	if fr.fatal != nil {
		return 0, nil, fr.fatal
	}
	h := fr.header[:]
	if n, err := io.ReadFull(fr.r, h); err != nil {
		switch {
		case n == 0 && err == io.EOF:
			fr.fatal = io.EOF
			return 0, nil, io.EOF
		case n == 0:
			return 0, nil, fmt.Errorf("csta: read frame header: %w", err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			fr.fatal = fmt.Errorf("csta: stream ended %d bytes into a frame header: %w", n, io.ErrUnexpectedEOF)
		default:
			fr.fatal = fmt.Errorf("csta: read failed %d bytes into a frame header: %w", n, err)
		}
		return 0, nil, fr.fatal
	}
	if h[0] != 0 || h[1] != 0 {
		fr.fatal = fmt.Errorf("csta: frame header % x: bytes 0-1 must be zero: %w", h, ErrFramingLost)
		return 0, nil, fr.fatal
	}
	total := int(h[2])<<8 | int(h[3])
	if total < HeaderLen {
		fr.fatal = fmt.Errorf("csta: frame header % x: length %d is shorter than the %d-byte header: %w", h, total, HeaderLen, ErrFramingLost)
		return 0, nil, fr.fatal
	}
	id, idOK := parseInvokeID(h[4:8])
	bodyLen := total - HeaderLen

	limit := fr.Limit
	if limit <= 0 || limit > MaxFrame {
		limit = MaxFrame
	}
	if total > limit {
		// Skip the body so the stream stays at a frame boundary (design.md "CSTA":
		// oversized frames close nothing but the offending request).
		if n, err := io.CopyN(io.Discard, fr.r, int64(bodyLen)); err != nil {
			fr.fatal = bodyError(n, bodyLen, err)
			return 0, nil, fr.fatal
		}
		return id, nil, fmt.Errorf("csta: frame %q of %d bytes exceeds the limit of %d and was skipped: %w", h[4:8], total, limit, ErrFrameTooLarge)
	}

	body := make([]byte, bodyLen)
	if n, err := io.ReadFull(fr.r, body); err != nil {
		fr.fatal = bodyError(int64(n), bodyLen, err)
		return 0, nil, fr.fatal
	}
	if !idOK {
		return 0, body, fmt.Errorf("csta: frame invokeID %q is not four ASCII digits: %w", h[4:8], ErrBadInvokeID)
	}
	return id, body, nil
}

func bodyError(n int64, want int, err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("csta: stream ended %d of %d bytes into a frame body: %w", n, want, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("csta: read failed %d of %d bytes into a frame body: %w", n, want, err)
}
