package firmware

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ParsePublicKey reads a trusted signing key as it is written in the
// configuration file: a PEM block ("PUBLIC KEY", PKIX), or base64 of either
// a PKIX DER key or a raw 32-byte Ed25519 key. It accepts Ed25519 and ECDSA
// P-256 keys, the two algorithms of the ingest contract.
func ParsePublicKey(s string) (crypto.PublicKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("firmware key: empty; give a PEM PUBLIC KEY block or base64")
	}
	var der []byte
	if strings.HasPrefix(s, "-----BEGIN") {
		b, rest := pem.Decode([]byte(s))
		if b == nil {
			return nil, errors.New("firmware key: the PEM block does not parse")
		}
		if len(strings.TrimSpace(string(rest))) > 0 {
			return nil, errors.New("firmware key: more than one PEM block; give one key per key id")
		}
		if b.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("firmware key: PEM block %q, want PUBLIC KEY (never a private key)", b.Type)
		}
		der = b.Bytes
	} else {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("firmware key: neither PEM nor base64: %w", err)
		}
		if len(raw) == ed25519.PublicKeySize {
			return ed25519.PublicKey(raw), nil
		}
		der = raw
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("firmware key: not a PKIX public key: %w", err)
	}
	return checkKey(k)
}

// checkKey accepts the key types signatures can be verified with.
func checkKey(k crypto.PublicKey) (crypto.PublicKey, error) {
	switch k := k.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("firmware key: Ed25519 key of %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		return k, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("firmware key: ECDSA key on %s, want P-256", k.Curve.Params().Name)
		}
		return k, nil
	}
	return nil, fmt.Errorf("firmware key: %T keys are not supported; use Ed25519 or ECDSA P-256", k)
}

// ParseKeys parses a key id → key text map from the configuration file
// with ParsePublicKey; errors name the key id.
func ParseKeys(m map[string]string) (map[string]crypto.PublicKey, error) {
	out := make(map[string]crypto.PublicKey, len(m))
	for id, s := range m {
		if id == "" {
			return nil, errors.New("firmware key: empty key id")
		}
		k, err := ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("trusted key %q: %w", id, err)
		}
		out[id] = k
	}
	return out, nil
}

// ParseDigest reads an image digest of the release manifest: 64 hex digits.
func ParseDigest(s string) ([32]byte, error) {
	var d [32]byte
	s = strings.TrimSpace(s)
	if len(s) != 64 {
		return d, fmt.Errorf("release digest %q: want 64 hex digits of SHA-256, got %d characters", s, len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("release digest %q: %w", s, err)
	}
	return d, nil
}
