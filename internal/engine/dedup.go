package engine

import (
	"hash/maphash"
	"math"
	"sync/atomic"

	"github.com/vigil-project/vigil/internal/event"
)

// dedup remembers the (tenant, source, id) of recent events as 128-bit
// keyed hashes in two generations of one window each, so its memory is
// bounded by the event rate, not the stream length. The seeds are random
// per process: nobody can craft two ids that collide.
type dedup struct {
	s1, s2    maphash.Seed
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
	return &dedup{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), window: window, start: math.MinInt64, max: maxDedupEntries}
}

func (d *dedup) hash(seed maphash.Seed, ev *event.Event) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString(ev.Tenant)
	h.WriteByte(0)
	h.WriteString(ev.Source)
	h.WriteByte(0)
	h.WriteString(ev.ID)
	return h.Sum64()
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
	a, b := d.hash(d.s1, ev), d.hash(d.s2, ev)
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
