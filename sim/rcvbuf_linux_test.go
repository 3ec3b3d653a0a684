package sim

import (
	"net/netip"
	"testing"
)

// A lab UDP socket's receive buffer is udpReadBuffer, above the stock
// rmem_max, so a stalled reader on a loaded host loses nothing to the
// kernel (the trace cannot see those drops). The tests run as root in
// their namespace (internal/labtest), where SO_RCVBUFFORCE is allowed.
func TestUDPReadBufferIsLarge(t *testing.T) {
	n, err := NewNetwork(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	nd, err := n.AddNode("recorder", netip.MustParseAddr("127.20.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := nd.ListenPacket(0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readBuffer(pc.conn)
	if err != nil {
		t.Fatal(err)
	}
	if got < udpReadBuffer {
		t.Errorf("SO_RCVBUF %d, want at least %d", got, udpReadBuffer)
	}
}
