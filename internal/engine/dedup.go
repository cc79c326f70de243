package engine

import (
	"encoding/binary"
	"math"
	"sync/atomic"

	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// dedup remembers the (tenant, source, id) of recent events as 128-bit
// hashes in two generations of one window each, so its memory is bounded by
// the event rate, not the stream length. The first half is keyed (SipHash,
// a random key per engine, carried by its snapshots): nobody can craft two
// ids that collide. The second, a fast unkeyed hash of the same bytes, only
// makes an accidental match of the first half harmless.
type dedup struct {
	key       twin.HashKey
	buf       []byte
	cur, prev hashSet
	start     int64
	maxTime   int64
	window    int64
	max       int          // entries per generation before it rotates early
	early     atomic.Int64 // early rotations: the window was shortened (counted in Stats)
}

// maxDedupEntries bounds one generation (32 bytes an entry at half load): at very high
// rates the window shortens rather than memory growing without end.
const maxDedupEntries = 1 << 22 // 4M entries, 128 MiB a generation

func newDedup(window int64) *dedup {
	return &dedup{key: twin.NewHashKey(), window: window, start: math.MinInt64, max: maxDedupEntries}
}

func (d *dedup) hash(ev *event.Event) (uint64, uint64) {
	b := append(d.buf[:0], ev.Tenant...)
	b = append(b, 0)
	b = append(b, ev.Source...)
	b = append(b, 0)
	b = append(b, ev.ID...)
	d.buf = b
	return d.key.SumBytes(b), check(b)
}

// check is a multiply-xorshift hash of b, word by word: each step is a
// bijection of the state, so inputs that differ in one word never collide.
func check(b []byte) uint64 {
	const p1, p2 = 0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f
	h := uint64(len(b)) * p1
	for ; len(b) >= 8; b = b[8:] {
		h = (h ^ binary.LittleEndian.Uint64(b)) * p2
		h ^= h >> 29
	}
	var w uint64
	for i, c := range b {
		w |= uint64(c) << (8 * i)
	}
	h = (h ^ w) * p2
	h ^= h >> 32
	h *= p1
	return h ^ h>>29
}

// seen records ev and reports whether it was recorded before.
func (d *dedup) seen(ev *event.Event) bool {
	if ev.Time > d.maxTime {
		d.maxTime = ev.Time
	}
	if d.start == math.MinInt64 {
		d.start = ev.Time
	}
	if d.maxTime-d.start >= d.window || d.cur.n >= d.max {
		if d.cur.n >= d.max {
			d.early.Add(1)
		}
		d.prev, d.cur = d.cur, d.prev
		d.cur.reset()
		d.start = d.maxTime
	}
	a, b := d.hash(ev)
	if d.prev.has(a, b) {
		return true
	}
	return !d.cur.add(a, b)
}

// hashSet is an open-addressing set of 128-bit keys. A lookup reads one
// slot of keys (the first half) and touches check (the second half) only
// on a match, so a miss costs one cache line.
type hashSet struct {
	keys  []uint64 // 0 means empty (a zero first half is stored as 1)
	check []uint64
	n     int
}

func (s *hashSet) reset() {
	clear(s.keys)
	s.n = 0
}

func (s *hashSet) has(a, b uint64) bool {
	if s.n == 0 {
		return false
	}
	a = max(a, 1)
	mask := uint64(len(s.keys) - 1)
	for i := a & mask; ; i = (i + 1) & mask {
		switch s.keys[i] {
		case 0:
			return false
		case a:
			if s.check[i] == b {
				return true
			}
		}
	}
}

// add inserts the key and reports whether it was new.
func (s *hashSet) add(a, b uint64) bool {
	if 2*(s.n+1) > len(s.keys) {
		s.grow()
	}
	a = max(a, 1)
	mask := uint64(len(s.keys) - 1)
	for i := a & mask; ; i = (i + 1) & mask {
		switch s.keys[i] {
		case 0:
			s.keys[i], s.check[i] = a, b
			s.n++
			return true
		case a:
			if s.check[i] == b {
				return false
			}
		}
	}
}

func (s *hashSet) grow() {
	size := max(1024, 2*len(s.keys))
	old, oldCheck := s.keys, s.check
	s.keys, s.check, s.n = make([]uint64, size), make([]uint64, size), 0
	for i, k := range old {
		if k != 0 {
			s.add(k, oldCheck[i])
		}
	}
}
