package lab

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/sim"
)

// startLab builds and starts topo's lab, closed when the test ends.
func startLab(t *testing.T, topo Topology) *Lab {
	t.Helper()
	l, err := Build(topo, Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

// boundAddrs are the local IPv4 addresses of this network namespace's TCP
// and UDP sockets (/proc/net/tcp, /proc/net/udp), each once; TCP's
// TIME_WAIT entries (closed sockets) are not counted.
func boundAddrs(t *testing.T) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for _, f := range []string{"/proc/net/tcp", "/proc/net/udp"} {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] == "06" {
				continue // TIME_WAIT: a closed socket the kernel remembers
			}
			hexAddr, _, _ := strings.Cut(fields[1], ":")
			b, err := hex.DecodeString(hexAddr)
			if err != nil || len(b) != 4 {
				t.Fatalf("%s: local address %q", f, fields[1])
			}
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], binary.LittleEndian.Uint32(b))
			if ip := netip.AddrFrom4(a); !slices.Contains(out, ip) {
				out = append(out, ip)
			}
		}
		fh.Close()
	}
	return out
}

// Nothing of a lab listens outside 127.0.0.0/8 unless split mode: every
// socket of a running default lab is bound to a loopback address (none to
// the wildcard), and a topology naming any other address is refused with
// the address and the rule, for the nodes and for external peers alike.
func TestNothingListensOutsideLoopback(t *testing.T) {
	topo := Default()
	topo.PBXAddr, topo.RecorderAddr, topo.PhoneBase = mustAddr("127.20.80.1"), mustAddr("127.20.80.2"), mustAddr("127.20.81.1")
	startLab(t, topo)
	bound := boundAddrs(t)
	if len(bound) < 4 {
		t.Fatalf("a running lab holds sockets on %v only", bound)
	}
	for _, ip := range bound {
		if !ip.IsLoopback() {
			t.Errorf("a lab socket is bound to %s, outside 127.0.0.0/8", ip)
		}
	}

	for _, c := range []struct {
		what string
		set  func(*Topology)
		want string
	}{
		{"pbx", func(t *Topology) { t.PBXAddr = mustAddr("198.18.0.1") }, "pbx address 198.18.0.1 is outside 127.0.0.0/8"},
		{"external recorder", func(t *Topology) { t.RecorderAddr = mustAddr("198.18.0.2"); t.Split.RecorderExternal = true }, "recorder address 198.18.0.2 is outside"},
		{"phone", func(t *Topology) { t.Phones[1].Addr = mustAddr("10.1.2.3") }, "phone 6867i address 10.1.2.3 is outside"},
		{"phone base", func(t *Topology) { t.PhoneBase = mustAddr("198.19.1.1") }, "phone 7434 address 198.19.1.1 is outside"},
	} {
		topo := Default()
		c.set(&topo)
		for _, err := range []error{Check(topo), func() error { _, err := Build(topo, Options{OutDir: t.TempDir()}); return err }()} {
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "only split mode") {
				t.Errorf("%s outside loopback without split mode: %v, want %q", c.what, err, c.want)
			}
		}
	}
}

// In split mode a lab binds exactly the addresses its topology names:
// here a PBX, recorder and phones on a dummy interface's 198.18.0.0/15
// addresses on one end of a veth pair (in this package's own network
// namespace, labtest.Main; the other end goes nowhere).
func TestSplitModeBindsOnlyNamedAddresses(t *testing.T) {
	for _, args := range [][]string{
		{"link", "add", "rl-split0", "type", "veth", "peer", "name", "rl-split1"},
		{"addr", "add", "198.18.7.1/24", "dev", "rl-split0"},
		{"addr", "add", "198.18.7.2/24", "dev", "rl-split0"},
		{"addr", "add", "198.18.7.11/24", "dev", "rl-split0"},
		{"addr", "add", "198.18.7.12/24", "dev", "rl-split0"},
		{"link", "set", "rl-split0", "up"},
		{"link", "set", "rl-split1", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	defer exec.Command("ip", "link", "del", "rl-split0").Run()
	topo := Default()
	topo.PBXAddr, topo.RecorderAddr, topo.PhoneBase = mustAddr("198.18.7.1"), mustAddr("198.18.7.2"), mustAddr("198.18.7.11")
	topo.Split.Allow = true
	startLab(t, topo)
	named := []netip.Addr{topo.PBXAddr, topo.RecorderAddr, mustAddr("198.18.7.11"), mustAddr("198.18.7.12")}
	bound := boundAddrs(t)
	for _, ip := range bound {
		if !slices.Contains(named, ip) {
			t.Errorf("a split lab socket is bound to %s, which the topology does not name (%v)", ip, named)
		}
	}
	for _, ip := range named {
		if !slices.Contains(bound, ip) {
			t.Errorf("no socket on %s; bound: %v", ip, bound)
		}
	}
}

// A lab file is the scenario lab: with split mode's addresses and peers;
// every problem names the file, the place and what was wrong.
func TestParseLabFile(t *testing.T) {
	good := `lab:
  pbx: {external: "198.18.0.1:5062", csta-port: 8885, application-password: pw}
  recorder: {address: 198.18.1.2}
  phones:
    - {name: "7434", ext: "1001", model: "7434", password: a, address: 198.18.2.1}
    - {name: real, ext: "1009", model: 6867i, external: 198.18.9.9, password: b}
  farms:
    - {model: 7434, count: 3, first-ext: "2001", base: 198.18.3.254, password: f}
`
	lf, err := ParseLabFile("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	tp := lf.Topology
	if !tp.Split.Allow || !tp.Split.PBXExternal || tp.Split.PBXSIPPort != 5062 || tp.Split.PBXCSTAPort != 8885 || tp.Split.CSTAPassword != "pw" {
		t.Errorf("pbx: %+v at %s", tp.Split, tp.PBXAddr)
	}
	if tp.Split.CSTATLSPort != DefaultPBXCSTATLSPort || tp.Split.RecorderCSTATLS {
		t.Errorf("CSTA over TLS by default: port %d, recorder on it %v", tp.Split.CSTATLSPort, tp.Split.RecorderCSTATLS)
	}
	tls, err := ParseLabFile("dir/tls.yaml", []byte("lab:\n  pbx: {csta-tls-port: 0}\n  recorder: {csta-tls: true, csta-ca: ca.pem}\n"))
	if err != nil || tls.Topology.Split.CSTATLSPort != 0 || tls.Topology.Split.RecorderCSTACA != filepath.Join("dir", "ca.pem") {
		t.Errorf("csta-tls-port 0 and csta-ca beside the file: %+v %v", tls.Topology.Split, err)
	}
	if len(tp.Phones) != 5 || !tp.Phones[1].External || tp.Phones[4].Name != "7434-2003" || tp.Phones[4].Addr != mustAddr("198.18.4.2") {
		t.Errorf("phones: %+v", tp.Phones)
	}
	if err := Check(tp); err != nil {
		t.Errorf("Check: %v", err)
	}
	for _, c := range []struct{ src, want string }{
		{"lab:\n  phones:\n    - {name: a, ext: '1', model: 7434, colour: red}\n", `bad.yaml:3:`},
		{"lab:\n  pbx: {address: 300.1.2.3}\n", `bad.yaml: lab.pbx.address: "300.1.2.3" is not an IPv4 address`},
		{"lab:\n  phones:\n    - {name: r, ext: '1', model: 7434, external: 198.18.0.9}\n", "lab.phones[0]: an external phone needs `password:`"},
		{"lab:\n  recorder: {external: 'x:1'}\n", `lab.recorder.external: "x:1": want ADDRESS or ADDRESS:PORT`},
		{"lab:\n  farms: [{model: 7434, count: 0, first-ext: '1', base: 198.18.0.1}]\n", "lab.farms[0].count: 0: want 1 to"},
		{"name: x\n", "bad.yaml: no `lab:` section"},
		{"lab:\n  pbx: {tls-cert: c.pem}\n", "bad.yaml: lab.pbx: tls-cert and tls-key go together"},
		{"lab:\n  recorder: {csta-ca: ca.pem}\n", "lab.recorder.csta-ca: set without csta-tls: true"},
		{"lab:\n  pbx: {csta-tls-port: 70000}\n", "lab.pbx.csta-tls-port: 70000: want a port"},
	} {
		if _, err := ParseLabFile("bad.yaml", []byte(c.src)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.src, err, c.want)
		}
	}
}

// A phone whose PBX runs in another process needs its password in the
// file: a random one would differ between the processes.
func TestSplitNeedsPasswords(t *testing.T) {
	topo := Default()
	topo.Split.Run = []string{RunPhones}
	if err := Check(topo); err == nil || !strings.Contains(err.Error(), "phone 7434 (1001) has no password") {
		t.Fatalf("Check: %v", err)
	}
}

// --nodes names node kinds, or one farm's phones.
func TestParseNodesAndFarms(t *testing.T) {
	run, err := ParseNodes("pbx, phones:east")
	if err != nil || !slices.Equal(run, []string{"pbx", "phones:east"}) {
		t.Fatalf("ParseNodes: %v %v", run, err)
	}
	s := Split{Run: run}
	for _, c := range []struct {
		p    PhoneSpec
		want bool
	}{{PhoneSpec{Farm: "east"}, true}, {PhoneSpec{Farm: "west"}, false}, {PhoneSpec{}, false}, {PhoneSpec{Farm: "east", External: true}, false}} {
		if got := s.RunsPhone(c.p); got != c.want {
			t.Errorf("RunsPhone(%+v) = %v", c.p, got)
		}
	}
	if !s.Runs(RunPBX) || s.Runs(RunRecorder) || !(Split{}).RunsPhone(PhoneSpec{}) {
		t.Error("Runs")
	}
	for _, bad := range []string{"pbx,pbx", "phone", "phones:", ""} {
		if _, err := ParseNodes(bad); err == nil {
			t.Errorf("ParseNodes(%q) accepted", bad)
		}
	}
}

// With an application password the recorder opens an ECMA-354 session
// (csta.StartSession) before it monitors: the lab comes up, and the PBX
// noted the session.
func TestApplicationPasswordSession(t *testing.T) {
	topo := Default()
	topo.PBXAddr, topo.RecorderAddr, topo.PhoneBase = mustAddr("127.20.82.1"), mustAddr("127.20.82.2"), mustAddr("127.20.83.1")
	topo.Split.CSTAPassword = "op3n-sesame"
	l, err := Build(topo, Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	session := l.Net.Trace().Watch(func(e sim.Event) bool {
		return e.From == "pbx" && strings.Contains(e.Summary, "application session") && strings.Contains(e.Summary, "started for reclab-recorder")
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := session.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// A recorder whose CSTA link is TLS trusts only the CA it is told to: a
// PBX (another lab: another process's CA) whose certificate another CA
// issued fails the handshake with an error naming the certificate, and the
// link never comes up. Without a CA file the recorder of a lab whose PBX
// runs elsewhere is refused at Build, saying why.
func TestCSTATLSTrustsOnlyItsCA(t *testing.T) {
	pbxTopo := Default()
	pbxTopo.PBXAddr, pbxTopo.RecorderAddr, pbxTopo.PhoneBase = mustAddr("127.20.84.1"), mustAddr("127.20.84.2"), mustAddr("127.20.85.1")
	for i := range pbxTopo.Phones {
		pbxTopo.Phones[i].Password = "pw"
	}
	pbxTopo.Split = Split{Run: []string{RunPBX}, CSTATLSPort: DefaultPBXCSTATLSPort}
	startLab(t, pbxTopo)

	recTopo := pbxTopo
	recTopo.Split = Split{Run: []string{RunRecorder}, CSTATLSPort: DefaultPBXCSTATLSPort, RecorderCSTATLS: true}
	if _, err := Build(recTopo, Options{OutDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "csta-ca") {
		t.Fatalf("a TLS recorder without a CA for another process's PBX: %v", err)
	}
	other, err := sim.NewLabCA("another CA", time.Now(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	recTopo.Split.RecorderCSTACA = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(recTopo.Split.RecorderCSTACA, other.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Build(recTopo, Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	refused := l.Net.Trace().Watch(func(e sim.Event) bool {
		return e.From == "recorder" && strings.Contains(e.Summary, "CSTA over TLS to 127.20.84.1:8883") && strings.Contains(e.Summary, "certificate")
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Recorder.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := refused.Wait(ctx); err != nil {
		t.Fatalf("no handshake failure naming the certificate: %v", err)
	}
}
