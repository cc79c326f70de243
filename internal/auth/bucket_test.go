package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	b := NewBuckets(Rate{PerSecond: 2, Burst: 3}, 100)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := b.Take("a", now); !ok {
			t.Fatalf("token %d of the burst refused", i+1)
		}
	}
	ok, wait := b.Take("a", now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("beyond the burst: ok %v wait %v, want refused for 500ms", ok, wait)
	}
	if ok, _ := b.Take("b", now); !ok {
		t.Error("another key shares the bucket")
	}
	if ok, _ := b.Take("a", now.Add(499*time.Millisecond)); ok {
		t.Error("a token before it refilled")
	}
	if ok, _ := b.Take("a", now.Add(500*time.Millisecond)); !ok {
		t.Error("no token once it refilled")
	}
	// Refill stops at the burst.
	later := now.Add(time.Hour)
	for i := range 3 {
		if ok, _ := b.Take("a", later); !ok {
			t.Fatalf("an hour later, token %d refused", i+1)
		}
	}
	if ok, _ := b.Take("a", later); ok {
		t.Error("an hour of refill gave more than the burst")
	}
	// A clock going backwards gives nothing.
	if ok, _ := b.Take("a", now); ok {
		t.Error("a token from a clock that went back")
	}
}

// TestBucketsBounded: a flood of keys keeps the table at its bound; a key
// whose bucket is empty survives floods of keys whose buckets refilled.
func TestBucketsBounded(t *testing.T) {
	b := NewBuckets(Rate{PerSecond: 1, Burst: 2}, 50)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	b.Take("hot", now)
	b.Take("hot", now)
	for i := range 10000 {
		// 100 ms apart: each flood bucket is full again a second later.
		b.Take(fmt.Sprint("k", i), now.Add(-time.Hour+time.Duration(i)*100*time.Millisecond))
		if i%100 == 0 {
			if n := b.Len(); n > 50 {
				t.Fatalf("%d buckets, bound 50", n)
			}
		}
	}
	if ok, _ := b.Take("hot", now); ok {
		t.Error("the empty bucket was dropped for full ones")
	}
}

// BenchmarkBuckets is the per-request cost of the rate limit: one key
// (every request of one credential) and many (a server's credentials).
//
//	go test ./internal/auth -run '^$' -bench Buckets
func BenchmarkBuckets(b *testing.B) {
	for _, keys := range []int{1, 1000} {
		b.Run(fmt.Sprint("keys=", keys), func(b *testing.B) {
			bk := NewBuckets(Rate{PerSecond: 1e9, Burst: 1e9}, 10000)
			names := make([]string, keys)
			for i := range names {
				names[i] = fmt.Sprint("key:", i)
			}
			now := time.Now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				bk.Take(names[i%keys], now)
				i++
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		bk := NewBuckets(Rate{PerSecond: 1e9, Burst: 1e9}, 10000)
		now := time.Now()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				bk.Take("key:shared", now)
			}
		})
	})
}
