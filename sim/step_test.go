package sim

import (
	"bytes"
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

// In step mode a CSTA write the display picks waits in its connection: the
// writer returns at once (no write timeout runs out behind a step),
// nothing is traced or read before the step, a keep-alive written after it
// goes behind it (a byte stream keeps its order), and one Step sends the
// held write and that keep-alive. A held SIP datagram and the CSTA write
// go one per Step, oldest first (issue 12: step mode held SIP only).
func TestSteppingHoldsTCPWritesInOrder(t *testing.T) {
	n, err := NewNetwork(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	l, client, server, _ := impairTestTCP(t, n, "127.20.5.11", "127.20.5.12")
	defer l.Close()
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	phone, _ := n.AddNode("phone", netip.MustParseAddr("127.20.5.13"))
	cp, err := phone.ListenPacket(5060)
	if err != nil {
		t.Fatal(err)
	}
	pbxSIP, err := l.node.ListenPacket(5060)
	if err != nil {
		t.Fatal(err)
	}
	keepAlive := []byte("SystemStatus keep-alive")
	n.SetStepping(true, func(p Proto, b []byte) bool { return !bytes.Equal(b, keepAlive) })
	// First a SIP datagram waits in its sender, then a CSTA write in its connection.
	sipHeld := WatchState(n.Trace(), func(h HeldMessage) bool { return h.Proto == ProtoSIP })
	go cp.WriteToAddrPort([]byte("INVITE sip:1002@127.20.5.11 SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n"), pbxSIP.LocalAddrPort())
	if _, err := sipHeld.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	cstaHeld := WatchState(n.Trace(), func(h HeldMessage) bool { return h.Proto == ProtoCSTA })
	event := []byte("EstablishedEvent 1001")
	if k, err := server.Write(event); err != nil || k != len(event) {
		t.Fatalf("held write: %d, %v; want it taken at once", k, err)
	}
	if _, err := cstaHeld.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Write(keepAlive); err != nil {
		t.Fatal(err)
	}
	if n.Held() != 2 || n.Trace().Count(KindMessage) != 0 {
		t.Fatalf("%d held, %d traced; want the INVITE and the event held, nothing traced", n.Held(), n.Trace().Count(KindMessage))
	}
	sipSent := n.Trace().Watch(func(e Event) bool { return e.Kind == KindMessage && e.Proto == ProtoSIP })
	if !n.Step() {
		t.Fatal("Step found nothing held")
	}
	if _, err := sipSent.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if c := n.Trace().Count(KindMessage); c != 1 {
		t.Fatalf("the first step sent %d messages, want the INVITE alone", c)
	}
	if !n.Step() {
		t.Fatal("the second Step found nothing held")
	}
	want := string(event) + string(keepAlive)
	got := make([]byte, 0, len(want))
	buf := make([]byte, 64)
	for len(got) < len(want) {
		k, err := client.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:k]...)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q in order", got, want)
	}
	if n.Held() != 0 || n.Step() {
		t.Fatalf("%d still held after both steps", n.Held())
	}
	// A held write goes out before the connection's FIN.
	if _, err := server.Write(event); err != nil {
		t.Fatal(err)
	}
	server.Close()
	got = got[:0]
	for {
		k, err := client.Read(buf)
		got = append(got, buf[:k]...)
		if err != nil {
			break
		}
	}
	if string(got) != string(event) || n.Held() != 0 {
		t.Fatalf("read %q before the close, %d held; want the held write, none left", got, n.Held())
	}
}
