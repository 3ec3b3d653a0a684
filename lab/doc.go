// Package lab assembles a whole lab from a Topology: the network, the PBX,
// the recorder and the phones, each on its own loopback address, with the
// phones' configuration files written out in Mitel's text form.
//
// It lives beside sim, not in it, because it imports the nodes that import
// sim. It holds no protocol logic.
//
// Example:
//
//	l, _ := lab.Build(lab.Default(), lab.Options{OutDir: "out/run1", Pcap: true})
//	defer l.Close()
//	l.Start(ctx) // PBX, recorder, phones registered
package lab
