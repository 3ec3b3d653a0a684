package labtest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
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

// Apart runs each subtest in a child process of its own, in a namespace of
// its own: both bind the lab's PBX address, and neither is this process.
func TestApart(t *testing.T) {
	const dirEnv = "LABTEST_APART_DIR"
	dir := os.Getenv(dirEnv)
	if dir == "" {
		dir = t.TempDir()
		t.Setenv(dirEnv, dir)
	}
	if os.Getenv(shardEnv) == "" {
		t.Cleanup(func() {
			pids := map[string]bool{}
			for _, name := range []string{"one", "two"} {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatalf("subtest %s left no mark: %v", name, err)
				}
				pids[string(b)] = true
			}
			if _, err := inNamespace("true", nil); err == nil && (len(pids) != 2 || pids[strconv.Itoa(os.Getpid())]) {
				t.Errorf("subtests ran in processes %v; this one is %d", pids, os.Getpid())
			}
		})
	}
	Apart(t, []string{"one", "two"}, 2, func(t *testing.T, name string) {
		c, err := net.ListenPacket("udp4", "127.20.0.1:5060")
		if err != nil {
			t.Fatalf("the lab's PBX address: %v", err)
		}
		defer c.Close()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			t.Fatal(err)
		}
	})
}
