// Package csta is the CSTA link between the simulated MX-ONE and the recorder: the
// ECMA-323 edition 4 XML codec and the 8-byte framing of design.md "CSTA". The PBX serves
// it; the recorder imports it as a client (spec §3.1: "the extensions that shall have the
// voice recording possibilities must be monitored via the CSTA interface").
//
// # What it owns
//
//   - The messages the lab speaks, as plain Go values: MonitorStart/MonitorStartResponse,
//     MonitorStop/MonitorStopResponse, SystemStatus/SystemStatusResponse (keep-alive, both
//     ways), ErrorResponse (CSTAErrorCode), the call events ServiceInitiated, Originated,
//     Delivered, Established, ConnectionCleared, and BackInService/OutOfService.
//   - Encode and Decode between those values and XML with Namespace as the root's default
//     namespace. Element names and order follow ECMA-323 (SubjectDeviceID as
//     <deviceIdentifier>, ConnectionID as <callID>/<deviceID>, lastRedirectionDevice
//     <notRequired/>, ...). Unknown elements are ignored, so real traces decode.
//   - Link start as real recorders speak it (session.go): ECMA-354 StartApplicationSession,
//     StopApplicationSession, ResetApplicationSessionTimer and their answers (SessionNamespace),
//     SystemRegister and SnapshotDevice (ECMA-323); StartSession, a client's half (client.go).
//     Documents in any encoding of golang.org/x/text's IANA index decode (EncodingError names
//     another); a root in no namespace or another ECMA-323 edition's is read as ed4.
//   - Framing: AppendFrame, FrameReader, and Conn (a net.Conn wrapper: one Write per
//     frame, safe for concurrent senders).
//   - One-line summaries for the trace: Summary, SummarizeFrames.
//
// # What it must not touch
//
// No sockets are opened here: Conn wraps a net.Conn that sim handed out, so every byte stays
// in the trace (style.md habit 4). No goroutines, timers or clocks: keep-alive intervals,
// monitor tables and the choice of error response belong to the PBX and the recorder.
//
// # Decisions (not given by design.md)
//
//   - callIDs are 24 decimal digits (FormatCallID, ValidateCallID); Encode and Decode refuse
//     any other callID, so a PBX bug shows at once.
//   - Every value (device, crossRefID, cause, model, ...) is one token: no whitespace, no
//     control characters, at most MaxToken bytes. Decode trims surrounding whitespace.
//   - An unknown device in callingDevice, calledDevice, answeringDevice, ... is "" in Go and
//     <notKnown/> on the wire. The connection's deviceID is always required.
//   - The phone's IP address, recording SIP port and model travel in BackInServiceEvent and
//     OutOfServiceEvent as
//     <extensions><privateData><private><deviceInfo xmlns="urn:reclab:csta-private:1">
//     <ip>127.20.1.1</ip><recordingPort>7300</recordingPort><model>7434</model>
//     </deviceInfo></private></privateData></extensions>.
//     PrivateNamespace is reclab's own, invented for the lab. It is NOT Mitel's: MX-ONE's
//     private data format is not public, and nothing here claims to reproduce it.
//   - An SRTP call's keys (spec §1.3) travel in EstablishedEvent (Media, MediaKey) as
//     <extensions><privateData><private><srtp xmlns="urn:reclab:csta-private:1">
//     <stream><deviceID>1001</deviceID><ssrc>305419896</ssrc><suite>AES_CM_128_HMAC_SHA1_80</suite>
//     <key>base64</key><salt>base64</salt></stream>…</srtp></private></privateData></extensions>,
//     in the same namespace of reclab's own (docs/wire.md "SRTP").
//   - Suggested error responses for a server: unknown extension operation/invalidDeviceID,
//     unknown monitor operation/invalidCrossRefID, malformed request operation/generic,
//     ErrUnsupported request operation/requestIncompatibleWithObject.
//   - Error classes (Recoverable): ErrFrameTooLarge, ErrBadInvokeID, ErrInvalidMessage and
//     ErrUnsupported spoil one frame and the connection goes on (design.md "CSTA":
//     "close nothing but the offending request"); ErrFramingLost, io.EOF and I/O errors end
//     it.
//
// # Example
//
// A recorder monitors extension 1001 over a conn from sim:
//
//	link := csta.NewConn(nc)
//	id := link.NextInvokeID()
//	if err := link.Send(id, csta.MonitorStart{Device: "1001"}); err != nil {
//		return err
//	}
//	for {
//		invokeID, m, err := link.Recv()
//		if csta.Recoverable(err) {
//			continue // one bad frame; the link goes on
//		}
//		if err != nil {
//			return err
//		}
//		switch m := m.(type) {
//		case csta.MonitorStartResponse:
//			// invokeID == id: monitor m.CrossRefID now watches 1001
//		case csta.ErrorResponse:
//			return m // CSTAErrorCode operation/invalidDeviceID
//		case csta.BackInServiceEvent:
//			// m.Info.IP, m.Info.RecordingPort: where to send the recording INVITE
//		case csta.SystemStatus:
//			link.Send(invokeID, csta.SystemStatusResponse{})
//		}
//	}
package csta
