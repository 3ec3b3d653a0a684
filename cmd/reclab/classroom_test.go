package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reclab/reclab/lab"
)

// The classroom itself is tested in package classroom; here its command
// line: the help, and every bad input said before a lab is built.
func TestClassroomCommandLine(t *testing.T) {
	dir := t.TempDir()
	pub := func(name string) string {
		p, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k, err := gossh.NewPublicKey(p)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, gossh.MarshalAuthorizedKey(k), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	trainees := pub("trainees")
	teacher := pub("teacher.pub")
	broken := filepath.Join(dir, "broken")
	os.WriteFile(broken, []byte("# a comment\n\nssh-ed25519 notbase64 x\n"), 0o644)

	var out, errb bytes.Buffer
	if code := run([]string{"classroom", "-h"}, &out, &errb); code != exitOK ||
		!strings.Contains(errb.String(), "Usage: reclab classroom [LAB.yaml]") || !strings.Contains(errb.String(), "ctrl+o") {
		t.Errorf("classroom -h: exit %d, stderr %q", code, errb.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"classroom"}, "--authorized-keys FILE and --instructor"},
		{[]string{"classroom", "--authorized-keys", broken, "--instructor", teacher}, broken + ":3: not a public key"},
		{[]string{"classroom", "--authorized-keys", trainees, "--instructor", "SHA256:nosuchkey"}, "SHA256:nosuchkey is no key of --authorized-keys"},
		{[]string{"classroom", "--authorized-keys", trainees, "--instructor", teacher, "--listen", "10.1.2.3:2222"}, "--listen 10.1.2.3:2222 is outside 127.0.0.0/8"},
		{[]string{"classroom", "--authorized-keys", trainees, "--instructor", teacher, "--listen", "localhost"}, `--listen "localhost": want ADDR:PORT`},
		{[]string{"classroom", "a.yaml", "b.yaml"}, "name at most one lab file"},
	} {
		errb.Reset()
		if code := run(tc.args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errb.String(), tc.want)
		}
	}
	out.Reset()
	if code := run([]string{"help"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "reclab classroom [LAB.yaml]") {
		t.Errorf("help does not list classroom:\n%s", out.String())
	}
}

// In split mode the SSH server may listen on an address the lab file
// names, and on no other outside 127.0.0.0/8.
func TestClassroomListenSplit(t *testing.T) {
	topo := lab.Topology{Split: lab.Split{Allow: true}, PBXAddr: netip.MustParseAddr("10.1.2.3")}
	if err := listenAllowed("10.1.2.3:2222", topo); err != nil {
		t.Errorf("the lab file's PBX address: %v", err)
	}
	if err := listenAllowed("10.1.2.4:2222", topo); err == nil {
		t.Error("an address the lab file does not name was allowed")
	}
	if err := listenAllowed("127.0.0.5:2222", lab.Topology{}); err != nil {
		t.Errorf("loopback: %v", err)
	}
}
