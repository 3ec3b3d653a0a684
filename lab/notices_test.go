package lab

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/reclab/reclab/sim"
)

// design.md: unknown configuration parameters are kept and reported, never
// silently dropped (issue 11 item 9). Building the lab puts each in the
// trace with its file and line.
func TestUnknownConfigParametersAreNoted(t *testing.T) {
	topo := Default()
	topo.PBXAddr, topo.RecorderAddr, topo.PhoneBase = mustAddr("127.20.70.1"), mustAddr("127.20.70.2"), mustAddr("127.20.71.1")
	topo.Phones[0].Config = map[string]string{"frobnicate": "yes"}
	l, err := Build(topo, Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var noted []string
	for _, e := range l.Net.Trace().Recent() {
		if e.Kind == sim.KindNote && e.From == "7434" {
			noted = append(noted, e.Summary)
		}
	}
	if len(noted) != 1 || !strings.Contains(noted[0], `7434.cfg:`) || !strings.Contains(noted[0], `unknown parameter "frobnicate" kept, not applied`) {
		t.Fatalf("notes of 7434 at build: %q", noted)
	}
	if err := Check(topo); err != nil {
		t.Fatalf("an unknown parameter is no error: %v", err)
	}
	topo.Phones[1].Config = map[string]string{"sip local port": "abc"}
	if err := Check(topo); err == nil || !strings.Contains(err.Error(), `bad value "abc"`) {
		t.Fatalf("Check of a bad port: %v", err)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
