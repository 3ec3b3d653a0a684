package sim

import (
	"context"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func newTestNet(t *testing.T) *Network {
	t.Helper()
	n, err := NewNetwork(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// optionsStack starts a SIP stack on nd:port that answers OPTIONS 200 OK
// (counting them in served, if set); it closes with the test.
func optionsStack(t *testing.T, nd *Node, port uint16, served *atomic.Int32) *SIPStack {
	t.Helper()
	st, err := nd.StartSIP(port, nd.Name(), func(s *sipgo.Server) {
		s.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
			if served != nil {
				served.Add(1)
			}
			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func addNode(t *testing.T, n *Network, name, ip string) *Node {
	t.Helper()
	nd, err := n.AddNode(name, netip.MustParseAddr(ip))
	if err != nil {
		t.Fatal(err)
	}
	return nd
}

// TestSIPGoSendsThroughTracedConn proves the design.md fact: a sipgo client
// made by StartSIP sends from the node's own traced socket, never from one
// of its own, and every message of a transaction shows in the trace.
func TestSIPGoSendsThroughTracedConn(t *testing.T) {
	n := newTestNet(t)
	a := addNode(t, n, "alice", "127.20.50.1")
	b := addNode(t, n, "bob", "127.20.50.2")
	var got atomic.Int32
	var seenSrc atomic.Value
	sb, err := b.StartSIP(5060, "bob", func(s *sipgo.Server) {
		s.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
			got.Add(1)
			seenSrc.Store(req.Source())
			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	sa, err := a.StartSIP(5070, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()

	sub := n.Trace().Subscribe(100, false)
	const rounds = 5
	for i := 0; i < rounds; i++ {
		req := sip.NewRequest(sip.OPTIONS, sip.Uri{User: "bob", Host: "127.20.50.2", Port: 5060})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := sa.Client.Do(ctx, req)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 {
			t.Fatalf("OPTIONS answered %d", res.StatusCode)
		}
	}
	if src := seenSrc.Load().(string); src != "127.20.50.1:5070" {
		t.Fatalf("bob saw the request from %s, want alice's traced socket 127.20.50.1:5070", src)
	}
	var reqs, resps int
	for len(sub.C) > 0 {
		e := <-sub.C
		if e.Kind != KindMessage || e.Proto != ProtoSIP {
			continue
		}
		switch {
		case strings.HasPrefix(e.Summary, "OPTIONS"):
			reqs++
			if e.Src.String() != "127.20.50.1:5070" || e.From != "alice" || e.To != "bob" {
				t.Errorf("request traced as %s %s→%s", e.Src, e.From, e.To)
			}
		case strings.HasPrefix(e.Summary, "200 OK (OPTIONS)"):
			resps++
			if e.Src.String() != "127.20.50.2:5060" || e.From != "bob" || e.To != "alice" {
				t.Errorf("response traced as %s %s→%s", e.Src, e.From, e.To)
			}
		}
	}
	if int(got.Load()) != rounds || reqs != rounds || resps != rounds {
		t.Fatalf("bob got %d requests; trace saw %d requests and %d responses; want %d of each", got.Load(), reqs, resps, rounds)
	}
}

func TestRTPSummarisedAsStreams(t *testing.T) {
	n, err := NewNetwork(Config{StreamIdle: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a := addNode(t, n, "phone", "127.20.50.3")
	b := addNode(t, n, "recorder", "127.20.50.4")
	ca, err := a.ListenPacket(40000)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.ListenPacket(20000)
	if err != nil {
		t.Fatal(err)
	}
	n.Label(cb.LocalAddrPort(), "recorder tx")
	start := n.Trace().Watch(func(e Event) bool { return e.Kind == KindStreamStart })
	stop := n.Trace().Watch(func(e Event) bool { return e.Kind == KindStreamStop })
	pkt := make([]byte, 172)
	pkt[0] = 0x80
	pkt[1] = 8
	for i := 0; i < 50; i++ {
		if _, err := ca.WriteToAddrPort(pkt, cb.LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := start.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := "RTP stream 127.20.50.3:40000 → recorder tx started"; e.Summary != want {
		t.Errorf("start summary %q, want %q", e.Summary, want)
	}
	e, err = stop.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Packets != 50 {
		t.Errorf("stream stopped with %d packets, want 50", e.Packets)
	}
	if c := n.Trace().Count(KindMessage); c != 0 {
		t.Errorf("RTP made %d message events; it must only be summarised", c)
	}
}

func TestNodesStayOnLoopback(t *testing.T) {
	n := newTestNet(t)
	if _, err := n.AddNode("x", netip.MustParseAddr("10.0.0.1")); err == nil || !strings.Contains(err.Error(), "outside 127.0.0.0/8") {
		t.Fatalf("non-loopback node: err = %v", err)
	}
}

func TestTraceBounded(t *testing.T) {
	tr := NewTrace(10)
	slow := tr.Subscribe(1, false)
	for i := 0; i < 100; i++ {
		tr.Publish(Event{Kind: KindNote, Summary: "x"})
	}
	if got := len(tr.Recent()); got != 10 {
		t.Fatalf("ring holds %d events, want 10", got)
	}
	if r := tr.Recent(); r[0].Seq != 90 || r[9].Seq != 99 {
		t.Fatalf("ring holds %d..%d, want 90..99", r[0].Seq, r[9].Seq)
	}
	if slow.Lost() != 99 {
		t.Fatalf("slow subscriber lost %d, want 99", slow.Lost())
	}
}

// TestMalformedSIPIsNamed: garbage to a SIP stack becomes an error event that
// names the node and the sender, and the stack keeps serving.
func TestMalformedSIPIsNamed(t *testing.T) {
	n := newTestNet(t)
	a := addNode(t, n, "rogue", "127.20.50.9")
	b := addNode(t, n, "bob", "127.20.50.10")
	sb := optionsStack(t, b, 5060, nil)
	ca, err := a.ListenPacket(5099)
	if err != nil {
		t.Fatal(err)
	}
	bad := n.Trace().Watch(func(e Event) bool { return e.Kind == KindError && e.From == "bob" })
	if _, err := ca.WriteToAddrPort([]byte("INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n"), sb.Addr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := bad.Wait(ctx)
	if err != nil {
		t.Fatal("no error event for a malformed message:", err)
	}
	if !strings.Contains(e.Summary, "127.20.50.9:5099") || !strings.Contains(e.Summary, "sip:") {
		t.Errorf("error event %q does not name the sender and the protocol", e.Summary)
	}
	// bob still answers.
	sa, err := a.StartSIP(5060, "rogue", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	res, err := sa.Client.Do(ctx, sip.NewRequest(sip.OPTIONS, sip.Uri{Host: "127.20.50.10", Port: 5060}))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("after bad input: %v %v", res, err)
	}
}

// SubscribeWithRecent hands over what the ring holds and every later event,
// none twice: a printer attached after the lab is built misses nothing.
func TestSubscribeWithRecent(t *testing.T) {
	tr := NewTrace(8)
	tr.Publish(Event{Kind: KindNote, Summary: "before"})
	past, sub := tr.SubscribeWithRecent(4, true)
	defer sub.Close()
	tr.Publish(Event{Kind: KindNote, Summary: "after"})
	if len(past) != 1 || past[0].Summary != "before" {
		t.Fatalf("recent: %+v", past)
	}
	if e := <-sub.C; e.Summary != "after" || e.Seq != past[0].Seq+1 {
		t.Fatalf("first subscribed event %+v", e)
	}
}
