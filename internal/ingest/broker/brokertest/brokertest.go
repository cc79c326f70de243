// Package brokertest holds what the broker sources' tests share: a sink
// that deduplicates like the store, events, certificates and waiting.
package brokertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/ingest/broker"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
)

// Sink stores events in memory, deduplicating by (tenant, source, id) as
// the real store does; while Fail returns true, Accept refuses.
type Sink struct {
	Fail func() bool
	mu   sync.Mutex
	seen map[string]bool
	ids  []string
}

func (s *Sink) Accept(_ context.Context, batch []httpingest.Accepted) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil && s.Fail() {
		return nil, errors.New("the store is down")
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	dups := make([]bool, len(batch))
	for i, a := range batch {
		k := a.Event.Tenant + "|" + a.Event.Source + "|" + a.Event.ID
		dups[i] = s.seen[k]
		if !dups[i] {
			s.seen[k] = true
			s.ids = append(s.ids, a.Event.ID)
		}
	}
	return dups, nil
}

// IDs returns the ids stored, in order.
func (s *Sink) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// Login is a valid auth.login event.
func Login(id, tenant string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"tsp/auth","type":"auth.login","time":"2026-03-02T07:00:00Z","tenant":%q,"data":{"actor":{"account":"a-1"},"result":"success","method":"password"}}`, id, tenant)
}

// BadTime is an event rejected for its time.
const BadTime = `{"specversion":"1.0","id":"bad-1","source":"tsp/auth","type":"auth.login","time":"yesterday","tenant":"fleet-a","data":{}}`

// Pipeline returns a pipeline into sink for tenants, batching briefly.
func Pipeline(t *testing.T, name string, sink httpingest.Sink, tenants ...string) *broker.Pipeline {
	t.Helper()
	p, err := broker.New(broker.Options{Source: name, Sink: sink, Tenants: tenants, BatchWait: 5 * time.Millisecond, Logger: Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Logger logs to the test.
func Logger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(testWriter{t}, nil)) }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// WaitFor polls ok for up to 20 s.
func WaitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a loopback port nobody listens on right now.
func FreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// PKI is a test CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type PKI struct {
	CAFile, ServerCert, ServerKey, ClientCert, ClientKey string
}

// NewPKI writes a CA and its certificates into dir (mode 0600).
func NewPKI(t *testing.T, dir string) PKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, certName, keyName string) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return write(certName, "CERTIFICATE", der), write(keyName, "EC PRIVATE KEY", kb)
	}
	p := PKI{CAFile: write("ca.pem", "CERTIFICATE", caDER)}
	p.ServerCert, p.ServerKey = issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, "server.pem", "server-key.pem")
	p.ClientCert, p.ClientKey = issue(3, "vigil", x509.ExtKeyUsageClientAuth, "client.pem", "client-key.pem")
	return p
}

// Server runs a broker binary (mosquitto, nats-server) of the machine until
// the test ends and waits until it listens on port. A missing binary fails
// the test: CI must have it (see the README).
func Server(t *testing.T, name string, port int, args ...string) {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		bin = "/usr/sbin/" + name
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s is not installed: apt-get install %s (the tests need the real broker)", name, name)
		}
	}
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	WaitFor(t, name+" to listen", func() bool {
		select {
		case <-exited:
			t.Fatalf("%s exited: %s", name, out.String())
		default:
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
