package pseudo

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"
)

// MinSecret is the shortest master secret accepted, in bytes.
const MinSecret = 32

// maxSecret bounds the key file: a larger one is not a key.
const maxSecret = 4096

// KeygenHint says how to make a key file; errors about a missing key end
// with it.
const KeygenHint = "create one with: vigil privacy keygen FILE (32 random bytes, mode 0600)"

// LoadSecret reads the master secret: every byte of the file, at least
// MinSecret of them. insecure is true when the group or others may read it.
func LoadSecret(path string) (secret []byte, insecure bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, fmt.Errorf("privacy.key_file: %w: %s", err, KeygenHint)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("privacy.key_file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, false, fmt.Errorf("privacy.key_file %s is not a regular file: %s", path, KeygenHint)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecret+1))
	if err != nil {
		return nil, false, fmt.Errorf("privacy.key_file: %w", err)
	}
	switch {
	case len(b) < MinSecret:
		return nil, false, fmt.Errorf("privacy.key_file %s holds %d bytes, fewer than %d: %s", path, len(b), MinSecret, KeygenHint)
	case len(b) > maxSecret:
		return nil, false, fmt.Errorf("privacy.key_file %s is larger than %d bytes: it is not a key file", path, maxSecret)
	}
	return b, st.Mode().Perm()&0o077 != 0, nil
}

// WriteSecret creates path holding 32 random bytes, readable by its owner
// only. It never overwrites a file: losing a key loses every pseudonym's
// link to what came before.
func WriteSecret(path string) error {
	var b [MinSecret]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: vigil does not overwrite a key (pseudonyms made with it would no longer match); remove it first if you mean to", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b[:]); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// tenantKeys are one tenant's keys, derived from the master secret with
// HKDF: one for the pseudonyms' HMAC, one for the vault. A tenant's
// pseudonyms do not link to another tenant's.
type tenantKeys struct {
	pool sync.Pool // of *macState
	aead cipher.AEAD
}

func deriveKeys(secret []byte, tenant string) (*tenantKeys, error) {
	mk, err := hkdf.Key(sha256.New, secret, nil, "vigil pseudonyms v1\x00"+tenant, 32)
	if err != nil {
		return nil, err
	}
	vk, err := hkdf.Key(sha256.New, secret, nil, "vigil vault v1\x00"+tenant, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(vk)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	t := &tenantKeys{aead: aead}
	t.pool.New = func() any { return &macState{h: hmac.New(sha256.New, mk), buf: make([]byte, 0, 64)} }
	return t, nil
}

// macState is one HMAC instance with its input buffer; pooled because
// building one costs more than using it.
type macState struct {
	h   hash.Hash
	buf []byte
}

func (m *macState) sum(dst *[32]byte) {
	m.h.Reset()
	m.h.Write(m.buf)
	m.h.Sum(dst[:0])
}

func (t *tenantKeys) mac() *macState   { return t.pool.Get().(*macState) }
func (t *tenantKeys) done(m *macState) { t.pool.Put(m) }

// hmacOf is HMAC-SHA256(kind byte || value) under the tenant's key.
func (t *tenantKeys) hmacOf(k Kind, v string, dst *[32]byte) {
	m := t.mac()
	m.buf = append(append(m.buf[:0], byte(k)), v...)
	m.sum(dst)
	if cap(m.buf) > 4096 {
		m.buf = make([]byte, 0, 64) // do not pool a buffer grown by one huge value
	}
	t.done(m)
}
