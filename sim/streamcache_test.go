package sim

import (
	"context"
	"testing"
	"time"
)

// TestStreamRestartsThroughSocketCache: a socket's cached stream that went
// quiet is reported stopped, and the socket's next packet to the same place
// starts a new stream with its own count, as it did before sockets cached
// their streams. The sweep is called by hand (idle -1: every stream is
// quiet) and the background one never fires, so no timing decides anything.
func TestStreamRestartsThroughSocketCache(t *testing.T) {
	n, err := NewNetwork(Config{StreamIdle: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a := addNode(t, n, "phone", "127.20.51.3")
	b := addNode(t, n, "recorder", "127.20.51.4")
	ca, err := a.ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 172)
	pkt[0] = 0x80
	send := func(k int) {
		for range k {
			if _, err := ca.WriteToAddrPort(pkt, cb.LocalAddrPort()); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stops := n.Trace().WatchN(2, func(e Event) bool { return e.Kind == KindStreamStop })
	first := n.Trace().Watch(func(e Event) bool { return e.Kind == KindStreamStop })
	send(30)
	n.streams.sweep(n, -1)
	e, err := first.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Packets != 30 {
		t.Errorf("first stream stopped with %d packets, want 30", e.Packets)
	}
	send(7)
	n.streams.sweep(n, -1)
	if e, err = stops.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Packets != 7 {
		t.Errorf("second stream stopped with %d packets, want 7", e.Packets)
	}
	if c := n.Trace().Count(KindStreamStart); c != 2 {
		t.Errorf("%d stream starts, want 2", c)
	}
}
