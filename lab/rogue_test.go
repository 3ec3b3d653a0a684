package lab

import (
	"net/netip"
	"testing"
)

// TestRogueStaysInTheLabsBlock: a lab moved with --net keeps its rogue host
// in its own /16, so two labs on one machine never share 127.20.9.9.
func TestRogueStaysInTheLabsBlock(t *testing.T) {
	for pbx, want := range map[string]string{
		"":            "127.20.9.9",
		"127.33.0.1":  "127.33.9.9",
		"127.20.0.1":  "127.20.9.9",
		"198.18.0.10": "127.20.9.9", // split mode off loopback: the plan's default
	} {
		topo := Default()
		if pbx != "" {
			topo.PBXAddr = netip.MustParseAddr(pbx)
		}
		if err := topo.defaults(); err != nil && pbx != "198.18.0.10" {
			t.Fatalf("PBX %s: %v", pbx, err)
		}
		if got := topo.RogueAddr().String(); got != want {
			t.Errorf("PBX %q: rogue at %s, want %s", pbx, got, want)
		}
	}
}
