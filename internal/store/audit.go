package store

import (
	"crypto/sha256"
	"encoding/binary"
)

// HashSize is the size of an audit hash (SHA-256).
const HashSize = sha256.Size

// auditDomain separates audit hashes from any other SHA-256 use; a new
// entry layout gets a new domain.
const auditDomain = "vigil-audit-v1\x00"

// AuditHash returns the hash of an entry: SHA-256 over the previous entry's
// hash and every field of e but its hashes, each length-prefixed, so no two
// different entries (or chains) hash alike. prev is 32 zero bytes for the
// first entry. Anyone holding an export can recompute it.
func AuditHash(prev []byte, e *AuditEntry) []byte {
	h := sha256.New()
	var b [8]byte
	h.Write([]byte(auditDomain))
	field := func(p []byte) {
		binary.BigEndian.PutUint64(b[:], uint64(len(p)))
		h.Write(b[:])
		h.Write(p)
	}
	field(prev)
	binary.BigEndian.PutUint64(b[:], uint64(e.Seq))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(e.Time))
	h.Write(b[:])
	field([]byte(e.Actor))
	field([]byte(e.Action))
	field([]byte(e.Tenant))
	field([]byte(e.Target))
	field(e.Detail)
	return h.Sum(nil)
}

// GenesisHash is the PrevHash of the first entry.
func GenesisHash() []byte { return make([]byte, HashSize) }
