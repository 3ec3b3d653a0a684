package lab

// UIDefault is the lab the terminal UI opens with no arguments: the PBX, the
// recorder and one phone of each family the spec names (spec §3): 4422
// (442x), 7434 (743x) and 7444 (744x) take recording INVITEs on the fixed
// port 7300; 6737i (6700), 6867i (6800) and 6920 (6900) on their configured
// SIP port, here 5070, 5071 and 5080 so the port rule shows (spec §3.2).
// Not 5072 (the 6920 had it once): Wireshark gives that port to
// another protocol and would not show its SIP without a decode-as rule.
// Every phone is monitored; dynamic mapping.
func UIDefault() Topology {
	return Topology{Phones: []PhoneSpec{
		{Name: "4422", Ext: "1001", Model: "4422"},
		{Name: "7434", Ext: "1002", Model: "7434"},
		{Name: "7444", Ext: "1003", Model: "7444"},
		{Name: "6737i", Ext: "1004", Model: "6737i", Config: map[string]string{"sip local port": "5070"}},
		{Name: "6867i", Ext: "1005", Model: "6867i", Config: map[string]string{"sip local port": "5071"}},
		{Name: "6920", Ext: "1006", Model: "6920", Config: map[string]string{"sip local port": "5080"}},
	}}
}
