package phones

import "github.com/reclab/reclab/phones/model"

// The model table and its port rules live in phones/model, a leaf package the
// PBX reads too (it names a registering phone's model in CSTA, spec §3.2.6)
// without importing the phone itself. These names keep the phone's own API.
type (
	// Model is model.Model.
	Model = model.Model
	// Family is model.Family.
	Family = model.Family
)

// FixedPort is the recording SIP port of the fixed-port families (spec §3.2).
const FixedPort = model.FixedPort

// DefaultSIPPort is the phone's SIP port when its configuration sets none.
const DefaultSIPPort = model.DefaultSIPPort

// LookupModel finds a model by name; see model.Lookup.
func LookupModel(name string) (Model, error) { return model.Lookup(name) }
