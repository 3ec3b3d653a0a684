package recorder

import (
	"testing"

	"github.com/reclab/reclab/internal/labtest"
)

// Whole-lab tests bind the lab's address plan: each package runs in a
// network namespace of its own (labtest.Main), so packages test in parallel.
func TestMain(m *testing.M) { labtest.Main(m) }
