package sqlstore

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"strings"

	"github.com/vigil-project/vigil/internal/store"
)

// query builds a statement from constant fragments and bound arguments.
// Nothing a user sends ever becomes SQL text: only the number of
// placeholders of an IN list depends on the input, and it is rounded up to
// a power of two so the set of statement shapes stays small.
type query struct {
	b    strings.Builder
	args []any
}

func (q *query) sql(frag string) *query {
	q.b.WriteString(frag)
	return q
}

// arg appends a fragment holding one placeholder and its value.
func (q *query) arg(frag string, v any) *query {
	q.b.WriteString(frag)
	q.args = append(q.args, v)
	return q
}

// in appends " AND col IN (?, …)" for vals, padded with the last value.
// No values match nothing.
func (q *query) in(col string, vals []string) *query {
	if len(vals) == 0 {
		return q.sql(" AND 1 = 0")
	}
	n := 1
	for n < len(vals) {
		n *= 2
	}
	q.b.WriteString(" AND ")
	q.b.WriteString(col)
	q.b.WriteString(" IN (")
	for i := 0; i < n; i++ {
		if i > 0 {
			q.b.WriteString(", ")
		}
		q.b.WriteByte('?')
		q.args = append(q.args, vals[min(i, len(vals)-1)])
	}
	q.b.WriteByte(')')
	return q
}

// inAny appends " IN (?, …)" for vals (at least one), padded with the last
// value like in.
func (q *query) inAny(vals []any) *query {
	n := 1
	for n < len(vals) {
		n *= 2
	}
	q.b.WriteString(" IN (")
	for i := 0; i < n; i++ {
		if i > 0 {
			q.b.WriteString(", ")
		}
		q.b.WriteByte('?')
		q.args = append(q.args, vals[min(i, len(vals)-1)])
	}
	q.b.WriteByte(')')
	return q
}

// scope appends the tenant filter of s on col. The all-tenants scope adds
// nothing; an empty scope matches nothing.
func (q *query) scope(col string, s store.Scope) *query {
	switch {
	case s.All():
		return q
	case s.Empty():
		return q.sql(" AND 1 = 0")
	}
	return q.in(col, s.Tenants())
}

func (q *query) String() string { return q.b.String() }

// cursor is the position after the last row of a page: the sort key of
// that row. It is bound to the query it was issued for.
type cursor struct {
	kind  byte
	order store.Order
	fp    uint32 // fingerprint of the query's filters
	a, b  int64  // the sort key
}

const (
	cursorEvents    = 'e'
	cursorAlerts    = 'a'
	cursorIncidents = 'i'
	cursorVersion   = 1
)

func (c cursor) encode() string {
	buf := make([]byte, 0, 32)
	buf = append(buf, cursorVersion, c.kind, byte(c.order))
	buf = binary.BigEndian.AppendUint32(buf, c.fp)
	buf = binary.AppendVarint(buf, c.a)
	buf = binary.AppendVarint(buf, c.b)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// decodeCursor parses s, which must have been issued for a query of the
// same kind, order and filters.
func decodeCursor(s string, kind byte, order store.Order, fp uint32) (cursor, error) {
	bad := func(why string) (cursor, error) {
		return cursor{}, store.Errorf(store.ErrInvalid, "cursor %s: request the first page again", why)
	}
	if len(s) > 64 {
		return bad("is not valid")
	}
	buf, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(buf) < 9 || buf[0] != cursorVersion {
		return bad("is not valid")
	}
	c := cursor{kind: buf[1], order: store.Order(buf[2]), fp: binary.BigEndian.Uint32(buf[3:7])}
	rest := buf[7:]
	var n int
	if c.a, n = binary.Varint(rest); n <= 0 {
		return bad("is not valid")
	}
	rest = rest[n:]
	if c.b, n = binary.Varint(rest); n <= 0 || n != len(rest) {
		return bad("is not valid")
	}
	if c.kind != kind || c.order != order || c.fp != fp {
		return bad("was issued for a different query")
	}
	return c, nil
}

// fingerprint hashes a query's filters (not its page size or cursor).
type fingerprint struct{ h uint64 }

func newFingerprint() *fingerprint {
	f := fnv.New64a()
	return &fingerprint{h: f.Sum64()}
}

func (f *fingerprint) str(s string) *fingerprint {
	f.num(int64(len(s)))
	for i := 0; i < len(s); i++ {
		f.h ^= uint64(s[i])
		f.h *= 1099511628211
	}
	return f
}

func (f *fingerprint) num(n int64) *fingerprint {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	for _, c := range b {
		f.h ^= uint64(c)
		f.h *= 1099511628211
	}
	return f
}

func (f *fingerprint) sum() uint32 { return uint32(f.h ^ f.h>>32) }
