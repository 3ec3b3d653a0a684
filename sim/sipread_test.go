package sim

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestOversizedSIPDatagramIsNamed: a SIP datagram longer than sipReadBuffer
// is cut by the read and refused as unparsable; the node says so in the
// trace and keeps serving.
func TestOversizedSIPDatagramIsNamed(t *testing.T) {
	n := newTestNet(t)
	a := addNode(t, n, "a", "127.20.79.1")
	b := addNode(t, n, "b", "127.20.79.2")
	st, err := a.StartSIP(0, "reclab-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dst := st.Addr
	refused := n.Trace().Watch(func(e Event) bool {
		return e.Kind == KindError && e.From == "a" && strings.Contains(e.Summary, "failed to parse")
	})
	c, err := b.ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", sipReadBuffer)
	msg := fmt.Sprintf("OPTIONS sip:a@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK1\r\n"+
		"From: <sip:b@%s>;tag=1\r\nTo: <sip:a@%s>\r\nCall-ID: big\r\nCSeq: 1 OPTIONS\r\n"+
		"Content-Length: %d\r\n\r\n%s", dst, c.LocalAddrPort(), b.Addr(), a.Addr(), len(body), body)
	if _, err := c.WriteToAddrPort([]byte(msg), dst); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := refused.Wait(ctx)
	if err != nil {
		t.Fatalf("no error event for a %d-byte SIP datagram: %v", len(msg), err)
	}
	if !strings.Contains(e.Summary, c.LocalAddrPort().String()) {
		t.Errorf("error does not name the sender %s: %s", c.LocalAddrPort(), e.Summary)
	}
}
