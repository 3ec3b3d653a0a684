package sim

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// In step mode a SIP datagram waits in its sender until Step: nothing is
// traced or received before; the HeldMessage state says what waits; Step
// lets exactly it go. RTP is never held.
func TestSteppingHoldsSignallingUntilStep(t *testing.T) {
	n, err := NewNetwork(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, _ := n.AddNode("a", netip.MustParseAddr("127.20.5.1"))
	b, _ := n.AddNode("b", netip.MustParseAddr("127.20.5.2"))
	ca, err := a.ListenPacket(5060)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.ListenPacket(5060)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	held := WatchState(n.Trace(), func(h HeldMessage) bool { return h.From == "a" && h.To == "b" })
	sent := n.Trace().Watch(func(e Event) bool { return e.Kind == KindMessage && e.Proto == ProtoSIP })
	n.SetStepping(true, nil)
	if n.Step() {
		t.Fatal("Step with nothing held let something go")
	}
	msg := []byte("OPTIONS sip:b@127.20.5.2 SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	done := make(chan error, 1)
	go func() { _, err := ca.WriteToAddrPort(msg, cb.LocalAddrPort()); done <- err }()
	ev, err := held.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h := ev.State.(HeldMessage); h.Proto != ProtoSIP || h.Summary != "OPTIONS sip:b@127.20.5.2" || n.Held() != 1 {
		t.Fatalf("held %+v, %d waiting", h, n.Held())
	}
	select {
	case <-done:
		t.Fatal("the held datagram was sent before the step")
	default:
	}
	// RTP flows on while the SIP message waits.
	rtp := []byte{0x80, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}
	if _, err := ca.WriteToAddrPort(rtp, cb.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
	if !n.Step() {
		t.Fatal("Step found nothing held")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := sent.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// Off again: a message goes at once.
	n.SetStepping(false, nil)
	if _, err := ca.WriteToAddrPort(msg, cb.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
}
