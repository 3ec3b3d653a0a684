package sim

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestWriteBatchTracesAndCapturesEach: a batch's datagrams, to several
// destinations, all arrive, each traced and each once in the pcap, as if
// sent one by one.
func TestWriteBatchTracesAndCapturesEach(t *testing.T) {
	var file bytes.Buffer
	n, err := NewNetwork(Config{Pcap: &file})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, b, gotB := impairTestPair(t, n, "127.20.64.1", "127.20.64.2")
	c, err := addNode(t, n, "c", "127.20.64.3").ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	gotC := impairTestReader(c)
	rtp1, rtp2 := pcapTestRTP(1), pcapTestRTP(2)
	batch := []Datagram{
		{B: rtp1, Dst: b.LocalAddrPort()},
		{B: []byte("hello c"), Dst: c.LocalAddrPort()},
		{B: rtp2, Dst: b.LocalAddrPort()},
		{B: []byte("hello b"), Dst: b.LocalAddrPort()},
	}
	if k, err := a.WriteBatch(batch); k != len(batch) || err != nil {
		t.Fatalf("WriteBatch: %d, %v; want %d sent", k, err, len(batch))
	}
	for _, want := range []string{string(rtp1), string(rtp2), "hello b"} {
		if s := impairTestRecv(t, gotB); s != want {
			t.Errorf("b got %q, want %q (in the batch's order)", s, want)
		}
	}
	if s := impairTestRecv(t, gotC); s != "hello c" {
		t.Errorf("c got %q", s)
	}
	if k := n.Trace().Count(KindMessage); k != 2 {
		t.Errorf("%d message events, want the two non-RTP datagrams", k)
	}
	n.Close()
	seen := map[string]int{}
	impairTestPcap(t, file.Bytes(), func(p gopacket.Packet, _ time.Time) {
		if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			seen[string(u.Payload)]++
		}
	})
	for _, d := range batch {
		if seen[string(d.B)] != 1 {
			t.Errorf("pcap has %q %d times, want once", d.B, seen[string(d.B)])
		}
	}
}

// TestWriteBatchImpairsEach: impairments and link delays judge each
// datagram of a batch on its own: one held, one repeated, one as is.
func TestWriteBatchImpairsEach(t *testing.T) {
	n := newTestNet(t)
	a, b, gotB := impairTestPair(t, n, "127.20.64.11", "127.20.64.12")
	c, err := addNode(t, n, "c", "127.20.64.13").ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	gotC := impairTestReader(c)
	const delay = 150 * time.Millisecond
	impairTestSet(t, n, Impairment{From: "a", To: "b", AllProtos: true, Delay: delay})
	impairTestSet(t, n, Impairment{From: "a", To: "c", Proto: ProtoOther, Duplicate: 1})
	sent := n.Now()
	if k, err := a.WriteBatch([]Datagram{{B: []byte("held"), Dst: b.LocalAddrPort()}, {B: []byte("twice"), Dst: c.LocalAddrPort()}}); k != 2 || err != nil {
		t.Fatalf("WriteBatch: %d, %v", k, err)
	}
	for range 2 {
		if s := impairTestRecv(t, gotC); s != "twice" {
			t.Errorf("c got %q, want the duplicated datagram twice", s)
		}
	}
	if s := impairTestRecv(t, gotB); s != "held" {
		t.Errorf("b got %q", s)
	}
	if d := n.Now() - sent; d < delay {
		t.Errorf("the held datagram came %s after the batch, want at least %s", d, delay)
	}

	n.LiftAll()
	const link = 120 * time.Millisecond
	const least = link - link/10 // LinkDelays: a jitter of a tenth either way
	if err := n.SetLinkDelays(LinkDelays{Min: link, Max: link}); err != nil {
		t.Fatal(err)
	}
	delayed := n.Trace().Watch(func(e Event) bool { return e.Summary == "linked" && e.Delayed >= least })
	sent = n.Now()
	if k, err := a.WriteBatch([]Datagram{{B: []byte("linked"), Dst: b.LocalAddrPort()}}); k != 1 || err != nil {
		t.Fatalf("WriteBatch: %d, %v", k, err)
	}
	if s := impairTestRecv(t, gotB); s != "linked" {
		t.Errorf("b got %q", s)
	}
	if d := n.Now() - sent; d < least {
		t.Errorf("over a delayed link the datagram came after %s, want at least %s", d, least)
	}
	ctx, cancel := context.WithTimeout(context.Background(), impairTestWait)
	defer cancel()
	if _, err := delayed.Wait(ctx); err != nil {
		t.Error("the trace has no delayed datagram:", err)
	}
}

// TestWriteBatchAllocs: a call's period, its packet and the recorder's
// copy, costs no allocation.
func TestWriteBatchAllocs(t *testing.T) {
	n := newTestNet(t)
	a, err := addNode(t, n, "a", "127.20.64.21").ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := addNode(t, n, "b", "127.20.64.22").ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := addNode(t, n, "rec", "127.20.64.23").ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, pc := range []*PacketConn{b, rec} {
		go batchTestDrain(pc)
	}
	batch := []Datagram{{B: pcapTestRTP(1), Dst: b.LocalAddrPort()}, {B: pcapTestRTP(2), Dst: rec.LocalAddrPort()}}
	a.WriteBatch(batch) // the first makes the socket's sendmmsg state
	if allocs := testing.AllocsPerRun(1000, func() { a.WriteBatch(batch) }); allocs != 0 {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
}

// batchTestDrain reads pc until it closes, allocating nothing
// (AllocsPerRun counts every goroutine's allocations).
func batchTestDrain(pc *PacketConn) {
	buf := make([]byte, 2048)
	for {
		if _, _, err := pc.ReadFromAddrPort(buf); err != nil {
			return
		}
	}
}

// BenchmarkWriteBatch is BenchmarkWriteToAddrPort's datagram as a call's
// period sends it: the packet and its fork copy in one WriteBatch. Compare
// per datagram: ns/op here covers two.
func BenchmarkWriteBatch(b *testing.B) {
	n, err := NewNetwork(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	var conns [3]*PacketConn
	for i, name := range []string{"a", "b", "rec"} {
		nd, err := n.AddNode(name, netip.AddrFrom4([4]byte{127, 20, 63, byte(i + 1)}))
		if err != nil {
			b.Fatal(err)
		}
		if conns[i], err = nd.ListenPacket(0); err != nil {
			b.Fatal(err)
		}
	}
	go batchTestDrain(conns[1])
	go batchTestDrain(conns[2])
	pkt := make([]byte, 172)
	pkt[0], pkt[1] = 0x80, 8
	batch := []Datagram{{B: pkt, Dst: conns[1].LocalAddrPort()}, {B: pkt, Dst: conns[2].LocalAddrPort()}}
	b.ReportAllocs()
	for b.Loop() {
		conns[0].WriteBatch(batch)
	}
}
