package sim

import (
	"context"
	"testing"
	"time"
)

// A datagram to or from 1719 that is neither SIP nor RTP is traced as RAS,
// with the summariser the lab gives for it; the same bytes on another port
// stay OTHER.
func TestRASIsNamedByPort(t *testing.T) {
	n, err := NewNetwork(Config{Summarizers: map[Proto]func([]byte) []string{
		ProtoRAS: func(b []byte) []string { return []string{"GRQ #1"} }}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a := addNode(t, n, "phone", "127.20.50.5")
	b := addNode(t, n, "pbx", "127.20.50.6")
	ca, err := a.ListenPacket(RASPort)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.ListenPacket(RASPort)
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.ListenPacket(4000)
	if err != nil {
		t.Fatal(err)
	}
	grq := []byte{0x00, 0x00, 0x00, 0x06, 0x00, 0x08, 0x91, 0x4a, 0x00, 0x04}
	w := n.Trace().Watch(func(e Event) bool { return e.Kind == KindMessage && e.Dst == cb.LocalAddrPort() })
	wo := n.Trace().Watch(func(e Event) bool { return e.Kind == KindMessage && e.Dst == other.LocalAddrPort() })
	if _, err := ca.WriteToAddrPort(grq, cb.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteToAddrPort(grq, other.LocalAddrPort()); err != nil { // from 1719: still RAS
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := w.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Proto != ProtoRAS || e.Summary != "GRQ #1" {
		t.Errorf("traced as %s %q, want RAS \"GRQ #1\"", e.Proto, e.Summary)
	}
	if e, err = wo.Wait(ctx); err != nil || e.Proto != ProtoRAS {
		t.Errorf("from 1719 to 4000: %v %v, want RAS", e.Proto, err)
	}
	if p := classifyDatagram(grq, other.LocalAddrPort(), other.LocalAddrPort()); p != ProtoOther {
		t.Errorf("away from 1719 the bytes are %s, want OTHER", p)
	}
	if p, err := ParseProto("ras"); err != nil || p != ProtoRAS {
		t.Errorf("ParseProto(ras) = %v, %v", p, err)
	}
}
