// Package auth is the logic of signing in, with no HTTP and no store:
// argon2id password hashes in PHC strings, the password policy, the lock-out
// of a user name after repeated failures, token buckets, and session tokens
// with the CSRF token bound to each. Clocks are passed in; nothing here is
// package-level mutable state.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Params are argon2id's cost parameters.
type Params struct {
	MemoryKiB uint32 // memory per hash
	Time      uint32 // passes over the memory
	Threads   uint8  // lanes (and goroutines)
	SaltLen   uint32 // bytes of random salt
	KeyLen    uint32 // bytes of output
}

// DefaultParams: 64 MiB, 2 passes, 2 lanes, a 16-byte salt and a 32-byte
// hash: about 100 ms a hash on the 2-core development machine, three times
// OWASP's minimum memory (BenchmarkHash; the figures are in docs/auth.md).
func DefaultParams() Params {
	return Params{MemoryKiB: 64 << 10, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
}

// Bounds on parameters, for configuration and for hashes read back from the
// store: an entry changed behind vigil's back must not make one sign-in
// allocate gigabytes or run for minutes.
const (
	MinMemoryKiB = 8 << 10
	MaxMemoryKiB = 512 << 10
	MaxTime      = 16
	MaxThreads   = 16
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 64
)

// Validate reports what is wrong with p.
func (p Params) Validate() error {
	switch {
	case p.MemoryKiB < MinMemoryKiB || p.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("memory %d KiB: want %d to %d KiB (8 to 512 MiB)", p.MemoryKiB, MinMemoryKiB, MaxMemoryKiB)
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("time %d: want 1 to %d passes", p.Time, MaxTime)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("threads %d: want 1 to %d", p.Threads, MaxThreads)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt of %d bytes: want %d to %d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("hash of %d bytes: want %d to %d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// ErrMalformedHash is returned for a stored hash that is not an argon2id PHC
// string within the bounds above.
var ErrMalformedHash = errors.New("not an argon2id hash vigil can verify")

// Hasher hashes and verifies passwords. At most a fixed number of hashes
// run at once: each takes Params.MemoryKiB, and sign-in is reachable without
// a credential, so without the bound a burst of requests is a burst of
// memory.
type Hasher struct {
	p     Params
	slots chan struct{}
	dummy string // a hash of a random password, verified for unknown users
	runs  atomic.Int64
}

// NewHasher returns a hasher with p that runs at most concurrency hashes at
// once (callers beyond wait, or give up when their context ends).
func NewHasher(p Params, concurrency int) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if concurrency < 1 {
		return nil, fmt.Errorf("hash concurrency %d: want at least 1", concurrency)
	}
	h := &Hasher{p: p, slots: make(chan struct{}, concurrency)}
	var pw [24]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, err
	}
	d, err := h.Hash(context.Background(), base64.RawStdEncoding.EncodeToString(pw[:]))
	if err != nil {
		return nil, err
	}
	h.dummy = d
	return h, nil
}

// Params are the parameters new hashes use.
func (h *Hasher) Params() Params { return h.p }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() {
	h.runs.Add(1)
	<-h.slots
}

// Runs is the number of hashes computed (made or verified), the dummy's
// too: a test of equal work for unknown and known users counts them.
func (h *Hasher) Runs() int64 { return h.runs.Load() }

// Hash returns the PHC string of password with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(normalize(password)), salt, h.p.Time, h.p.MemoryKiB, h.p.Threads, h.p.KeyLen)
	h.release()
	return encodePHC(h.p, salt, key), nil
}

// Verify reports whether password matches the PHC string encoded, and
// whether the hash should be replaced because it was made with other
// parameters than the hasher's (only meaningful when ok).
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	p, salt, want, err := ParsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(normalize(password)), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	h.release()
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != h.p, nil
}

// VerifyDummy costs what Verify costs with the hasher's parameters and
// always fails: it is run for an unknown user name so that the answer takes
// as long as for a wrong password.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, h.dummy, password)
	return err
}

// normalize is NFKC (as RFC 8265 and NIST SP 800-63B suggest): the same
// password typed on keyboards that compose accents differently hashes the
// same.
func normalize(s string) string { return norm.NFKC.String(s) }

func encodePHC(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// ParsePHC reads "$argon2id$v=19$m=…,t=…,p=…$salt$hash" (standard base64
// without padding), strictly: any other shape, version or parameter out of
// bounds is ErrMalformedHash.
func ParsePHC(s string) (p Params, salt, key []byte, err error) {
	bad := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	if len(s) > 256 {
		return bad("longer than 256 bytes")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want $argon2id$v=…$m=…,t=…,p=…$salt$hash")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm " + strconv.Quote(parts[1]))
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version " + strconv.Quote(parts[2]))
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return bad("want m=…,t=…,p=…")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], name)
		if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
			return bad("parameter " + strconv.Quote(kv[i]))
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameter " + strconv.Quote(kv[i]))
		}
		vals[i] = n
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err = b64.DecodeString(parts[4])
	if err != nil {
		return bad("salt is not base64")
	}
	key, err = b64.DecodeString(parts[5])
	if err != nil {
		return bad("hash is not base64")
	}
	if vals[2] > MaxThreads {
		return bad("too many threads")
	}
	p = Params{MemoryKiB: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2]), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if err := p.Validate(); err != nil {
		return bad(err.Error())
	}
	return p, salt, key, nil
}
