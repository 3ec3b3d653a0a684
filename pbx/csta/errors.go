package csta

import "errors"

// Sentinels, matched with errors.Is. Every error of this package starts with "csta: " and
// ends with the sentinel that classifies it, e.g.
// `csta: EstablishedEvent establishedConnection/callID "42": want 24 decimal digits: invalid message`.
var (
	// ErrFramingLost: a frame header cannot be trusted (bytes 0–1 not zero, or a length
	// below the 8-byte header). The byte stream has no frame boundary any more: close the
	// connection. FrameReader returns it again on every later call.
	ErrFramingLost = errors.New("framing lost")

	// ErrFrameTooLarge: a frame longer than the reader's Limit was read and discarded. The
	// connection goes on (design.md "CSTA": oversized frames close nothing).
	ErrFrameTooLarge = errors.New("frame too large")

	// ErrBadInvokeID: bytes 4–7 of a header are not four ASCII digits. The frame was read
	// whole; the connection goes on.
	ErrBadInvokeID = errors.New("bad invokeID")

	// ErrInvalidMessage: the XML is not well formed, is not in Namespace, or a required
	// element is missing or holds a bad value. Encode returns it for a message that would
	// produce such XML. The connection goes on.
	ErrInvalidMessage = errors.New("invalid message")

	// ErrUnsupported: well-formed CSTA that this package does not model (MakeCall, a call
	// monitor, ...). The connection goes on; a server answers with an ErrorResponse.
	ErrUnsupported = errors.New("unsupported message")
)

// Recoverable reports whether err spoiled only one frame, so the connection can go on
// (design.md "CSTA": "malformed XML close nothing but the offending request"). It is false
// for nil, for ErrFramingLost, and for I/O errors and io.EOF.
func Recoverable(err error) bool {
	if err == nil || errors.Is(err, ErrFramingLost) {
		return false
	}
	return errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrBadInvokeID) ||
		errors.Is(err, ErrInvalidMessage) || errors.Is(err, ErrUnsupported)
}
