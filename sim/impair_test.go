package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// impairTestWait bounds every wait of these tests; nothing is expected to
// take that long, it only keeps a broken test from hanging.
const impairTestWait = 20 * time.Second

// impairTestPair makes two nodes a and b with a UDP socket each, and reads
// b's socket into a channel.
func impairTestPair(t *testing.T, n *Network, ipA, ipB string) (a, b *PacketConn, got <-chan string) {
	t.Helper()
	na, nb := addNode(t, n, "a", ipA), addNode(t, n, "b", ipB)
	a, err := na.ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	b, err = nb.ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	return a, b, impairTestReader(b)
}

func impairTestReader(pc *PacketConn) <-chan string {
	ch := make(chan string, 1000)
	go func() {
		defer close(ch)
		buf := make([]byte, 2048)
		for {
			k, _, err := pc.ReadFromAddrPort(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:k])
		}
	}()
	return ch
}

// impairTestRecv returns the next datagram the reader got.
func impairTestRecv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s, ok := <-ch:
		if !ok {
			t.Fatal("receiver closed")
		}
		return s
	case <-time.After(impairTestWait):
		t.Fatal("nothing received")
	}
	return ""
}

func impairTestSet(t *testing.T, n *Network, im Impairment) int {
	t.Helper()
	id, err := n.Impair(im)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func impairTestSend(t *testing.T, pc *PacketConn, to *PacketConn, s string) {
	t.Helper()
	if _, err := pc.WriteToAddrPort([]byte(s), to.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
}

func TestImpairmentValidate(t *testing.T) {
	n := newTestNet(t)
	addNode(t, n, "phone", "127.20.60.1")
	addNode(t, n, "recorder", "127.20.60.2")
	for _, tc := range []struct {
		im   Impairment
		want string
	}{
		{Impairment{Proto: ProtoSIP}, "sets nothing"},
		{Impairment{Proto: ProtoSIP, Drop: 1.5}, "Drop 1.5 is not a fraction"},
		{Impairment{Proto: ProtoSIP, Drop: math.NaN()}, "Drop NaN"},
		{Impairment{Proto: ProtoSIP, Duplicate: -0.1}, "Duplicate -0.1"},
		{Impairment{Proto: ProtoSIP, Delay: -time.Second}, "Delay -1s is negative"},
		{Impairment{Proto: ProtoSIP, Drop: 0.5, Count: -1}, "Count -1 is negative"},
		{Impairment{Proto: ProtoSIP, Delay: 10 * time.Millisecond, Jitter: 20 * time.Millisecond}, "Jitter 20ms must lie between 0 and Delay 10ms"},
		{Impairment{Proto: ProtoSIP, Blackhole: true, Drop: 0.5}, "Blackhole drops everything"},
		{Impairment{Proto: ProtoSIP, AllProtos: true, Drop: 0.5}, "AllProtos and Proto SIP"},
		{Impairment{Proto: ProtoLab, Drop: 0.5}, "Proto LAB is not a network protocol"},
		{Impairment{Proto: ProtoCSTA, Drop: 0.3}, "CSTA runs over TCP"},
		{Impairment{Proto: ProtoHTTP, Duplicate: 0.3}, "choose Blackhole (link cut: connection reset) or Delay"},
		{Impairment{From: "phnoe", Proto: ProtoSIP, Drop: 0.5}, `From "phnoe" is not a node`},
		{Impairment{To: "nobody", AllProtos: true, Blackhole: true}, `To "nobody" is not a node`},
	} {
		_, err := n.Impair(tc.im)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Impair(%+v) = %v, want an error with %q", tc.im, err, tc.want)
		}
	}
	if got := n.Impairments(); len(got) != 0 {
		t.Errorf("refused impairments are in force: %v", got)
	}
	if err := n.Lift(42); err == nil || !strings.Contains(err.Error(), "impairment 42") {
		t.Errorf("Lift(42) = %v", err)
	}
}

func TestImpairmentString(t *testing.T) {
	for _, tc := range []struct {
		im   Impairment
		want string
	}{
		{Impairment{From: "7434", To: "recorder", Proto: ProtoSIP, Drop: 0.5}, "drop 50% SIP 7434→recorder"},
		{Impairment{From: "pbx", To: "recorder", Both: true, AllProtos: true, Blackhole: true}, "blackhole all pbx↔recorder"},
		{Impairment{To: "recorder", Proto: ProtoRTP, Drop: 0.125, Delay: 80 * time.Millisecond, Jitter: 20 * time.Millisecond}, "drop 12.5%, delay 80ms ±20ms RTP any→recorder"},
		{Impairment{From: "phone", Proto: ProtoSIP, Duplicate: 0.3}, "duplicate 30% SIP phone→any"},
		{Impairment{From: "phone", To: "recorder", Proto: ProtoSIP, Delay: 2 * time.Second, Count: 1}, "delay 2s SIP phone→recorder (next packet)"},
		{Impairment{AllProtos: true, Drop: 1, Count: 3}, "drop 100% all any→any (next 3 packets)"},
	} {
		if got := tc.im.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	s := ImpairmentState{ID: 2, Impairment: Impairment{Proto: ProtoSIP, Drop: 0.5}, Dropped: 3}
	if got, want := s.String(), "#2 drop 50% SIP any→any: dropped 3, delayed 0, duplicated 0"; got != want {
		t.Errorf("state String() = %q, want %q", got, want)
	}
}

// TestImpairDropSeeded: 30% drop with a seed drops the same datagrams on two
// runs; the receiver gets exactly the others; the trace names each dropped
// one with its nodes.
func TestImpairDropSeeded(t *testing.T) {
	n := newTestNet(t)
	a, b, got := impairTestPair(t, n, "127.20.60.11", "127.20.60.12")
	run := func(round int) []string {
		sub := n.Trace().Subscribe(1000, false)
		defer sub.Close()
		id := impairTestSet(t, n, Impairment{From: "a", To: "b", Proto: ProtoOther, Drop: 0.3, Seed: 7})
		const total = 100
		for i := range total {
			impairTestSend(t, a, b, fmt.Sprintf("pkt %03d", i))
		}
		st := n.Impairments()
		if err := n.Lift(id); err != nil {
			t.Fatal(err)
		}
		// UDP on loopback keeps a socket pair's order: once the marker is
		// in, every datagram sent before it is too.
		marker := fmt.Sprintf("end of round %d", round)
		impairTestSend(t, a, b, marker)
		received := map[string]bool{}
		for s := impairTestRecv(t, got); s != marker; s = impairTestRecv(t, got) {
			received[s] = true
		}
		var dropped []string
		for len(sub.C) > 0 {
			e := <-sub.C
			if e.Kind != KindDropped {
				continue
			}
			if e.From != "a" || e.To != "b" || e.Proto != ProtoOther {
				t.Errorf("dropped event %v: want OTHER from a to b", e)
			}
			if received[e.Summary] {
				t.Errorf("%q is traced dropped and was received", e.Summary)
			}
			dropped = append(dropped, e.Summary)
		}
		if len(dropped)+len(received) != total {
			t.Errorf("round %d: %d dropped + %d received, want %d in all", round, len(dropped), len(received), total)
		}
		if len(dropped) == 0 || len(received) == 0 {
			t.Errorf("round %d: %d dropped, %d received: a 30%% drop should do some of each", round, len(dropped), len(received))
		}
		if len(st) != 1 || st[0].Dropped != uint64(len(dropped)) {
			t.Errorf("round %d: Impairments() = %v, want one with %d dropped", round, st, len(dropped))
		}
		return dropped
	}
	first, second := run(1), run(2)
	if strings.Join(first, ",") != strings.Join(second, ",") {
		t.Errorf("same seed, different drops:\n%v\n%v", first, second)
	}
	t.Logf("dropped %d of 100: %v", len(first), first)
}

// TestImpairBlackholeThenLift: a blackhole both ways drops everything
// between a and b; lifted, traffic flows again.
func TestImpairBlackholeThenLift(t *testing.T) {
	n := newTestNet(t)
	a, b, gotB := impairTestPair(t, n, "127.20.60.21", "127.20.60.22")
	gotA := impairTestReader(a)
	id := impairTestSet(t, n, Impairment{From: "a", To: "b", Both: true, AllProtos: true, Blackhole: true})
	drops := n.Trace().WatchN(2, func(e Event) bool { return e.Kind == KindDropped })
	impairTestSend(t, a, b, "lost a→b")
	impairTestSend(t, b, a, "lost b→a")
	ctx, cancel := context.WithTimeout(context.Background(), impairTestWait)
	defer cancel()
	if _, err := drops.Wait(ctx); err != nil {
		t.Fatal("no dropped events:", err)
	}
	lifted := n.Trace().Watch(func(e Event) bool { return e.Kind == KindNote && strings.Contains(e.Summary, "lifted") })
	if err := n.Lift(id); err != nil {
		t.Fatal(err)
	}
	if e, err := lifted.Wait(ctx); err != nil || !strings.Contains(e.Summary, "blackhole all a↔b; it dropped 2,") {
		t.Errorf("lift note %q, %v", e.Summary, err)
	}
	impairTestSend(t, a, b, "through a→b")
	impairTestSend(t, b, a, "through b→a")
	if s := impairTestRecv(t, gotB); s != "through a→b" {
		t.Errorf("b got %q first, want the datagram sent after the lift", s)
	}
	if s := impairTestRecv(t, gotA); s != "through b→a" {
		t.Errorf("a got %q first, want the datagram sent after the lift", s)
	}
}

// impairTestPcap calls each with every frame of a pcap and its timestamp.
func impairTestPcap(t *testing.T, file []byte, each func(gopacket.Packet, time.Time)) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(file), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		each(gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default), ci.Timestamp)
	}
}

// impairTestPcapUDP returns the timestamps of the UDP datagrams carrying
// payload.
func impairTestPcapUDP(t *testing.T, file []byte, payload string) []time.Time {
	t.Helper()
	var at []time.Time
	impairTestPcap(t, file, func(p gopacket.Packet, ts time.Time) {
		if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && string(u.Payload) == payload {
			at = append(at, ts)
		}
	})
	return at
}

// impairTestPcapRST counts the TCP segments with RST.
func impairTestPcapRST(t *testing.T, file []byte) int {
	t.Helper()
	resets := 0
	impairTestPcap(t, file, func(p gopacket.Packet, _ time.Time) {
		if tl, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tl.RST {
			resets++
		}
	})
	return resets
}

// TestImpairDelay: a delayed datagram arrives no sooner than the delay,
// traced as delayed at its delivery time, once in the pcap at that time.
func TestImpairDelay(t *testing.T) {
	var file bytes.Buffer
	n, err := NewNetwork(Config{Pcap: &file})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, b, got := impairTestPair(t, n, "127.20.60.31", "127.20.60.32")
	const delay = 150 * time.Millisecond
	impairTestSet(t, n, Impairment{From: "a", To: "b", AllProtos: true, Delay: delay})
	delivered := n.Trace().Watch(func(e Event) bool { return e.Kind == KindMessage && e.Summary == "late" })
	sent := n.Now()
	impairTestSend(t, a, b, "late")
	if s := impairTestRecv(t, got); s != "late" {
		t.Fatalf("got %q", s)
	}
	if d := n.Now() - sent; d < delay {
		t.Errorf("received %s after sending, want at least %s", d, delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), impairTestWait)
	defer cancel()
	e, err := delivered.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Delayed < delay || e.At < sent+delay || e.From != "a" || e.To != "b" {
		t.Errorf("traced %v (delayed %s), want a→b delayed ≥ %s at ≥ %s", e, e.Delayed, delay, sent+delay)
	}
	if !strings.Contains(e.String(), "DELAYED ") {
		t.Errorf("trace line %q does not say DELAYED", e)
	}
	n.Close()
	at := impairTestPcapUDP(t, file.Bytes(), "late")
	if len(at) != 1 {
		t.Fatalf("pcap has the delayed datagram %d times, want once", len(at))
	}
	if min := n.Epoch().Add(sent + delay); at[0].Before(min) {
		t.Errorf("pcap time %s is before the delivery time %s", at[0], min)
	}
}

// TestImpairDelayDoesNotBlock: the sender returns while its datagram is
// held; nothing is traced or captured until delivery.
func TestImpairDelayDoesNotBlock(t *testing.T) {
	var file bytes.Buffer
	n, err := NewNetwork(Config{Pcap: &file})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, b, _ := impairTestPair(t, n, "127.20.60.41", "127.20.60.42")
	id := impairTestSet(t, n, Impairment{From: "a", To: "b", AllProtos: true, Delay: time.Hour})
	impairTestSend(t, a, b, "held") // would hang the test if the sender waited
	if st := n.Impairments(); len(st) != 1 || st[0].ID != id || st[0].Delayed != 1 {
		t.Errorf("Impairments() = %v, want #%d with 1 delayed", st, id)
	}
	if c := n.Trace().Count(KindMessage); c != 0 {
		t.Errorf("%d message events before delivery", c)
	}
	n.Close() // the held datagram is discarded with the lab
	if at := impairTestPcapUDP(t, file.Bytes(), "held"); len(at) != 0 {
		t.Errorf("pcap has a datagram that was never delivered")
	}
}

// TestImpairCount: Count 1 delays the next packet only (spec §3.2.1: "delay
// the first 200 OK"), then the impairment lifts itself; what it holds stays
// held.
func TestImpairCount(t *testing.T) {
	n := newTestNet(t)
	a, b, got := impairTestPair(t, n, "127.20.60.45", "127.20.60.46")
	lifted := n.Trace().Watch(func(e Event) bool { return e.Kind == KindNote && strings.Contains(e.Summary, "lifted") })
	impairTestSet(t, n, Impairment{From: "a", To: "b", Proto: ProtoOther, Delay: time.Hour, Count: 1})
	impairTestSend(t, a, b, "first")
	impairTestSend(t, a, b, "second")
	if s := impairTestRecv(t, got); s != "second" {
		t.Errorf("got %q, want the second datagram while the first is held", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), impairTestWait)
	defer cancel()
	if e, err := lifted.Wait(ctx); err != nil || !strings.Contains(e.Summary, "delayed 1,") {
		t.Errorf("lift note %q, %v", e.Summary, err)
	}
	if st := n.Impairments(); len(st) != 0 {
		t.Errorf("still in force: %v", st)
	}
}

// TestImpairDelayedSenderGone: a datagram held while its socket closes (a
// hang-up closes the call's RTP socket, a power cut every socket) was on the
// wire already: it still arrives, traced from the closed socket's address.
func TestImpairDelayedSenderGone(t *testing.T) {
	n := newTestNet(t)
	a, b, got := impairTestPair(t, n, "127.20.60.47", "127.20.60.48")
	impairTestSet(t, n, Impairment{From: "a", To: "b", Proto: ProtoOther, Delay: 50 * time.Millisecond})
	src := a.LocalAddrPort()
	traced := n.Trace().Watch(func(e Event) bool { return e.Kind == KindMessage && e.Summary == "in flight" && e.Src == src })
	impairTestSend(t, a, b, "in flight")
	a.Close()
	if s := impairTestRecv(t, got); s != "in flight" {
		t.Fatalf("got %q, want the held datagram", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), impairTestWait)
	defer cancel()
	if _, err := traced.Wait(ctx); err != nil {
		t.Fatal("held datagram of a closed socket not traced from its address:", err)
	}
}

// TestImpairJitterKeepsOrder: jitter varies each delay, yet a flow's
// datagrams arrive in the order sent.
func TestImpairJitterKeepsOrder(t *testing.T) {
	n := newTestNet(t)
	a, b, got := impairTestPair(t, n, "127.20.60.51", "127.20.60.52")
	impairTestSet(t, n, Impairment{From: "a", To: "b", Proto: ProtoOther, Delay: 20 * time.Millisecond, Jitter: 20 * time.Millisecond, Seed: 3})
	for i := range 50 {
		impairTestSend(t, a, b, fmt.Sprintf("pkt %02d", i))
	}
	for i := range 50 {
		if s, want := impairTestRecv(t, got), fmt.Sprintf("pkt %02d", i); s != want {
			t.Fatalf("got %q, want %q", s, want)
		}
	}
}

// TestImpairDuplicate: duplicated, a datagram arrives twice, is traced once
// plus once as the duplicate, and is twice in the pcap.
func TestImpairDuplicate(t *testing.T) {
	var file bytes.Buffer
	n, err := NewNetwork(Config{Pcap: &file})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, b, got := impairTestPair(t, n, "127.20.60.61", "127.20.60.62")
	impairTestSet(t, n, Impairment{From: "a", To: "b", Proto: ProtoOther, Duplicate: 1})
	dup := n.Trace().Watch(func(e Event) bool { return e.Summary == "twice" && e.Duplicate })
	impairTestSend(t, a, b, "twice")
	for range 2 {
		if s := impairTestRecv(t, got); s != "twice" {
			t.Fatalf("got %q", s)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), impairTestWait)
	defer cancel()
	e, err := dup.Wait(ctx)
	if err != nil {
		t.Fatal("no duplicate in the trace:", err)
	}
	if !strings.Contains(e.String(), "DUPLICATE twice") {
		t.Errorf("trace line %q does not say DUPLICATE", e)
	}
	if c := n.Trace().Count(KindMessage); c != 2 {
		t.Errorf("%d message events, want the original and the duplicate", c)
	}
	n.Close()
	if at := impairTestPcapUDP(t, file.Bytes(), "twice"); len(at) != 2 {
		t.Errorf("pcap has the duplicated datagram %d times, want 2", len(at))
	}
}

// TestImpairRTPDroppedPerStream: RTP loss is traced per stream, never per
// packet: one event when a stream starts losing, a count when lifted.
func TestImpairRTPDroppedPerStream(t *testing.T) {
	n := newTestNet(t)
	a, b, _ := impairTestPair(t, n, "127.20.60.71", "127.20.60.72")
	id := impairTestSet(t, n, Impairment{From: "a", To: "b", Proto: ProtoRTP, Blackhole: true})
	total := n.Trace().WatchN(2, func(e Event) bool { return e.Kind == KindDropped })
	pkt := make([]byte, 172)
	pkt[0], pkt[1] = 0x80, 8
	for range 20 {
		if _, err := a.WriteToAddrPort(pkt, b.LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
	}
	if c := n.Trace().Count(KindDropped); c != 1 {
		t.Errorf("%d dropped events for one stream, want 1", c)
	}
	if err := n.Lift(id); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), impairTestWait)
	defer cancel()
	e, err := total.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Packets != 20 || e.From != "a" || e.To != "b" {
		t.Errorf("lift reports %v with %d packets, want 20 from a to b", e, e.Packets)
	}
	if c := n.Trace().Count(KindStreamStart); c != 0 {
		t.Errorf("a stream started though every packet was dropped")
	}
}

// impairTestTCP opens a CSTA connection from recorder to pbx.
func impairTestTCP(t *testing.T, n *Network, ipPBX, ipRec string) (l *Listener, client *Conn, server *Conn, rec *Node) {
	t.Helper()
	pbx := addNode(t, n, "pbx", ipPBX)
	rec = addNode(t, n, "recorder", ipRec)
	l, err := pbx.Listen(0, ProtoCSTA)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan *Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c.(*Conn)
	}()
	client, err = rec.Dial(l.local)
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	return l, client, server, rec
}

// TestImpairTCPBlackhole: a blackhole on CSTA cuts the link: both ends read
// "connection reset", writes fail, dialling is refused; lifted, a new
// connection works.
func TestImpairTCPBlackhole(t *testing.T) {
	var file bytes.Buffer
	n, err := NewNetwork(Config{Pcap: &file})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	l, client, server, rec := impairTestTCP(t, n, "127.20.60.81", "127.20.60.82")
	defer client.Close()
	defer server.Close()
	id := impairTestSet(t, n, Impairment{From: "recorder", To: "pbx", Proto: ProtoCSTA, Blackhole: true})
	buf := make([]byte, 64)
	for name, c := range map[string]*Conn{"client": client, "server": server} {
		if _, err := c.Read(buf); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s read after the cut: %v, want connection reset", name, err)
		}
		if _, err := c.Write([]byte("hello")); err == nil {
			t.Errorf("%s wrote on a cut link", name)
		}
	}
	_, err = rec.Dial(l.local)
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "link cut by impairment") {
		t.Errorf("dial across the blackhole: %v", err)
	}
	if err := n.Lift(id); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, err = io.Copy(io.Discard, c)
			c.Close()
		}
		accepted <- err
	}()
	c, err := rec.Dial(l.local)
	if err != nil {
		t.Fatal("dial after the lift:", err)
	}
	if _, err := c.Write([]byte("<SystemStatus/>")); err != nil {
		t.Fatal("write after the lift:", err)
	}
	c.Close()
	select {
	case err := <-accepted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(impairTestWait):
		t.Fatal("no connection after the lift")
	}
	n.Close()
	if resets := impairTestPcapRST(t, file.Bytes()); resets != 1 {
		t.Errorf("pcap has %d RST segments, want 1 for the cut connection", resets)
	}
}

// TestImpairTCPDelay: delayed CSTA bytes arrive no sooner than the delay and
// before the FIN of a Close that followed them at once.
func TestImpairTCPDelay(t *testing.T) {
	n := newTestNet(t)
	_, client, server, _ := impairTestTCP(t, n, "127.20.60.91", "127.20.60.92")
	defer server.Close()
	const delay = 100 * time.Millisecond
	impairTestSet(t, n, Impairment{From: "recorder", To: "pbx", Proto: ProtoCSTA, Delay: delay})
	delivered := n.Trace().Watch(func(e Event) bool { return e.Kind == KindMessage && e.Proto == ProtoCSTA })
	sent := n.Now()
	if k, err := client.Write([]byte("<MonitorStart/>")); k != 15 || err != nil {
		t.Fatalf("write: %d, %v", k, err)
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "<MonitorStart/>" {
		t.Fatalf("server read %q, %v", got, err)
	}
	if d := n.Now() - sent; d < delay {
		t.Errorf("bytes read %s after writing, want at least %s", d, delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), impairTestWait)
	defer cancel()
	if e, err := delivered.Wait(ctx); err != nil || e.Delayed < delay {
		t.Errorf("trace: %v (delayed %s), %v", e, e.Delayed, err)
	}
}

// TestImpairTCPDelayOutlivesWriteDeadline: a delayed write returned to its
// writer at once; a write deadline the writer sets afterwards (tls.Conn's
// Close sets one to now after its close_notify) does not fail the bytes
// on the wire.
func TestImpairTCPDelayOutlivesWriteDeadline(t *testing.T) {
	n := newTestNet(t)
	_, client, server, _ := impairTestTCP(t, n, "127.20.60.93", "127.20.60.94")
	defer server.Close()
	impairTestSet(t, n, Impairment{From: "recorder", To: "pbx", Proto: ProtoCSTA, Delay: 50 * time.Millisecond})
	if _, err := client.Write([]byte("<MonitorStart/>")); err != nil {
		t.Fatal(err)
	}
	client.SetWriteDeadline(time.Now())
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "<MonitorStart/>" {
		t.Fatalf("server read %q, %v", got, err)
	}
}

// TestImpairAllocs: with no impairment, or one that does not match, the UDP
// send path allocates nothing (spec budget: 150,000 RTP packets/s).
func TestImpairAllocs(t *testing.T) {
	n := newTestNet(t)
	a, err := addNode(t, n, "a", "127.20.61.1").ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := addNode(t, n, "b", "127.20.61.2").ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	addNode(t, n, "c", "127.20.61.3")
	// AllocsPerRun counts every goroutine's allocations: the receiver's
	// drain must make none of its own (impairTestReader copies each
	// datagram into a string).
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := b.ReadFromAddrPort(buf); err != nil {
				return
			}
		}
	}()
	pkt := make([]byte, 172)
	pkt[0], pkt[1] = 0x80, 8
	dst := b.LocalAddrPort()
	check := func(what string) {
		if allocs := testing.AllocsPerRun(1000, func() { a.WriteToAddrPort(pkt, dst) }); allocs != 0 {
			t.Errorf("%s: %v allocations per datagram, want 0", what, allocs)
		}
	}
	check("no impairment")
	impairTestSet(t, n, Impairment{From: "c", To: "b", Proto: ProtoRTP, Drop: 0.5})
	check("an impairment that does not match")
}

func BenchmarkWriteToAddrPort(b *testing.B) {
	for _, tc := range []struct {
		name string
		im   *Impairment
	}{
		{"none", nil},
		{"non-matching", &Impairment{From: "c", To: "b", Proto: ProtoRTP, Drop: 0.5}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			n, err := NewNetwork(Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			nodes := map[string]*Node{}
			for i, name := range []string{"a", "b", "c"} {
				nodes[name], err = n.AddNode(name, netip.AddrFrom4([4]byte{127, 20, 62, byte(i + 1)}))
				if err != nil {
					b.Fatal(err)
				}
			}
			src, err := nodes["a"].ListenPacket(0)
			if err != nil {
				b.Fatal(err)
			}
			dst, err := nodes["b"].ListenPacket(0)
			if err != nil {
				b.Fatal(err)
			}
			go func() { // drain, so the kernel buffer does not decide the figure
				buf := make([]byte, 2048)
				for {
					if _, _, err := dst.ReadFromAddrPort(buf); err != nil {
						return
					}
				}
			}()
			if tc.im != nil {
				if _, err := n.Impair(*tc.im); err != nil {
					b.Fatal(err)
				}
			}
			pkt := make([]byte, 172)
			pkt[0], pkt[1] = 0x80, 8
			to := dst.LocalAddrPort()
			b.ReportAllocs()
			for b.Loop() {
				src.WriteToAddrPort(pkt, to)
			}
		})
	}
}

func TestParseLinkDelays(t *testing.T) {
	for _, tc := range []struct {
		in       string
		min, max time.Duration
		bad      bool
	}{
		{"0-300ms", 0, 300 * time.Millisecond, false},
		{"20ms-50ms", 20 * time.Millisecond, 50 * time.Millisecond, false},
		{"1-2s", time.Second, 2 * time.Second, false},
		{"40ms", 40 * time.Millisecond, 40 * time.Millisecond, false},
		{"300ms-0", 0, 0, true},
		{"fast", 0, 0, true},
	} {
		d, err := ParseLinkDelays(tc.in, 7)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error, got %v", tc.in, d)
			}
			continue
		}
		if err != nil || d.Min != tc.min || d.Max != tc.max || d.Seed != 7 {
			t.Errorf("%q: %v, %v; want %s-%s seed 7", tc.in, d, err, tc.min, tc.max)
		}
	}
}

// TestLinkDelays: every link gets its own base delay from the range, the
// same for a seed whatever the addresses, each direction on its own; a
// flow keeps its order under the jitter; Lift leaves link delays alone.
func TestLinkDelays(t *testing.T) {
	n := newTestNet(t)
	a, b, got := impairTestPair(t, n, "127.20.60.71", "127.20.60.72")
	d := LinkDelays{Min: 20 * time.Millisecond, Max: 80 * time.Millisecond, Seed: 5}
	if err := n.SetLinkDelays(d); err != nil {
		t.Fatal(err)
	}
	n.LiftAll()
	ab, ok := n.linkDelay(n.impairs.links.Load(), a.LocalAddrPort(), b.LocalAddrPort())
	if !ok || ab < d.Min-d.Max/10 || ab > d.Max+d.Max/10 {
		t.Fatalf("a → b delay %s (%v), want within %s", ab, ok, d)
	}
	start := time.Now()
	for i := range 30 {
		impairTestSend(t, a, b, fmt.Sprintf("pkt %02d", i))
	}
	for i := range 30 {
		if s, want := impairTestRecv(t, got), fmt.Sprintf("pkt %02d", i); s != want {
			t.Fatalf("got %q, want %q", s, want)
		}
	}
	if el := time.Since(start); el < ab*8/10 {
		t.Errorf("30 datagrams through in %s: not delayed (link %s)", el, ab)
	}
	// The same seed on another network, other addresses, same names: the
	// same base delay.
	n2 := newTestNet(t)
	a2, b2, _ := impairTestPair(t, n2, "127.20.60.73", "127.20.60.74")
	n2.SetLinkDelays(d)
	l1, _ := n.impairs.links.Load().links.Load([2]netip.Addr{a.LocalAddrPort().Addr(), b.LocalAddrPort().Addr()})
	n2.linkDelay(n2.impairs.links.Load(), a2.LocalAddrPort(), b2.LocalAddrPort())
	l2, _ := n2.impairs.links.Load().links.Load([2]netip.Addr{a2.LocalAddrPort().Addr(), b2.LocalAddrPort().Addr()})
	if l1.(*linkState).base != l2.(*linkState).base {
		t.Errorf("base delays %s and %s for the same seed and names", l1.(*linkState).base, l2.(*linkState).base)
	}
}
