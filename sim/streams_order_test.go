package sim

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Stream lines never contradict themselves (issue 12: "tx off 0", then a
// start with an earlier time, then a second start): with a sweep that
// finds every stream quiet running against senders that open new streams,
// each stream's events in the trace go start, stop, start, stop…, every
// stop counts at least the packet that started it, and no stop comes
// before its start's time. The sweep is called by hand; the background
// one (idle an hour) never fires.
func TestStreamEventsStayConsistentUnderSweeps(t *testing.T) {
	n, err := NewNetwork(Config{StreamIdle: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	sub := n.Trace().Subscribe(1024, true)
	type rec struct {
		start bool
		at    time.Duration
		pkts  uint64
	}
	got := map[streamKey][]rec{}
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for e := range sub.C {
			if e.Kind == KindStreamStart || e.Kind == KindStreamStop {
				k := streamKey{e.Src, e.Dst}
				got[k] = append(got[k], rec{e.Kind == KindStreamStart, e.At, e.Packets})
			}
		}
	}()
	dst, err := addNode(t, n, "recorder", "127.20.53.1").ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	const senders, packets = 4, 3000
	conns := make([]*PacketConn, senders)
	for i := range conns {
		if conns[i], err = addNode(t, n, fmt.Sprintf("phone%d", i), fmt.Sprintf("127.20.53.%d", 10+i)).ListenPacket(0); err != nil {
			t.Fatal(err)
		}
	}
	go func() { // drain the receiver so sends never block on its buffer
		b := make([]byte, 2048)
		for {
			if _, _, err := dst.ReadFrom(b); err != nil {
				return
			}
		}
	}()
	stop := make(chan struct{})
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		for {
			select {
			case <-stop:
				return
			default:
				n.streams.sweep(n, -1)
			}
		}
	}()
	var wg sync.WaitGroup
	pkt := make([]byte, 172)
	pkt[0] = 0x80
	for _, c := range conns {
		wg.Add(1)
		go func(c *PacketConn) {
			defer wg.Done()
			for range packets {
				if _, err := c.WriteToAddrPort(pkt, dst.LocalAddrPort()); err != nil {
					t.Error(err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	close(stop)
	<-swept
	n.streams.sweep(n, -1)
	n.Close()
	<-collected
	total := uint64(0)
	for k, rs := range got {
		for i, r := range rs {
			if r.start != (i%2 == 0) {
				t.Fatalf("stream %s → %s: event %d is a %s, want alternating start/stop from a start: %+v", k.src, k.dst, i, map[bool]string{true: "start", false: "stop"}[r.start], rs[max(0, i-2):i+1])
			}
			if !r.start {
				if r.pkts == 0 {
					t.Fatalf("stream %s → %s: stop %d with 0 packets", k.src, k.dst, i)
				}
				if r.at < rs[i-1].at {
					t.Fatalf("stream %s → %s: stop at %v before its start at %v", k.src, k.dst, r.at, rs[i-1].at)
				}
				total += r.pkts
			}
		}
	}
	if total != senders*packets {
		t.Fatalf("stops count %d packets, want %d sent", total, senders*packets)
	}
}

// A socket closed while its goroutines still send (a phone's reader
// forking the last packet as the call socket closes) says its streams
// stopped after their last packet: no stream of it starts after the
// "socket closed" stop, and every send after Close is refused, alone or
// in a batch.
func TestCloseStopsStreamsAfterTheirLastPacket(t *testing.T) {
	n := newTestNet(t)
	sub := n.Trace().Subscribe(1<<14, true)
	dst, err := addNode(t, n, "recorder", "127.20.54.1").ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		b := make([]byte, 2048)
		for {
			if _, _, err := dst.ReadFrom(b); err != nil {
				return
			}
		}
	}()
	node := addNode(t, n, "phone", "127.20.54.10")
	pkt := make([]byte, 172)
	pkt[0] = 0x80
	const rounds = 50
	for r := range rounds {
		c, err := node.ListenPacket(0)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 3 { // a sender (a batch: the packet and its fork) and two forkers
			wg.Add(1)
			go func() {
				defer wg.Done()
				batch := []Datagram{{B: pkt, Dst: dst.LocalAddrPort()}, {B: pkt, Dst: dst.LocalAddrPort()}}
				for {
					var err error
					if i == 0 {
						_, err = c.WriteBatch(batch)
					} else {
						_, err = c.WriteToAddrPort(pkt, dst.LocalAddrPort())
					}
					if err != nil {
						return
					}
				}
			}()
		}
		// Close once every goroutine has sent: the streams run.
		for started := 0; started == 0; {
			e := <-sub.C
			if e.Kind == KindStreamStart && e.Src == c.LocalAddrPort() {
				started++
			}
		}
		c.Close()
		wg.Wait()
		if _, err := c.WriteToAddrPort(pkt, dst.LocalAddrPort()); err == nil {
			t.Fatalf("round %d: a send after Close went", r)
		}
		if _, err := c.WriteBatch([]Datagram{{B: pkt, Dst: dst.LocalAddrPort()}}); err == nil {
			t.Fatalf("round %d: a batch after Close went", r)
		}
		// Up to the stop, then nothing of this socket: a marker event
		// from the test says where "after" ends.
		n.Note("test", "round %d done", r)
		stopped := false
		for done := false; !done; {
			e := <-sub.C
			switch {
			case e.Kind == KindNote && e.From == "test":
				done = true
			case e.Src != c.LocalAddrPort():
			case e.Kind == KindStreamStop:
				stopped = true
			case e.Kind == KindStreamStart && stopped:
				t.Fatalf("round %d: %s started after the socket's streams stopped", r, e.Summary)
			}
		}
		if !stopped {
			t.Fatalf("round %d: no stream stop for the closed socket", r)
		}
	}
}
