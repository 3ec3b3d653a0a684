package csta

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Namespace is the ECMA-323 edition 4 namespace, the default xmlns on every root element
// (design.md "CSTA").
const Namespace = "http://www.ecma-international.org/standards/ecma-323/csta/ed4"

// PrivateNamespace is reclab's own namespace for the device facts carried in
// <extensions><privateData><private> of BackInServiceEvent and OutOfServiceEvent.
// It is NOT Mitel's: MX-ONE's real private data is not public, so the lab defines its own
// (design.md "CSTA", Registration). Do not present it as the MX-ONE format.
const PrivateNamespace = "urn:reclab:csta-private:1"

// Message is one CSTA message: a request, a response or an event. Decode returns the
// concrete types of this package as values (MonitorStart, EstablishedEvent, ...), never
// pointers, so a type switch reads `case csta.EstablishedEvent:`. Encode accepts values or
// pointers.
type Message interface {
	// Kind is the ECMA-323 root element name, e.g. "EstablishedEvent".
	Kind() string
}

// ConnectionState is ECMA-323 LocalConnectionState, sent as <localConnectionInfo>: the
// state of the monitored device's connection after the event.
type ConnectionState string

// The LocalConnectionState values of ECMA-323. The zero value "" means the element is
// omitted (it is optional in every call event).
const (
	StateNull      ConnectionState = "null"
	StateInitiated ConnectionState = "initiated"
	StateAlerting  ConnectionState = "alerting"
	StateConnected ConnectionState = "connected"
	StateHold      ConnectionState = "hold"
	StateQueued    ConnectionState = "queued"
	StateFail      ConnectionState = "fail"
)

func (s ConnectionState) valid() bool {
	switch s {
	case "", StateNull, StateInitiated, StateAlerting, StateConnected, StateHold, StateQueued, StateFail:
		return true
	}
	return false
}

// Some ECMA-323 EventCause values the lab uses. Cause is an open string: any ECMA-323
// EventCause token decodes.
const (
	CauseNewCall           = "newCall"
	CauseMakeCall          = "makeCall"
	CauseNormal            = "normal"
	CauseNormalClearing    = "normalClearing"
	CauseCallCancelled     = "callCancelled"
	CauseBusy              = "busy"
	CauseCallNotAnswered   = "callNotAnswered"
	CauseDestNotObtainable = "destNotObtainable"
)

// SystemStatus values (ECMA-323 SystemStatus). Decode accepts only these.
const (
	StatusInitializing      = "initializing"
	StatusEnabled           = "enabled"
	StatusNormal            = "normal"
	StatusMessagesLost      = "messagesLost"
	StatusDisabled          = "disabled"
	StatusPartiallyDisabled = "partiallyDisabled"
	StatusOverloadImminent  = "overloadImminent"
	StatusOverloadReached   = "overloadReached"
	StatusOverloadRelieved  = "overloadRelieved"
)

var systemStatuses = []string{
	StatusInitializing, StatusEnabled, StatusNormal, StatusMessagesLost, StatusDisabled,
	StatusPartiallyDisabled, StatusOverloadImminent, StatusOverloadReached, StatusOverloadRelieved,
}

// Error categories: the child element names of ECMA-323 CSTAErrorCode. Decode accepts only
// these; the value inside is any token.
const (
	CategoryOperation                      = "operation"
	CategorySecurity                       = "security"
	CategoryStateIncompatibility           = "stateIncompatibility"
	CategorySystemResourceAvailability     = "systemResourceAvailability"
	CategorySubscribedResourceAvailability = "subscribedResourceAvailability"
	CategoryPerformanceManagement          = "performanceManagement"
	CategoryUnspecified                    = "unspecified"
)

var errorCategories = []string{
	CategoryOperation, CategorySecurity, CategoryStateIncompatibility,
	CategorySystemResourceAvailability, CategorySubscribedResourceAvailability,
	CategoryPerformanceManagement, CategoryUnspecified,
}

// Error values the lab sends, by category. ECMA-323 lists many more; Decode accepts any.
const (
	OperationGeneric             = "generic"                       // malformed or unreadable request
	OperationInvalidDeviceID     = "invalidDeviceID"               // MonitorStart for an unknown extension
	OperationInvalidCrossRefID   = "invalidCrossRefID"             // MonitorStop for an unknown monitor
	OperationRequestIncompatible = "requestIncompatibleWithObject" // a service the PBX does not offer
	OperationValueOutOfRange     = "valueOutOfRange"
	ResourceServiceBusy          = "serviceBusy"                 // systemResourceAvailability
	ResourceOverallMonitorLimit  = "overallMonitorLimitExceeded" // systemResourceAvailability
)

// MonitorStart asks to monitor a device (ECMA-323 MonitorStart with
// monitorObject/deviceObject; only device monitors exist in the lab).
type MonitorStart struct {
	Device string // the extension, e.g. "1001"
}

// MonitorStartResponse answers MonitorStart with the monitor's cross reference.
type MonitorStartResponse struct {
	CrossRefID string
}

// MonitorStop ends a monitor.
type MonitorStop struct {
	CrossRefID string
}

// MonitorStopResponse answers MonitorStop.
type MonitorStopResponse struct{}

// SystemStatus is sent both ways as a keep-alive (design.md "CSTA").
type SystemStatus struct {
	Status string // one of the Status* constants, usually StatusNormal
}

// SystemStatusResponse answers SystemStatus.
type SystemStatusResponse struct{}

// ErrorResponse is ECMA-323 CSTAErrorCode, the negative answer to any request:
// <CSTAErrorCode><operation>invalidDeviceID</operation></CSTAErrorCode>.
// It is also an error, so a client can return it as one.
type ErrorResponse struct {
	Category string // one of the Category* constants
	Value    string // e.g. OperationInvalidDeviceID
}

// Error makes a received CSTAErrorCode usable as a Go error.
func (e ErrorResponse) Error() string {
	return "csta: peer answered CSTAErrorCode " + e.Category + "/" + e.Value
}

// ServiceInitiatedEvent: the monitored device went off-hook or started dialling.
type ServiceInitiatedEvent struct {
	CrossRefID      string
	CallID          string // 24 decimal digits, see FormatCallID
	Device          string // initiatedConnection/deviceID
	Initiating      string // initiatingDevice; usually the same as Device
	LocalConnection ConnectionState
	Cause           string
}

// OriginatedEvent: the monitored device's call left it towards Called.
type OriginatedEvent struct {
	CrossRefID      string
	CallID          string
	Device          string // originatedConnection/deviceID
	Calling         string
	Called          string
	LocalConnection ConnectionState
	Cause           string
}

// DeliveredEvent: the call is alerting at Alerting. Both parties' monitors get one; the
// caller's with LocalConnection StateConnected, the callee's with StateAlerting.
type DeliveredEvent struct {
	CrossRefID      string
	CallID          string
	Device          string // connection/deviceID: the alerting connection
	Alerting        string
	Calling         string
	Called          string
	LocalConnection ConnectionState
	Cause           string
}

// EstablishedEvent: Answering answered; the call is connected.
type EstablishedEvent struct {
	CrossRefID      string
	CallID          string
	Device          string // establishedConnection/deviceID
	Answering       string
	Calling         string
	Called          string
	LocalConnection ConnectionState
	Cause           string
	// Media are the call's SRTP streams with their keys (spec §1.3), in
	// reclab's private data (PrivateNamespace); nil for a plain call.
	Media []MediaKey
}

// MediaKey is one SRTP stream of a call as the PBX's B2BUA saw it in the
// SDP it relayed (RFC 4568 a=crypto, RFC 5576 a=ssrc): the device that
// sends it, its SSRC (0: not given), the crypto suite as SDP names it, and
// the master key and salt. Spec §1.3: the recording system "requires CSTA
// support, especially if voice media encryption is used"; MX-ONE and
// Cisco's recording API give the recorder each stream's keys this way.
type MediaKey struct {
	Device string
	SSRC   uint32
	Suite  string // e.g. "AES_CM_128_HMAC_SHA1_80"
	Key    []byte
	Salt   []byte
}

// ConnectionClearedEvent: Releasing hung up; Device's connection is gone. ECMA-323 gives
// this event no calling or called device.
type ConnectionClearedEvent struct {
	CrossRefID      string
	CallID          string
	Device          string // droppedConnection/deviceID
	Releasing       string
	LocalConnection ConnectionState
	Cause           string
}

// DeviceInfo is what the recorder needs to reach a phone, carried in reclab's private data
// (PrivateNamespace) because ECMA-323 has no element for it.
type DeviceInfo struct {
	IP            netip.Addr
	RecordingPort int    // the phone's SIP port for recording sessions (7300 on 7400/442x, spec §3.2)
	Model         string // e.g. "7434"
}

// String is "127.20.1.1:7300 7434".
func (d DeviceInfo) String() string {
	if d.RecordingPort < 0 || d.RecordingPort > 65535 { // invalid, but print what is there
		return d.IP.String() + ":" + strconv.Itoa(d.RecordingPort) + " " + d.Model
	}
	return netip.AddrPortFrom(d.IP, uint16(d.RecordingPort)).String() + " " + d.Model
}

// BackInServiceEvent: a device registered (spec §3.2.3–3.2.6: "information about the IP
// address and extension number is sent out on the CSTA interface").
type BackInServiceEvent struct {
	CrossRefID string
	Device     string
	Info       *DeviceInfo // nil when the sender gave no private data
}

// OutOfServiceEvent: a device unregistered or was logged off.
type OutOfServiceEvent struct {
	CrossRefID string
	Device     string
	Info       *DeviceInfo
}

// Kind returns the root element name.
func (MonitorStart) Kind() string           { return "MonitorStart" }
func (MonitorStartResponse) Kind() string   { return "MonitorStartResponse" }
func (MonitorStop) Kind() string            { return "MonitorStop" }
func (MonitorStopResponse) Kind() string    { return "MonitorStopResponse" }
func (SystemStatus) Kind() string           { return "SystemStatus" }
func (SystemStatusResponse) Kind() string   { return "SystemStatusResponse" }
func (ErrorResponse) Kind() string          { return "CSTAErrorCode" }
func (ServiceInitiatedEvent) Kind() string  { return "ServiceInitiatedEvent" }
func (OriginatedEvent) Kind() string        { return "OriginatedEvent" }
func (DeliveredEvent) Kind() string         { return "DeliveredEvent" }
func (EstablishedEvent) Kind() string       { return "EstablishedEvent" }
func (ConnectionClearedEvent) Kind() string { return "ConnectionClearedEvent" }
func (BackInServiceEvent) Kind() string     { return "BackInServiceEvent" }
func (OutOfServiceEvent) Kind() string      { return "OutOfServiceEvent" }

// String returns Summary(m): one line for traces and the TUI.
func (m MonitorStart) String() string           { return Summary(m) }
func (m MonitorStartResponse) String() string   { return Summary(m) }
func (m MonitorStop) String() string            { return Summary(m) }
func (m MonitorStopResponse) String() string    { return Summary(m) }
func (m SystemStatus) String() string           { return Summary(m) }
func (m SystemStatusResponse) String() string   { return Summary(m) }
func (m ErrorResponse) String() string          { return Summary(m) }
func (m ServiceInitiatedEvent) String() string  { return Summary(m) }
func (m OriginatedEvent) String() string        { return Summary(m) }
func (m DeliveredEvent) String() string         { return Summary(m) }
func (m EstablishedEvent) String() string       { return Summary(m) }
func (m ConnectionClearedEvent) String() string { return Summary(m) }
func (m BackInServiceEvent) String() string     { return Summary(m) }
func (m OutOfServiceEvent) String() string      { return Summary(m) }

// CallFields are the facts every call event carries, for code that treats the five call
// events alike (the recorder's call tracking). Fields an event does not have are empty.
type CallFields struct {
	CrossRefID      string
	CallID          string
	Device          string // the connection's device
	Calling         string // empty for ServiceInitiatedEvent and ConnectionClearedEvent
	Called          string // likewise
	LocalConnection ConnectionState
	Cause           string
}

// CallEvent is implemented by ServiceInitiatedEvent, OriginatedEvent, DeliveredEvent,
// EstablishedEvent and ConnectionClearedEvent.
type CallEvent interface {
	Message
	CallFields() CallFields
}

// CallFields returns the common fields.
func (e ServiceInitiatedEvent) CallFields() CallFields {
	return CallFields{e.CrossRefID, e.CallID, e.Device, "", "", e.LocalConnection, e.Cause}
}

// CallFields returns the common fields.
func (e OriginatedEvent) CallFields() CallFields {
	return CallFields{e.CrossRefID, e.CallID, e.Device, e.Calling, e.Called, e.LocalConnection, e.Cause}
}

// CallFields returns the common fields.
func (e DeliveredEvent) CallFields() CallFields {
	return CallFields{e.CrossRefID, e.CallID, e.Device, e.Calling, e.Called, e.LocalConnection, e.Cause}
}

// CallFields returns the common fields.
func (e EstablishedEvent) CallFields() CallFields {
	return CallFields{e.CrossRefID, e.CallID, e.Device, e.Calling, e.Called, e.LocalConnection, e.Cause}
}

// CallFields returns the common fields.
func (e ConnectionClearedEvent) CallFields() CallFields {
	return CallFields{e.CrossRefID, e.CallID, e.Device, "", "", e.LocalConnection, e.Cause}
}

// IsEvent reports whether m is an unsolicited event, which travels with EventInvokeID.
func IsEvent(m Message) bool {
	if m == nil {
		return false
	}
	k := m.Kind()
	return len(k) > len("Event") && strings.HasSuffix(k, "Event")
}

// FormatCallID renders n as a 24-digit zero-padded decimal callID, the form MX-ONE uses
// (design.md "CSTA"): FormatCallID(42) == "000000000000000000000042".
func FormatCallID(n uint64) string {
	return fmt.Sprintf("%024d", n)
}

// CallIDLen is the number of decimal digits in a callID.
const CallIDLen = 24

// ValidateCallID checks that id is exactly 24 decimal digits.
func ValidateCallID(id string) error {
	if len(id) != CallIDLen {
		return fmt.Errorf("csta: callID %q has %d characters, want %d decimal digits", id, len(id), CallIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return fmt.Errorf("csta: callID %q has a non-digit at position %d", id, i)
		}
	}
	return nil
}
