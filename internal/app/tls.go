package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-project/vigil/internal/api/problem"
)

// tlsConfig returns the server's TLS configuration: the certificate and key
// given, or with selfSigned a certificate made on the first start and kept
// in dir (for a first look; production uses its own certificate). nil when
// TLS is not asked for.
func tlsConfig(certFile, keyFile string, selfSigned bool, dir string, hosts []string) (*tls.Config, error) {
	switch {
	case certFile != "" || keyFile != "":
		if certFile == "" || keyFile == "" {
			return nil, errors.New("--tls-cert and --tls-key go together")
		}
	case selfSigned:
		certFile, keyFile = filepath.Join(dir, "tls-cert.pem"), filepath.Join(dir, "tls-key.pem")
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			if err := selfSign(certFile, keyFile, hosts); err != nil {
				return nil, fmt.Errorf("making a self-signed certificate: %w", err)
			}
		}
	default:
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// selfSign writes an ECDSA P-256 certificate valid for a year for hosts,
// the key readable by its owner only.
func selfSign(certFile, keyFile string, hosts []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "vigil (self-signed)"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range append(hosts, "localhost", "127.0.0.1", "::1") {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// withClientCAs makes cfg ask for client certificates and verify them
// against the CA bundle in caFile. A certificate stays optional at the TLS
// layer (the console and the API authenticate with keys and sessions);
// routes that need one check it with requireClientCert.
func withClientCAs(cfg *tls.Config, caFile string) error {
	if caFile == "" {
		return nil
	}
	if cfg == nil {
		return errors.New("--tls-client-ca needs HTTPS: add --tls-cert and --tls-key, or --tls-self-signed")
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("--tls-client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return fmt.Errorf("--tls-client-ca %s: no PEM certificate in it", caFile)
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	return nil
}

// clientCertGuard refuses requests without a client certificate that
// verified against --tls-client-ca (mutual TLS for ingest), and counts them.
type clientCertGuard struct {
	refused atomic.Int64
	desc    *prometheus.Desc
}

func newClientCertGuard() *clientCertGuard {
	return &clientCertGuard{desc: prometheus.NewDesc("vigil_ingest_client_cert_refused_total",
		"Ingest requests refused because they carried no verified client certificate (mutual TLS).", nil, nil)}
}

func (g *clientCertGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			g.refused.Add(1)
			problem.Write(w, problem.New(problem.Forbidden,
				"%s %s needs a client certificate issued by the server's client CA (mutual TLS is required for ingest)", r.Method, r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *clientCertGuard) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }
func (g *clientCertGuard) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.CounterValue, float64(g.refused.Load()))
}
