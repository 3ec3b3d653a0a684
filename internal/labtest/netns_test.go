package labtest

import (
	"net"
	"os"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// Inside Main's namespace the lab's plan binds, and nothing else is there:
// a loopback of its own.
func TestPrivateLoopback(t *testing.T) {
	if os.Getenv(insideEnv) == "" {
		t.Log("not in a private namespace: Main said why on stderr")
	}
	c, err := net.ListenPacket("udp4", "127.20.0.1:5060")
	if err != nil {
		t.Fatalf("the lab's PBX address: %v", err)
	}
	c.Close()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv(insideEnv) != "" && len(ifs) != 1 {
		t.Errorf("%d interfaces in the test namespace, want only lo: %v", len(ifs), ifs)
	}
}
