// Package clientconf is the client side of vigil's connections to other
// systems (alert sinks, broker sources): TLS settings and secrets read from
// files or the environment, never written in the configuration itself.
package clientconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// TLS configures the client side of a TLS connection.
type TLS struct {
	// Enable turns TLS on with the system's roots (kafka: the brokers have
	// no scheme to say so); any other option turns it on too.
	Enable     bool   `yaml:"enable"`
	CAFile     string `yaml:"ca_file"`     // trust only this CA bundle (PEM) instead of the system's
	CertFile   string `yaml:"cert_file"`   // client certificate for mutual TLS (PEM), with key_file
	KeyFile    string `yaml:"key_file"`    //
	ServerName string `yaml:"server_name"` // the name to verify, when it differs from the address's host
}

// IsZero reports whether no TLS option is set.
func (t TLS) IsZero() bool { return t == TLS{} }

// UnmarshalYAML decodes the tls section strictly.
func (t *TLS) UnmarshalYAML(n *yaml.Node) error {
	if err := KnownKeys(n, reflect.TypeFor[TLS](), "tls section"); err != nil {
		return err
	}
	type plain TLS
	return n.Decode((*plain)(t))
}

// KnownKeys fails on a key of mapping n that no field of t names.
func KnownKeys(n *yaml.Node, t reflect.Type, what string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a %s is a mapping of keys to values", n.Line, what)
	}
	var known []string
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			known = append(known, k)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			return fmt.Errorf("line %d: %q is not a key of a %s (known: %s)", k.Line, k.Value, what, strings.Join(known, ", "))
		}
	}
	return nil
}

// Env is what building a sink may read: files named by the configuration
// (relative to its directory) and environment variables.
type Env struct {
	// Path resolves a path from the configuration; nil leaves it as is.
	Path func(string) string
	// Getenv reads an environment variable; nil is os.Getenv.
	Getenv func(string) string
}

// File resolves a path from the configuration.
func (e Env) File(p string) string {
	if e.Path == nil {
		return p
	}
	return e.Path(p)
}

// maxSecret bounds a secret or password file.
const maxSecret = 64 << 10

// Secret reads a secret from a file or an environment variable (one of
// them set). Surrounding white space (a trailing newline) is dropped; an
// empty secret is an error.
func (e Env) Secret(what, file, env string) ([]byte, error) {
	var b []byte
	switch {
	case file != "":
		p := e.File(file)
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s_file: %w", what, err)
		}
		if st.Size() > maxSecret {
			return nil, fmt.Errorf("%s_file %s: larger than %d bytes: is it the right file?", what, p, maxSecret)
		}
		if st.Mode().Perm()&0o004 != 0 {
			return nil, fmt.Errorf("%s_file %s: readable by every user of the machine: chmod 600 (or 640) it", what, p)
		}
		if b, err = os.ReadFile(p); err != nil {
			return nil, fmt.Errorf("%s_file: %w", what, err)
		}
		file = p
	case env != "":
		get := e.Getenv
		if get == nil {
			get = os.Getenv
		}
		b = []byte(get(env))
	default:
		return nil, nil
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		if file != "" {
			return nil, fmt.Errorf("%s_file %s is empty", what, file)
		}
		return nil, fmt.Errorf("%s_env: $%s is empty or not set", what, env)
	}
	return b, nil
}

// TLSConfig builds the client TLS configuration of t for a server called
// host (t.ServerName wins; "" lets the client use the host it dials).
// TLS 1.2 is the floor.
func (e Env) TLSConfig(t TLS, host string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if t.ServerName != "" {
		cfg.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(e.File(t.CAFile))
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate in it", e.File(t.CAFile))
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(e.File(t.CertFile), e.File(t.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file and key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
