package auth

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Rate is a token bucket's refill rate and size.
type Rate struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

func (r Rate) validate(what string) error {
	if r.PerSecond <= 0 || math.IsInf(r.PerSecond, 0) || math.IsNaN(r.PerSecond) || r.PerSecond > 1e9 {
		return fmt.Errorf("%s.per_second %v: want more than 0 and at most 1e9", what, r.PerSecond)
	}
	if r.Burst < 1 || r.Burst > 1e9 {
		return fmt.Errorf("%s.burst %d: want 1 to 1e9", what, r.Burst)
	}
	return nil
}

// Buckets are token buckets by key (a client address, a credential), at
// most a fixed number of them: a bucket that has refilled is the same as a new one and
// is dropped first when room is needed.
type Buckets struct {
	rate Rate
	max  int
	mu   sync.Mutex
	m    map[string]*bucket
}

type bucket struct {
	tokens float64
	at     int64 // Unix ns of the last refill
}

// NewBuckets returns buckets of rate r, at most size keys.
func NewBuckets(r Rate, size int) *Buckets {
	return &Buckets{rate: r, max: max(size, 1), m: map[string]*bucket{}}
}

// Take takes one token from key's bucket at now. When there is none it
// returns false and how long until there is one.
func (b *Buckets) Take(key string, now time.Time) (bool, time.Duration) {
	t := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.m[key]
	if k == nil {
		b.makeRoom(t)
		k = &bucket{tokens: float64(b.rate.Burst), at: t}
		b.m[key] = k
	} else {
		b.refill(k, t)
	}
	if k.tokens >= 1 {
		k.tokens--
		return true, 0
	}
	wait := time.Duration((1 - k.tokens) / b.rate.PerSecond * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

func (b *Buckets) refill(k *bucket, t int64) {
	if t > k.at {
		k.tokens = min(float64(b.rate.Burst), k.tokens+float64(t-k.at)/float64(time.Second)*b.rate.PerSecond)
		k.at = t
	}
}

// Len is the number of buckets kept.
func (b *Buckets) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// makeRoom drops full buckets when the table is at its bound, and if none
// is full, an arbitrary one (its key starts again with a full bucket: the
// bound on memory wins over exactness under a flood of new keys).
func (b *Buckets) makeRoom(t int64) {
	if len(b.m) < b.max {
		return
	}
	for key, k := range b.m {
		b.refill(k, t)
		if k.tokens >= float64(b.rate.Burst) {
			delete(b.m, key)
		}
	}
	for key := range b.m {
		if len(b.m) < b.max {
			break
		}
		delete(b.m, key)
	}
}
