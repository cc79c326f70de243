package gate

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// limiter is a set of token buckets, one per key, in striped maps. A bucket
// that has refilled completely holds nothing worth keeping: sweep drops it.
type limiter struct {
	rate    float64 // tokens per nanosecond
	burst   float64
	off     bool
	maxKeys int64
	keys    atomic.Int64
	seed    maphash.Seed
	stripes [stripes]bucketStripe
}

type bucketStripe struct {
	mu sync.Mutex
	m  map[vkey]*bucket
	_  [64]byte
}

type bucket struct {
	tokens float64
	last   int64 // Unix ns of the last refill
}

func newLimiter(r RateLimit, maxKeys int) *limiter {
	l := &limiter{rate: r.PerMinute / float64(time.Minute), burst: float64(r.Burst), off: r.Disabled,
		maxKeys: int64(maxKeys), seed: maphash.MakeSeed()}
	for i := range l.stripes {
		l.stripes[i].m = map[vkey]*bucket{}
	}
	return l
}

// take takes one token from k's bucket at now (Unix ns). When the bucket is
// empty it takes nothing and returns false with the wait until the next
// token.
func (l *limiter) take(k vkey, now int64) (ok bool, wait time.Duration) {
	if l.off {
		return true, 0
	}
	s := &l.stripes[l.stripeOf(k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[k]
	if b == nil {
		if l.keys.Load() >= l.maxKeys {
			return true, 0 // full: not limited until a sweep makes room (counted in metrics)
		}
		b = &bucket{tokens: l.burst, last: now}
		s.m[k] = b
		l.keys.Add(1)
	}
	if now > b.last {
		b.tokens = min(l.burst, b.tokens+float64(now-b.last)*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false, time.Duration(math.Ceil((1 - b.tokens) / l.rate)) // never early
	}
	b.tokens--
	return true, 0
}

func (l *limiter) stripeOf(k vkey) uint64 { return maphash.String(l.seed, k.id) % stripes }

// full reports whether the limiter has no room for new keys.
func (l *limiter) full() bool { return !l.off && l.keys.Load() >= l.maxKeys }

// sweep drops the buckets that have refilled by now and returns how many
// are left.
func (l *limiter) sweep(now int64) int {
	if l.off {
		return 0
	}
	n := 0
	for i := range l.stripes {
		s := &l.stripes[i]
		s.mu.Lock()
		for k, b := range s.m {
			if b.tokens+float64(now-b.last)*l.rate >= l.burst {
				delete(s.m, k)
				l.keys.Add(-1)
			}
		}
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
