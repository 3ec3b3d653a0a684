package sim

import (
	"net/netip"
	"sync/atomic"
	"testing"
)

// benchMessage is a signalling event as the trace receives it: the bench
// lab publishes one per SIP or CSTA message, never one per RTP packet.
func benchMessage() Event {
	return Event{Kind: KindMessage, Proto: ProtoSIP, From: "recorder", To: "p10001",
		Src: netip.MustParseAddrPort("127.20.0.2:5060"), Dst: netip.MustParseAddrPort("127.20.1.1:7300"),
		Summary: "INVITE sip:10001@127.20.1.1:7300", Bytes: make([]byte, 900)}
}

// BenchmarkTracePublish is one event into the ring with nobody listening.
func BenchmarkTracePublish(b *testing.B) {
	t := NewTrace(1024)
	e := benchMessage()
	b.ReportAllocs()
	for b.Loop() {
		t.Publish(e)
	}
}

// BenchmarkTracePublishSubscribed adds a non-blocking subscriber that
// keeps up (the TUI, the bench's reader) and a pending watch.
func BenchmarkTracePublishSubscribed(b *testing.B) { benchPublishTo(b, false) }

// BenchmarkTracePublishBlocking is one event into the ring and a blocking
// subscriber's own queue (a run's printer), its reader keeping up.
func BenchmarkTracePublishBlocking(b *testing.B) { benchPublishTo(b, true) }

func benchPublishTo(b *testing.B, blocking bool) {
	t := NewTrace(1024)
	sub := t.Subscribe(4096, blocking)
	done := make(chan struct{})
	go func() {
		for range sub.C {
		}
		close(done)
	}()
	w := t.Watch(func(e Event) bool { return e.Kind == KindError })
	defer w.Cancel()
	e := benchMessage()
	b.ReportAllocs()
	for b.Loop() {
		t.Publish(e)
	}
	b.StopTimer()
	t.Close()
	<-done
}

// BenchmarkRTPCount is sim's own per-packet cost for RTP: the stream
// table's lookup and counters, which replace a trace event per packet.
func BenchmarkRTPCount(b *testing.B) {
	n, err := NewNetwork(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	src, dst := netip.MustParseAddrPort("127.20.1.1:40000"), netip.MustParseAddrPort("127.20.0.2:20000")
	b.ReportAllocs()
	for b.Loop() {
		n.packet(ProtoRTP, src, dst, nil)
	}
}

// BenchmarkRTPWriteRead is one 172-byte RTP datagram through a traced
// socket to another and read there: the syscalls plus sim's accounting.
func BenchmarkRTPWriteRead(b *testing.B) {
	n, err := NewNetwork(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	a, err := n.AddNode("a", netip.MustParseAddr("127.20.77.1"))
	if err != nil {
		b.Fatal(err)
	}
	z, err := n.AddNode("z", netip.MustParseAddr("127.20.77.2"))
	if err != nil {
		b.Fatal(err)
	}
	out, err := a.ListenPacket(0)
	if err != nil {
		b.Fatal(err)
	}
	in, err := z.ListenPacket(0)
	if err != nil {
		b.Fatal(err)
	}
	pkt := make([]byte, 172)
	pkt[0] = 0x80 // RTP version 2
	buf := make([]byte, 2048)
	dst := in.LocalAddrPort()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := out.WriteToAddrPort(pkt, dst); err != nil {
			b.Fatal(err)
		}
		if _, _, err := in.ReadFromAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRTPCountParallel is the stream table under every core at once,
// each goroutine on its own stream, as phones' and recorder's goroutines.
func BenchmarkRTPCountParallel(b *testing.B) {
	n, err := NewNetwork(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	var port atomic.Uint32
	port.Store(40000)
	dst := netip.MustParseAddrPort("127.20.0.2:20000")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		src := netip.AddrPortFrom(netip.MustParseAddr("127.20.1.1"), uint16(port.Add(2)))
		for pb.Next() {
			n.packet(ProtoRTP, src, dst, nil)
		}
	})
}

// A blocking subscriber that does not read delays no publisher: its
// events wait in its own queue and all come, in order, once it reads,
// and C closes after the last when the trace closes.
func TestBlockingSubscriberHasItsOwnQueue(t *testing.T) {
	tr := NewTrace(16)
	sub := tr.Subscribe(1, true)
	const events = 10000
	for i := range events {
		tr.Publish(Event{Kind: KindNote, Summary: "note", Packets: uint64(i)})
	}
	tr.Close()
	n := 0
	for e := range sub.C {
		if e.Packets != uint64(n) {
			t.Fatalf("event %d is the %d-th published", n, e.Packets)
		}
		n++
	}
	if n != events || sub.Lost() != 0 {
		t.Fatalf("%d of %d events, %d lost", n, events, sub.Lost())
	}
}

// Closing a blocking subscription that has not read stops its feeder and
// closes C, with the trace still open or already closed.
func TestBlockingSubscriptionClose(t *testing.T) {
	for _, traceClosed := range []bool{false, true} {
		tr := NewTrace(16)
		sub := tr.Subscribe(1, true)
		for range 100 {
			tr.Publish(Event{Kind: KindNote})
		}
		if traceClosed {
			tr.Close()
		}
		sub.Close()
		for range sub.C { // ends: C is closed
		}
		tr.Publish(Event{Kind: KindNote})
		tr.Close()
	}
}
