package model

import (
	"errors"
	"strings"
	"testing"
)

func TestModelsTable(t *testing.T) {
	want := map[Family][]string{
		Family442x: {"4422", "4423", "4425"},
		Family743x: {"7431", "7433", "7434"},
		Family744x: {"7444"},
		Family6700: {"6730i", "6731i", "6735i", "6737i", "6739i", "6753i", "6755i", "6757i"},
		Family6800: {"6863i", "6865i", "6867i", "6869i", "6873i"},
		Family6900: {"6905", "6910", "6915", "6920", "6930", "6940", "6970"},
	}
	got := map[Family][]string{}
	prev := Family(0)
	for _, m := range All() {
		if m.Family < prev {
			t.Errorf("%s out of family order", m)
		}
		prev = m.Family
		got[m.Family] = append(got[m.Family], m.Name)
	}
	for f, names := range want {
		if strings.Join(got[f], " ") != strings.Join(names, " ") {
			t.Errorf("%s: got %v, want %v", f, got[f], names)
		}
	}
	if len(got) != len(want) {
		t.Errorf("families %v", got)
	}
	ms := All()
	ms[0].Name = "changed"
	if All()[0].Name != "4422" {
		t.Error("Models returns the table itself, not a copy")
	}
}

func TestFamilyString(t *testing.T) {
	for f, want := range map[Family]string{
		Family442x: "MiVoice 442x (DBC 42x)",
		Family743x: "Mitel 743x (DBC 43x)",
		Family744x: "Mitel 744x (DBC 44x)",
		Family6700: "Mitel 6700",
		Family6800: "Mitel 6800",
		Family6900: "Mitel 6900",
		0:          "Family(0)",
	} {
		if got := f.String(); got != want {
			t.Errorf("%d: %q, want %q", uint8(f), got, want)
		}
	}
}

// TestModelPortRule checks spec §3.2 for every family: 7300 and a separate
// recording stack for 442x/743x/744x, the configured SIP port for 6xxx.
func TestModelPortRule(t *testing.T) {
	for _, m := range All() {
		port, fixed := m.FixedRecordingPort()
		wantFixed := m.Family == Family442x || m.Family == Family743x || m.Family == Family744x
		if fixed != wantFixed || m.SeparateRecordingStack() != wantFixed {
			t.Errorf("%s (%s): fixed %t, separate stack %t; want %t", m, m.Family, fixed, m.SeparateRecordingStack(), wantFixed)
		}
		if wantPort := map[bool]int{true: 7300, false: 0}[wantFixed]; port != wantPort {
			t.Errorf("%s: port %d, want %d", m, port, wantPort)
		}
	}
	if _, fixed := (Model{}).FixedRecordingPort(); fixed {
		t.Error("the zero Model has a fixed port")
	}
}

func TestLookupModel(t *testing.T) {
	for _, m := range All() {
		for _, name := range []string{m.Name, strings.ToUpper(m.Name), " " + m.Name + " "} {
			got, err := Lookup(name)
			if err != nil || got != m {
				t.Errorf("Lookup(%q) = %v, %v; want %v", name, got, err, m)
			}
		}
	}
	for name, want := range map[string]string{
		"6867": "6867i", "6867I": "6867i", "6730": "6730i", "6920i": "6920", "6920": "6920",
	} {
		got, err := Lookup(name)
		if err != nil || got.Name != want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", name, got, err, want)
		}
	}
	for _, name := range []string{"", "7434i", "4422i", "1234", "6867ii", "i", "68"} {
		_, err := Lookup(name)
		if !errors.Is(err, ErrUnknown) {
			t.Errorf("Lookup(%q) err = %v, want ErrUnknown", name, err)
		}
	}
	_, err := Lookup("x")
	want := `model: unknown model "x"; valid models: 4422, 4423, 4425, 7431, 7433, 7434, 7444, 6730i, ` +
		`6731i, 6735i, 6737i, 6739i, 6753i, 6755i, 6757i, 6863i, 6865i, 6867i, 6869i, 6873i, ` +
		`6905, 6910, 6915, 6920, 6930, 6940, 6970`
	if err == nil || err.Error() != want {
		t.Errorf("error\n got %v\nwant %s", err, want)
	}
}
