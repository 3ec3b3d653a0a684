package model

import (
	"errors"
	"fmt"
	"strings"
)

// FixedPort is the recording SIP port of the MiVoice 442x and Mitel 743x/744x
// phones. Spec §3.2: "the SIP stack in the telephone listens on port 7300. The
// port number is fixed."
const FixedPort = 7300

// DefaultSIPPort is the phone's SIP port when its configuration file sets no
// "sip local port". On the Mitel 6700/6800/6900 it is also the recording port.
const DefaultSIPPort = 5060

// Family is a group of phone models that share a port rule. The zero value is
// no family; every model in the table has one.
type Family uint8

const (
	// Family442x is MiVoice 442x (DBC 42x): recording on the fixed port 7300.
	Family442x Family = iota + 1
	// Family743x is Mitel 743x (DBC 43x): recording on the fixed port 7300.
	Family743x
	// Family744x is Mitel 744x (DBC 44x): recording on the fixed port 7300.
	Family744x
	// Family6700 is Mitel 6700: recording on the SIP port from the configuration file.
	Family6700
	// Family6800 is Mitel 6800: as 6700.
	Family6800
	// Family6900 is Mitel 6900: as 6700.
	Family6900
)

// String gives the family's name as spec §3 writes it, e.g. "MiVoice 442x (DBC 42x)".
func (f Family) String() string {
	switch f {
	case Family442x:
		return "MiVoice 442x (DBC 42x)"
	case Family743x:
		return "Mitel 743x (DBC 43x)"
	case Family744x:
		return "Mitel 744x (DBC 44x)"
	case Family6700:
		return "Mitel 6700"
	case Family6800:
		return "Mitel 6800"
	case Family6900:
		return "Mitel 6900"
	}
	return fmt.Sprintf("Family(%d)", uint8(f))
}

// fixedPort reports whether the family's recording stack listens on FixedPort.
// Spec §3.2 names "Mitel 7400 and MiVoice 442x"; the 7400 series is our 743x
// and 744x families.
func (f Family) fixedPort() bool {
	return f == Family442x || f == Family743x || f == Family744x
}

// Model is one phone model from the table in All. The zero value is no
// model: it has no port rule and Validate refuses it.
type Model struct {
	Name   string // as Mitel writes it: "7434", "6867i", "6920"
	Family Family
}

// String returns the model's name.
func (m Model) String() string { return m.Name }

// FixedRecordingPort returns 7300, true for the 442x, 743x and 744x families
// (spec §3.2: "The port number is fixed"), and 0, false for the 6700, 6800 and
// 6900 families, whose recording port is the phone's SIP port from its
// configuration file (spec §3.2: "possible to set via the configuration file"),
// default 5060; see Config.RecordingPort.
func (m Model) FixedRecordingPort() (port int, fixed bool) {
	if m.Family.fixedPort() {
		return FixedPort, true
	}
	return 0, false
}

// SeparateRecordingStack reports whether the phone runs a second SIP stack just
// for recording sessions, next to the one that registers with the PBX. It is
// true exactly for the fixed-port families: their recording stack listens on
// 7300 whatever the PBX-side SIP port is. The 6700/6800/6900 take the
// recorder's INVITE on their one SIP stack.
func (m Model) SeparateRecordingStack() bool {
	return m.Family.fixedPort()
}

// H323 reports whether the model is an H.323 terminal of the MX-ONE (the
// DBC 42x/43x/44x, spec §1.3: "supported for SIP and H.323 terminals"):
// it registers with the PBX's gatekeeper over H.225.0 RAS (issue 15). Its
// recording stack is SIP on the fixed port all the same (spec §3.2).
func (m Model) H323() bool { return m.Family.fixedPort() }

// modelTable is every model spec §3 names, grouped by family, in the order the
// spec lists the families.
var modelTable = []Model{
	{"4422", Family442x}, {"4423", Family442x}, {"4425", Family442x},
	{"7431", Family743x}, {"7433", Family743x}, {"7434", Family743x},
	{"7444", Family744x},
	{"6730i", Family6700}, {"6731i", Family6700}, {"6735i", Family6700}, {"6737i", Family6700},
	{"6739i", Family6700}, {"6753i", Family6700}, {"6755i", Family6700}, {"6757i", Family6700},
	{"6863i", Family6800}, {"6865i", Family6800}, {"6867i", Family6800}, {"6869i", Family6800},
	{"6873i", Family6800},
	{"6905", Family6900}, {"6910", Family6900}, {"6915", Family6900}, {"6920", Family6900},
	{"6930", Family6900}, {"6940", Family6900}, {"6970", Family6900},
}

// All returns the full model table in order: 442x, 743x, 744x, 6700, 6800,
// 6900. The slice is a copy.
func All() []Model {
	return append([]Model(nil), modelTable...)
}

// ErrUnknown is wrapped by Lookup's error.
var ErrUnknown = errors.New("model: unknown model")

// Lookup finds a model by name, ignoring case and surrounding spaces. The
// trailing "i" of the 6xxx names is optional both ways: "6867" finds 6867i and
// "6920i" finds 6920. The error wraps ErrUnknown and lists the valid names.
func Lookup(name string) (Model, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	for _, m := range modelTable {
		if key == m.Name {
			return m, nil
		}
		if base := strings.TrimSuffix(m.Name, "i"); !m.Family.fixedPort() && (key == base || key == base+"i") {
			return m, nil
		}
	}
	names := make([]string, len(modelTable))
	for i, m := range modelTable {
		names[i] = m.Name
	}
	return Model{}, fmt.Errorf("%w %q; valid models: %s", ErrUnknown, name, strings.Join(names, ", "))
}
