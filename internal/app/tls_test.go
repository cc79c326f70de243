package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServeTLSSelfSigned(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveOptions{Listen: "127.0.0.1:0", DataDir: dir, TLSSelf: true, Logger: slog.New(slog.DiscardHandler),
			KeyOut: io.Discard, Ready: func(base string, _ *server) { ready <- base }})
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base %s", base)
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, "tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "tls-key.pem")); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(base + "/v1/health")
	if err != nil {
		t.Fatalf("HTTPS with the generated certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("health: %d", resp.StatusCode)
	}
	cancel()
	<-done
}

func TestServeRefusesPlainHTTPBeyondLoopback(t *testing.T) {
	err := serve(context.Background(), serveOptions{Listen: "0.0.0.0:0", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("got %v", err)
	}
}

// testCA issues certificates for the mutual-TLS test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// client issues a client certificate.
func (ca *testCA) client(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestIngestMutualTLS: with --ingest-client-cert, POST /v1/events needs a
// client certificate from the client CA as well as an ingest key; other
// routes still work without one; a certificate from another CA fails the
// handshake.
func TestIngestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "producers CA")
	caFile := filepath.Join(dir, "client-ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *testServer, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveOptions{Listen: "127.0.0.1:0", DataDir: dir, TLSSelf: true, TLSClientCA: caFile, IngestClientCert: true,
			Logger: slog.New(slog.DiscardHandler), KeyOut: io.Discard, Ready: func(base string, srv *server) { ready <- &testServer{base: base, srv: srv} }})
	}()
	var ts *testServer
	select {
	case ts = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	base, key := ts.base, ts.key(t, "ingest", "fleet-a")
	serverPEM, err := os.ReadFile(filepath.Join(dir, "tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(serverPEM)
	clientWith := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	event := `{"specversion":"1.0","id":"mtls-1","source":"test","type":"auth.login","time":"2026-03-02T07:00:00Z","tenant":"fleet-a","data":{"actor":{"account":"a"},"result":"success","method":"password"}}`
	post := func(c *http.Client) (int, string, error) {
		req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(event))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/cloudevents+json")
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if code, body, err := post(clientWith()); err != nil || code != http.StatusForbidden || !strings.Contains(body, "client certificate") {
		t.Errorf("ingest without a client certificate: %d %s %v, want 403 naming the certificate", code, body, err)
	}
	if code, body, err := post(clientWith(ca.client(t, "producer-1"))); err != nil || code != http.StatusOK {
		t.Errorf("ingest with a client certificate: %d %s %v, want 200", code, body, err)
	}
	// Go's client sends no certificate the server's CA list does not name;
	// force it, as an attacker would.
	intruder := newTestCA(t, "someone else's CA").client(t, "intruder")
	forced := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &intruder, nil }}}}
	if code, body, err := post(forced); err == nil {
		t.Errorf("a certificate from another CA got through the TLS handshake: %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", base+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := clientWith().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/me without a client certificate: %d, want 200 (only ingest needs one)", resp.StatusCode)
	}
	resp, err = clientWith().Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), "vigil_ingest_client_cert_refused_total 1") {
		t.Errorf("metrics do not count the refused request:\n%s", grepLines(string(m), "client_cert"))
	}
	cancel()
	<-done
}

func TestClientCARequiresHTTPS(t *testing.T) {
	err := serve(context.Background(), serveOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir(), TLSClientCA: "ca.pem", Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "needs HTTPS") {
		t.Errorf("got %v", err)
	}
	err = serve(context.Background(), serveOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir(), TLSSelf: true, IngestClientCert: true, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "--tls-client-ca") {
		t.Errorf("got %v", err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
