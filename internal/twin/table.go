// Package twin holds vigil's keyed state: a compact digital twin per vehicle
// and the state of each principal (account, IP, API client, device). Every
// table is owned by one engine shard goroutine and is not safe for
// concurrent use.
package twin

// chunkBits sizes the slabs entries live in: entries never move, so a
// pointer to one stays valid while the table grows, and growing never copies.
const chunkBits = 10

// Table maps keys to entries of T stored in fixed-size chunks, so a million
// entries cost one map slot and one T each, without a heap object per entry.
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
		if int(i>>chunkBits) == len(t.chunks) {
			t.chunks = append(t.chunks, make([]T, 1<<chunkBits))
		}
	}
	t.index[key] = i
	return t.At(i), i, true
}

// At returns the entry in slot i.
func (t *Table[T]) At(i uint32) *T { return &t.chunks[i>>chunkBits][i&(1<<chunkBits-1)] }

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
