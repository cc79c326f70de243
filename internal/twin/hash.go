package twin

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math/bits"
	"sync/atomic"
)

// HashKey keys SipHash-2-4, a keyed hash whose collisions nobody can craft
// without the key. Unlike hash/maphash its seed can be written down: state
// that holds hashes (the twin's command ids, an account's devices, the
// engine's dedup set and shard routing) can be snapshotted and compared
// with hashes made after a restart.
type HashKey struct{ k0, k1 uint64 }

// NewHashKey returns a random key.
func NewHashKey() HashKey {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return weak bytes)
	return HashKeyFrom(b)
}

// HashKeyFrom returns the key of 16 bytes (little-endian halves, as in the
// SipHash paper).
func HashKeyFrom(b [16]byte) HashKey {
	return HashKey{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// Bytes returns the key's 16 bytes.
func (k HashKey) Bytes() [16]byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], k.k0)
	binary.LittleEndian.PutUint64(b[8:], k.k1)
	return b
}

// Sum64 hashes s.
func (k HashKey) Sum64(s string) uint64 { return sum(k, s) }

// SumBytes hashes b (callers that hash several strings as one join them
// in a buffer of their own).
func (k HashKey) SumBytes(b []byte) uint64 { return sum(k, b) }

func sum[T string | []byte](k HashKey, s T) uint64 {
	v0, v1 := k.k0^0x736f6d6570736575, k.k1^0x646f72616e646f6d
	v2, v3 := k.k0^0x6c7967656e657261, k.k1^0x7465646279746573
	n := uint64(len(s))
	for ; len(s) >= 8; s = s[8:] {
		m := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}
	m := n << 56
	for i := range len(s) {
		m |= uint64(s[i]) << (8 * i)
	}
	v3 ^= m
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13) ^ v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16) ^ v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21) ^ v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17) ^ v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// The process's key of HashID. A snapshot carries it: a process that
// restores one takes the snapshot's key over (UseHashKey) before it hashes
// anything, so the hashes in the restored state keep matching.
var (
	processKey  atomic.Pointer[HashKey]
	processUsed atomic.Bool
)

func init() {
	k := NewHashKey()
	processKey.Store(&k)
}

// HashID hashes an identifier for compact matching (command ids, devices,
// vehicles in a window) with the process's key.
func HashID(s string) uint64 {
	if !processUsed.Load() {
		processUsed.Store(true)
	}
	return processKey.Load().Sum64(s)
}

// ProcessHashKey returns the key HashID uses.
func ProcessHashKey() HashKey { return *processKey.Load() }

// ErrHashKeyInUse: the process has already hashed with another key.
var ErrHashKeyInUse = errors.New("twin: this process already hashed identifiers with another key")

// UseHashKey makes k the key of HashID. It fails with ErrHashKeyInUse once
// HashID has been used with another key: state hashed under two keys would
// no longer match. Restoring a snapshot calls it before any event is
// handled.
func UseHashKey(k HashKey) error {
	cur := processKey.Load()
	if *cur == k {
		return nil
	}
	if processUsed.Load() || !processKey.CompareAndSwap(cur, &k) {
		return ErrHashKeyInUse
	}
	return nil
}
