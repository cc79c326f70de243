// Package twin holds vigil's keyed state: a compact digital twin per vehicle
// and the state of each principal (account, IP, API client, device). Every
// table is owned by one engine shard goroutine and is not safe for
// concurrent use.
package twin

import "math/bits"

// chunkBits sizes the slabs entries live in: entries never move, so a
// pointer to one stays valid while the table grows, and growing never copies.
// The first 1<<chunkBits slots live in chunks that double (1, 1, 2, 4, …,
// 512 slots), so a table of a few entries — a tenant's, or one a crafted
// snapshot names — costs a few entries, not a chunk.
const chunkBits = 10

// chunkOf returns the chunk of slot i and i's place in it.
func chunkOf(i uint32) (c, off uint32) {
	if i >= 1<<chunkBits {
		return i>>chunkBits + chunkBits, i & (1<<chunkBits - 1)
	}
	c = uint32(bits.Len32(i))
	return c, i - 1<<c>>1
}

// chunkLen is the number of slots of chunk c.
func chunkLen(c uint32) int {
	if c > chunkBits {
		return 1 << chunkBits
	}
	return max(1, 1<<c>>1)
}

// Table maps keys to entries of T stored in chunks, so a million entries
// cost one map slot and one T each, without a heap object per entry.
type Table[T any] struct {
	index  map[string]uint32
	chunks [][]T
	used   uint32 // slots ever handed out
	free   []uint32
}

// NewTable returns an empty table.
func NewTable[T any]() *Table[T] {
	return &Table[T]{index: make(map[string]uint32)}
}

// Len returns the number of entries.
func (t *Table[T]) Len() int { return len(t.index) }

// Lookup returns the entry for key, or nil.
func (t *Table[T]) Lookup(key string) *T {
	if i, ok := t.index[key]; ok {
		return t.At(i)
	}
	return nil
}

// Get returns the entry for key and its slot, creating a zero entry when
// there is none (created reports that).
func (t *Table[T]) Get(key string) (e *T, slot uint32, created bool) {
	if i, ok := t.index[key]; ok {
		return t.At(i), i, false
	}
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		i = t.used
		t.used++
	}
	c, _ := chunkOf(i)
	if int(c) == len(t.chunks) {
		t.chunks = append(t.chunks, nil)
	}
	// A restored table has no chunk where it had no live entry (LoadTable).
	if t.chunks[c] == nil {
		t.chunks[c] = make([]T, chunkLen(c))
	}
	t.index[key] = i
	return t.At(i), i, true
}

// At returns the entry in slot i.
func (t *Table[T]) At(i uint32) *T {
	c, off := chunkOf(i)
	return &t.chunks[c][off]
}

// Holds reports whether key lives in slot i (timers check this before
// firing: the key may have been deleted and its slot reused).
func (t *Table[T]) Holds(key string, i uint32) bool {
	j, ok := t.index[key]
	return ok && j == i
}

// Delete removes key; its slot is zeroed and reused.
func (t *Table[T]) Delete(key string) {
	i, ok := t.index[key]
	if !ok {
		return
	}
	delete(t.index, key)
	var zero T
	*t.At(i) = zero
	t.free = append(t.free, i)
}

// Range calls f for every entry, in no particular order, until f returns
// false.
func (t *Table[T]) Range(f func(key string, e *T) bool) {
	for k, i := range t.index {
		if !f(k, t.At(i)) {
			return
		}
	}
}

// RangeSlots is Range with each entry's slot.
func (t *Table[T]) RangeSlots(f func(key string, slot uint32, e *T) bool) {
	for k, i := range t.index {
		if !f(k, i, t.At(i)) {
			return
		}
	}
}
