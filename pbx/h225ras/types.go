package h225ras

import (
	"fmt"
	"net/netip"
)

// The common elements of the RAS messages this package speaks
// (H.225.0 §7, H323-MESSAGES.asn "common message elements").

// AliasKind is the alternative of an AliasAddress.
type AliasKind uint8

const (
	AliasDigits AliasKind = iota // dialledDigits: "0123456789#*,"
	AliasH323ID                  // h323-ID: a BMPString
	AliasURL                     // url-ID (extension addition)
	AliasEmail                   // email-ID (extension addition)
	AliasOther                   // another extension alternative, kept as its number only
)

var aliasKindNames = [...]string{"dialledDigits", "h323-ID", "url-ID", "email-ID", "other"}

func (k AliasKind) String() string {
	if int(k) < len(aliasKindNames) {
		return aliasKindNames[k]
	}
	return fmt.Sprintf("AliasKind(%d)", uint8(k))
}

// Alias is one AliasAddress. An extension alternative this package does not
// know decodes as AliasOther with its alternative number in Other.
type Alias struct {
	Kind  AliasKind
	Value string
	Other int
}

// Digits is a dialledDigits alias: an extension number.
func Digits(s string) Alias { return Alias{Kind: AliasDigits, Value: s} }

func (a Alias) String() string {
	if a.Kind == AliasOther {
		return fmt.Sprintf("alias #%d", a.Other)
	}
	return a.Value
}

// Vendor is a VendorIdentifier: an H221NonStandard code and the product
// and version strings. The lab writes the phone's model into ProductID as
// "Mitel 7434" and its firmware into VersionID (docs/wire.md).
type Vendor struct {
	CountryCode      uint8 // t35CountryCode
	Extension        uint8 // t35Extension
	ManufacturerCode uint16
	ProductID        string // empty: absent
	VersionID        string // empty: absent
}

// EndpointType says what kind of H.323 entity sent the message. Gateway and
// MCU descriptions are outside this package's subset: decoding one is an
// error naming it.
type EndpointType struct {
	Vendor        *Vendor
	Gatekeeper    bool // gatekeeper GatekeeperInfo present
	Terminal      bool // terminal TerminalInfo present
	MC            bool
	UndefinedNode bool
}

// Terminal is the EndpointType of an H.323 phone.
func Terminal() EndpointType { return EndpointType{Terminal: true} }

// Kind names a RAS message, as Wireshark abbreviates them.
type Kind uint8

const (
	KindGRQ Kind = iota
	KindGCF
	KindGRJ
	KindRRQ
	KindRCF
	KindRRJ
	KindURQ
	KindUCF
	KindURJ
)

var kindNames = [...]string{"GRQ", "GCF", "GRJ", "RRQ", "RCF", "RRJ", "URQ", "UCF", "URJ"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Message is one RAS message of the subset: *GRQ, *GCF, *GRJ, *RRQ, *RCF,
// *RRJ, *URQ, *UCF or *URJ.
type Message interface {
	Kind() Kind
	SeqNum() uint16 // requestSeqNum: an answer carries its request's
}

// GRQ is a GatekeeperRequest: discovery (H.225.0 §7.2.1).
type GRQ struct {
	RequestSeqNum uint16
	Protocol      OID
	RASAddress    netip.AddrPort
	EndpointType  EndpointType
	GatekeeperID  string // empty: any gatekeeper
	EndpointAlias []Alias
}

// GCF is a GatekeeperConfirm.
type GCF struct {
	RequestSeqNum uint16
	Protocol      OID
	GatekeeperID  string
	RASAddress    netip.AddrPort
}

// GRJ is a GatekeeperReject.
type GRJ struct {
	RequestSeqNum uint16
	Protocol      OID
	GatekeeperID  string
	Reason        GRJReason
}

// RRQ is a RegistrationRequest (H.225.0 §7.6.1). KeepAlive with
// EndpointID and GatekeeperID set is the lightweight form that refreshes a
// registration before its time to live runs out (H.225.0 §7.9.1).
type RRQ struct {
	RequestSeqNum     uint16
	Protocol          OID
	DiscoveryComplete bool
	CallSignal        []netip.AddrPort
	RAS               []netip.AddrPort
	TerminalType      EndpointType
	TerminalAlias     []Alias
	GatekeeperID      string
	EndpointVendor    Vendor
	// Extension additions.
	TimeToLive         uint32 // seconds; 0: absent
	KeepAlive          bool
	EndpointID         string // empty: absent
	WillSupplyUUIEs    bool
	MaintainConnection bool
}

// RCF is a RegistrationConfirm.
type RCF struct {
	RequestSeqNum uint16
	Protocol      OID
	CallSignal    []netip.AddrPort
	TerminalAlias []Alias
	GatekeeperID  string
	EndpointID    string
	// Extension additions.
	TimeToLive         uint32 // seconds; 0: absent
	WillRespondToIRR   bool
	MaintainConnection bool
}

// RRJ is a RegistrationReject. DuplicateAlias lists the aliases of a
// duplicateAlias reason.
type RRJ struct {
	RequestSeqNum  uint16
	Protocol       OID
	Reason         RRJReason
	DuplicateAlias []Alias
	GatekeeperID   string
}

// URQ is an UnregistrationRequest, from an endpoint leaving or from the
// gatekeeper sending an endpoint away (H.225.0 §7.7).
type URQ struct {
	RequestSeqNum uint16
	CallSignal    []netip.AddrPort
	EndpointAlias []Alias
	EndpointID    string // empty: absent
	// Extension additions.
	GatekeeperID string     // empty: absent
	Reason       *URQReason // nil: absent
}

// UCF is an UnregistrationConfirm.
type UCF struct {
	RequestSeqNum uint16
}

// URJ is an UnregistrationReject.
type URJ struct {
	RequestSeqNum uint16
	Reason        URJReason
}

func (*GRQ) Kind() Kind { return KindGRQ }
func (*GCF) Kind() Kind { return KindGCF }
func (*GRJ) Kind() Kind { return KindGRJ }
func (*RRQ) Kind() Kind { return KindRRQ }
func (*RCF) Kind() Kind { return KindRCF }
func (*RRJ) Kind() Kind { return KindRRJ }
func (*URQ) Kind() Kind { return KindURQ }
func (*UCF) Kind() Kind { return KindUCF }
func (*URJ) Kind() Kind { return KindURJ }

func (m *GRQ) SeqNum() uint16 { return m.RequestSeqNum }
func (m *GCF) SeqNum() uint16 { return m.RequestSeqNum }
func (m *GRJ) SeqNum() uint16 { return m.RequestSeqNum }
func (m *RRQ) SeqNum() uint16 { return m.RequestSeqNum }
func (m *RCF) SeqNum() uint16 { return m.RequestSeqNum }
func (m *RRJ) SeqNum() uint16 { return m.RequestSeqNum }
func (m *URQ) SeqNum() uint16 { return m.RequestSeqNum }
func (m *UCF) SeqNum() uint16 { return m.RequestSeqNum }
func (m *URJ) SeqNum() uint16 { return m.RequestSeqNum }

// The reject and unregistration reasons are CHOICEs of NULLs (but for
// duplicateAlias and the security errors); each is its alternative's
// number, root alternatives first, then the extension ones.

// GRJReason is a GatekeeperRejectReason.
type GRJReason uint8

const (
	GRJResourceUnavailable GRJReason = iota
	GRJTerminalExcluded
	GRJInvalidRevision
	GRJUndefinedReason
)

var grjNames = []string{"resourceUnavailable", "terminalExcluded", "invalidRevision", "undefinedReason",
	"securityDenial", "genericDataReason", "neededFeatureNotSupported", "securityError"}

const grjRoot = 4

func (r GRJReason) String() string { return reasonName(grjNames, int(r)) }

// RRJReason is a RegistrationRejectReason.
type RRJReason uint8

const (
	RRJDiscoveryRequired RRJReason = iota
	RRJInvalidRevision
	RRJInvalidCallSignalAddress
	RRJInvalidRASAddress
	RRJDuplicateAlias // carries RRJ.DuplicateAlias
	RRJInvalidTerminalType
	RRJUndefinedReason
	RRJTransportNotSupported
	RRJTransportQOSNotSupported // extension alternatives from here
	RRJResourceUnavailable
	RRJInvalidAlias
	RRJSecurityDenial
	RRJFullRegistrationRequired // a lightweight RRQ the gatekeeper cannot take
)

var rrjNames = []string{"discoveryRequired", "invalidRevision", "invalidCallSignalAddress", "invalidRASAddress",
	"duplicateAlias", "invalidTerminalType", "undefinedReason", "transportNotSupported",
	"transportQOSNotSupported", "resourceUnavailable", "invalidAlias", "securityDenial",
	"fullRegistrationRequired", "additiveRegistrationNotSupported", "invalidTerminalAliases",
	"genericDataReason", "neededFeatureNotSupported", "securityError", "registerWithAssignedGK"}

const rrjRoot = 8

func (r RRJReason) String() string { return reasonName(rrjNames, int(r)) }

// URQReason is an UnregRequestReason.
type URQReason uint8

const (
	URQReregistrationRequired URQReason = iota
	URQTTLExpired
	URQSecurityDenial
	URQUndefinedReason
	URQMaintenance // extension alternative
)

var urqNames = []string{"reregistrationRequired", "ttlExpired", "securityDenial", "undefinedReason",
	"maintenance", "securityError", "registerWithAssignedGK"}

const urqRoot = 4

func (r URQReason) String() string { return reasonName(urqNames, int(r)) }

// URJReason is an UnregRejectReason.
type URJReason uint8

const (
	URJNotCurrentlyRegistered URJReason = iota
	URJCallInProgress
	URJUndefinedReason
	URJPermissionDenied // extension alternatives from here
	URJSecurityDenial
)

var urjNames = []string{"notCurrentlyRegistered", "callInProgress", "undefinedReason",
	"permissionDenied", "securityDenial", "securityError"}

const urjRoot = 3

func (r URJReason) String() string { return reasonName(urjNames, int(r)) }

func reasonName(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("reason(%d)", i)
}
