package scenarios

import (
	"testing"

	"github.com/reclab/reclab/internal/labtest"
)

// Whole-lab tests bind the lab's address plan: each package runs in a
// network namespace of its own, so packages test in parallel. TestLibrary,
// whose stories run in namespaces of their own, runs beside the rest.
func TestMain(m *testing.M) { labtest.MainBeside(m, "TestLibrary") }
