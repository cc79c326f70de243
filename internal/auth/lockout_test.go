package auth

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fail is one whole failed check of name: begun, then failed.
func fail(t *testing.T, l *Lockout, name string, now time.Time) (time.Duration, int) {
	t.Helper()
	a, wait := l.Begin(name, now)
	if a == nil {
		t.Fatalf("%s refused for %v at %v", name, wait, now)
	}
	return a.Fail(now)
}

// TestLockoutTimeline follows one name through failures on an injected
// clock: four free failures, then locks of 1, 2, 4, 8 and 15 (capped)
// minutes, each starting at the failure that caused it.
func TestLockoutTimeline(t *testing.T) {
	l := NewLockout(LockoutConfig{After: 5, Base: time.Minute, Max: 15 * time.Minute, Forget: 24 * time.Hour, MaxNames: 100})
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := 1; i <= 4; i++ {
		if lock, n := fail(t, l, "ana", now); lock != 0 || n != i {
			t.Fatalf("failure %d: lock %v, count %d", i, lock, n)
		}
		if w := l.Locked("ana", now); w != 0 {
			t.Fatalf("locked after %d failures", i)
		}
		now = now.Add(time.Second)
	}
	for i, want := range []time.Duration{1, 2, 4, 8, 15, 15} {
		lock, n := fail(t, l, "ana", now)
		if lock != want*time.Minute || n != 5+i {
			t.Fatalf("failure %d: lock %v, want %v", 5+i, lock, want*time.Minute)
		}
		if a, w := l.Begin("ana", now.Add(time.Second)); a != nil || w != lock-time.Second {
			t.Errorf("a second later: %v left, want %v", w, lock-time.Second)
		}
		if a, _ := l.Begin("other", now); a == nil {
			t.Error("another name is locked too")
		} else {
			a.Release()
		}
		now = now.Add(lock) // the lock ends exactly now
		if w := l.Locked("ana", now); w != 0 {
			t.Errorf("at the end of the lock: %v left", w)
		}
	}
	a, _ := l.Begin("ana", now)
	a.Succeed()
	if lock, n := fail(t, l, "ana", now); lock != 0 || n != 1 {
		t.Errorf("after a success: lock %v, count %d, want a fresh count", lock, n)
	}
	// A day without failures forgets them.
	for range 3 {
		fail(t, l, "bo", now)
	}
	now = now.Add(24 * time.Hour)
	if _, n := fail(t, l, "bo", now); n != 1 {
		t.Errorf("a day later: count %d, want 1", n)
	}
}

// TestLockoutInFlight: checks in flight count toward the threshold, so no
// more run than failures are left before the lock; past a lock, one at a
// time. Release gives a reservation back without counting a failure.
func TestLockoutInFlight(t *testing.T) {
	l := NewLockout(LockoutConfig{After: 5, Base: time.Minute, Max: 15 * time.Minute, Forget: 24 * time.Hour, MaxNames: 100})
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	fail(t, l, "ana", now)
	fail(t, l, "ana", now)
	var held []*Attempt
	for range 3 {
		a, w := l.Begin("ana", now)
		if a == nil {
			t.Fatalf("refused for %v with %d in flight", w, len(held))
		}
		held = append(held, a)
	}
	// 2 failures and 3 in flight: a fourth could not lock sooner than they.
	if a, w := l.Begin("ana", now); a != nil || w != time.Minute {
		t.Fatalf("a sixth check at once: %v, wait %v, want refused for 1m", a != nil, w)
	}
	held[0].Release()
	held[0].Release() // twice is harmless
	if w := l.Locked("ana", now); w != 0 {
		t.Fatal("a release counted as a failure")
	}
	a, _ := l.Begin("ana", now)
	if a == nil {
		t.Fatal("a released reservation was not given back")
	}
	held[0] = a
	// A success clears the count; the others keep their reservations.
	held[1].Succeed()
	held[1].Release() // a no-op after a verdict
	for range 3 {
		a, _ := l.Begin("ana", now)
		if a == nil {
			t.Fatal("refused after a success with 2 in flight")
		}
		held = append(held, a)
	}
	if a, _ := l.Begin("ana", now); a != nil {
		t.Fatal("a sixth check in flight")
	}
	for _, a := range append(held[:1], held[2:]...) {
		a.Fail(now)
	}
	if w := l.Locked("ana", now); w != time.Minute {
		t.Fatalf("after five failures in flight: locked %v, want 1m", w)
	}
	// The lock ended: one check at a time, as its failure locks again.
	now = now.Add(time.Minute)
	one, _ := l.Begin("ana", now)
	if one == nil {
		t.Fatal("refused after the lock ended")
	}
	if a, w := l.Begin("ana", now); a != nil || w != 2*time.Minute {
		t.Fatalf("a second check past the threshold: %v, wait %v, want refused for 2m", a != nil, w)
	}
	one.Release()
	if l.Len() != 1 {
		t.Errorf("%d names kept, want 1", l.Len())
	}
	a, _ = l.Begin("ana", now)
	a.Succeed()
	if l.Len() != 0 {
		t.Errorf("%d names kept after a success with nothing in flight, want 0", l.Len())
	}
}

// TestLockoutParallel: however many checks of one name race, at most
// After of them are let through before the name locks.
func TestLockoutParallel(t *testing.T) {
	l := NewLockout(LockoutConfig{After: 5, Base: time.Minute, Max: 15 * time.Minute, Forget: 24 * time.Hour, MaxNames: 100})
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var checked atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 200 {
		wg.Go(func() {
			<-start
			a, _ := l.Begin("ana", now)
			if a == nil {
				return
			}
			defer a.Release()
			checked.Add(1)
			a.Fail(now)
		})
	}
	close(start)
	wg.Wait()
	if n := checked.Load(); n != 5 {
		t.Errorf("%d checks ran, want 5", n)
	}
}

// TestLockoutBounded: a flood of names keeps the table at its bound, a
// locked name outlives names that are not locked, and a name with a check
// in flight is never dropped.
func TestLockoutBounded(t *testing.T) {
	l := NewLockout(LockoutConfig{After: 2, Base: time.Hour, Max: time.Hour, Forget: 24 * time.Hour, MaxNames: 10})
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	fail(t, l, "victim", now)
	if lock, _ := fail(t, l, "victim", now); lock != time.Hour {
		t.Fatalf("victim lock %v", lock)
	}
	busy, _ := l.Begin("busy", now)
	for i := range 1000 {
		fail(t, l, fmt.Sprint("flood", i), now.Add(time.Duration(i)*time.Millisecond))
		if n := l.Len(); n > 10 {
			t.Fatalf("%d names kept, bound 10", n)
		}
	}
	if w := l.Locked("victim", now.Add(time.Minute)); w != 59*time.Minute {
		t.Errorf("after the flood the victim's lock has %v left, want 59m", w)
	}
	if a, _ := l.Begin("busy", now); a == nil {
		t.Error("busy refused: its reservation was lost")
	} else {
		a.Release()
	}
	busy.Fail(now) // its entry is still there
	if a, _ := l.Begin("busy", now); a == nil {
		t.Fatal("one failure of two locked busy")
	} else if lock, _ := a.Fail(now); lock != time.Hour {
		t.Errorf("busy's second failure: lock %v, want 1h: its first was forgotten", lock)
	}
}
