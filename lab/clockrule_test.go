package lab

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// machineTime are the calls that read or wait on the machine's clock. Lab
// code takes them from sim.Clock instead (style habit 7; issue "one lab
// clock"); context.WithTimeout/WithDeadline hide a machine timer too
// (sim.WithTimeout is the lab's).
var machineTime = map[string]map[string]bool{
	"time":    {"Now": true, "Since": true, "Until": true, "AfterFunc": true, "NewTimer": true, "NewTicker": true, "Sleep": true, "After": true, "Tick": true},
	"context": {"WithTimeout": true, "WithDeadline": true, "WithTimeoutCause": true, "WithDeadlineCause": true},
}

// labCode is the code of the lab's nodes and of what drives them. sim's
// clock.go is where the machine's clock is read; cmd (the TUI's redraw
// tick, the bench's wall-clock figures) measures the machine, not the lab.
var labCode = []string{"../sim", "../phones", "../pbx", "../recorder", "../lab", "../scenarios"}

func TestNodeCodeUsesTheLabClock(t *testing.T) {
	fset := token.NewFileSet()
	scanned := 0
	for _, root := range labCode {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			if filepath.ToSlash(path) == "../sim/clock.go" {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			scanned++
			names := map[string]string{} // local name → import path
			for _, im := range f.Imports {
				p, _ := strconv.Unquote(im.Path.Value)
				if machineTime[p] == nil {
					continue
				}
				name := p
				if im.Name != nil {
					name = im.Name.Name
				}
				names[name] = p
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				id, ok := sel.X.(*ast.Ident)
				if !ok || id.Obj != nil { // a local variable, not a package
					return true
				}
				if p, ok := names[id.Name]; ok && machineTime[p][sel.Sel.Name] {
					t.Errorf("%s: %s.%s reads the machine's clock; use the lab's sim.Clock (node.Clock(), sim.WithTimeout)",
						fset.Position(sel.Pos()), p, sel.Sel.Name)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if scanned < 50 {
		t.Fatalf("scanned only %d files: the roots moved?", scanned)
	}
}
