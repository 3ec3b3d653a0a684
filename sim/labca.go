package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"time"
)

// LabCA is the lab's own certificate authority, made afresh at each start,
// for the record key's https:// (spec §3.3: "a request message based on
// https/XML/SOAP or http"). Phones trust it; the recorder serves a
// certificate it issued for the recorder's IP address. Keys are ECDSA P-256,
// certificates short-lived (DefaultCAValidity), so nothing made in one run
// is worth keeping.
//
// Every tls.Config it hands out writes the session secrets to the key log
// (NSS key log format), which lets Wireshark and tshark decrypt the pcap.
type LabCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	pem     []byte
	pool    *x509.CertPool
	now     time.Time
	ttl     time.Duration
	keyLog  *KeyLog
	serials sync.Mutex
	serial  int64
}

// DefaultCAValidity is how long the lab CA and its certificates are valid.
const DefaultCAValidity = 24 * time.Hour

// caBackdate covers clocks that disagree a little: certificates are valid
// from a minute before the lab started.
const caBackdate = time.Minute

// NewLabCA makes a CA named name, valid from now for validity (default
// DefaultCAValidity). now comes from the lab clock (Network.Epoch()).
// keyLog may be nil: then no secrets are written.
func NewLabCA(name string, now time.Time, validity time.Duration, keyLog *KeyLog) (*LabCA, error) {
	if validity == 0 {
		validity = DefaultCAValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("sim: lab CA %q: validity %s is negative", name, validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sim: lab CA %q: key: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"reclab"}},
		NotBefore:             now.Add(-caBackdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sim: lab CA %q: certificate: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("sim: lab CA %q: certificate: %w", name, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &LabCA{
		cert: cert, key: key, pool: pool, now: now, ttl: validity, keyLog: keyLog, serial: 1,
		pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// Certificate is the CA's own certificate.
func (ca *LabCA) Certificate() *x509.Certificate { return ca.cert }

// PEM is the CA certificate in PEM form, e.g. to write beside the pcap.
func (ca *LabCA) PEM() []byte { return append([]byte(nil), ca.pem...) }

// Pool is a certificate pool holding only this CA: what a phone trusts.
func (ca *LabCA) Pool() *x509.CertPool { return ca.pool }

// Issue makes a server certificate for ip (its only subject alternative
// name, so a client that dials ip verifies it) signed by the CA.
func (ca *LabCA) Issue(name string, ip netip.Addr) (tls.Certificate, error) {
	if !ip.IsValid() {
		return tls.Certificate{}, fmt.Errorf("sim: lab CA: certificate for %q: no IP address", name)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sim: lab CA: certificate for %s: key: %w", ip, err)
	}
	ca.serials.Lock()
	ca.serial++
	serial := ca.serial
	ca.serials.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"reclab"}},
		NotBefore:    ca.now.Add(-caBackdate),
		NotAfter:     ca.now.Add(ca.ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{ip.Unmap().AsSlice()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sim: lab CA: certificate for %s: %w", ip, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sim: lab CA: certificate for %s: %w", ip, err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// ServerTLS is the TLS configuration of a server at ip: a certificate the
// CA issued for ip, HTTP/1.1 only, secrets to the key log.
func (ca *LabCA) ServerTLS(name string, ip netip.Addr) (*tls.Config, error) {
	cert, err := ca.Issue(name, ip)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
		KeyLogWriter: ca.keyLog.writer(),
	}, nil
}

// ClientTLS is the TLS configuration of a client that trusts this CA and
// nothing else, secrets to the key log. Servers are verified in full: name
// (the IP dialled) and chain.
func (ca *LabCA) ClientTLS() *tls.Config {
	return &tls.Config{
		RootCAs:      ca.pool,
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
		KeyLogWriter: ca.keyLog.writer(),
	}
}

// KeyLog is the lab's TLS key log (the NSS SSLKEYLOGFILE format): one line
// per secret, written whole under a lock, as several nodes' handshakes run
// at once. The zero value and nil discard.
type KeyLog struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// NewKeyLog writes key log lines to w.
func NewKeyLog(w io.Writer) *KeyLog { return &KeyLog{w: w} }

// Write writes one key log line; crypto/tls writes each line with one call.
func (k *KeyLog) Write(b []byte) (int, error) {
	if k == nil {
		return len(b), nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.w == nil || k.err != nil {
		return len(b), nil
	}
	if _, err := k.w.Write(b); err != nil {
		k.err = fmt.Errorf("sim: TLS key log: %w", err)
	}
	return len(b), nil // a key log that fails must not fail the handshake
}

// Err is the first write error, if any.
func (k *KeyLog) Err() error {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// writer is the KeyLogWriter for a tls.Config: nil when there is no log,
// which tells crypto/tls not to compute the lines at all.
func (k *KeyLog) writer() io.Writer {
	if k == nil {
		return nil
	}
	return k
}
