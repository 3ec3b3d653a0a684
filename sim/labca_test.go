package sim

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLabCAIssuesVerifiableCertificates(t *testing.T) {
	now := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	ca, err := NewLabCA("test CA", now, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("127.20.0.2")
	cert, err := ca.Issue("recorder", ip)
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), DNSName: ip.String(), CurrentTime: now.Add(30 * time.Minute),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := cert.Leaf.Verify(opts); err != nil {
		t.Fatalf("the lab CA's own certificate does not verify: %v", err)
	}
	for name, o := range map[string]x509.VerifyOptions{
		"another IP":   {Roots: ca.Pool(), DNSName: "127.20.0.3", CurrentTime: opts.CurrentTime},
		"expired":      {Roots: ca.Pool(), DNSName: ip.String(), CurrentTime: now.Add(2 * time.Hour)},
		"another root": {Roots: x509.NewCertPool(), DNSName: ip.String(), CurrentTime: opts.CurrentTime},
	} {
		if _, err := cert.Leaf.Verify(o); err == nil {
			t.Errorf("%s: verified, want an error", name)
		}
	}
	if c := ca.Certificate(); !c.IsCA || c.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("CA certificate: IsCA %v, key %s", c.IsCA, c.PublicKeyAlgorithm)
	}
	if b, _ := pem.Decode(ca.PEM()); b == nil || !bytes.Equal(b.Bytes, ca.Certificate().Raw) {
		t.Error("PEM is not the CA certificate")
	}
	if _, err := NewLabCA("x", now, -time.Second, nil); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative validity: %v", err)
	}
	if _, err := ca.Issue("nobody", netip.Addr{}); err == nil {
		t.Error("a certificate without an address was issued")
	}
}

// TestKeyLogLinesStayWhole: concurrent handshakes write whole lines.
func TestKeyLogLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	kl := NewKeyLog(&buf)
	line := "CLIENT_RANDOM " + strings.Repeat("ab", 32) + " " + strings.Repeat("cd", 48) + "\n"
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				kl.Write([]byte(line))
			}
		}()
	}
	wg.Wait()
	if got := strings.Count(buf.String(), line); got != 800 {
		t.Errorf("%d whole lines, want 800", got)
	}
	var none *KeyLog
	if n, err := none.Write([]byte(line)); n != len(line) || err != nil || none.writer() != nil {
		t.Error("a nil key log must discard")
	}
}
