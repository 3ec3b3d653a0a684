package sim

import (
	"context"
	"testing"
	"time"
)

// A sweep that comes a stall after the one before reports the stall and
// stops no stream: the stream's next packet counts into it, with no second
// start (issue 12: a host stall showed as every stream stopping). The
// sweep is called by hand; the background one (idle an hour) never fires.
func TestHostStallIsAStallNotAStop(t *testing.T) {
	n, err := NewNetwork(Config{StreamIdle: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ca, err := addNode(t, n, "phone", "127.20.52.3").ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := addNode(t, n, "recorder", "127.20.52.4").ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 172)
	pkt[0] = 0x80
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stall := WatchState(n.Trace(), func(h HostStall) bool { return h.Length == 2*time.Hour })
	stops := n.Trace().Watch(func(e Event) bool { return e.Kind == KindStreamStop })
	if _, err := ca.WriteToAddrPort(pkt, cb.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
	n.sweepAfter(2 * time.Hour)
	if _, err := stall.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteToAddrPort(pkt, cb.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
	// Every stream quiet now (idle -1): the one stream stops, both packets in it.
	n.streams.sweep(n, -1)
	e, err := stops.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Packets != 2 || n.Trace().Count(KindStreamStart) != 1 {
		t.Fatalf("stop with %d packets after %d starts, want 2 packets in one stream", e.Packets, n.Trace().Count(KindStreamStart))
	}
}
