package auth

import (
	"fmt"
	"testing"
	"time"
)

// TestLockoutTimeline follows one name through failures on an injected
// clock: four free failures, then locks of 1, 2, 4, 8 and 15 (capped)
// minutes, each starting at the failure that caused it.
func TestLockoutTimeline(t *testing.T) {
	l := NewLockout(LockoutConfig{After: 5, Base: time.Minute, Max: 15 * time.Minute, Forget: 24 * time.Hour, MaxNames: 100})
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := 1; i <= 4; i++ {
		if lock, n := l.Fail("ana", now); lock != 0 || n != i {
			t.Fatalf("failure %d: lock %v, count %d", i, lock, n)
		}
		if w := l.Locked("ana", now); w != 0 {
			t.Fatalf("locked after %d failures", i)
		}
		now = now.Add(time.Second)
	}
	for i, want := range []time.Duration{1, 2, 4, 8, 15, 15} {
		lock, n := l.Fail("ana", now)
		if lock != want*time.Minute || n != 5+i {
			t.Fatalf("failure %d: lock %v, want %v", 5+i, lock, want*time.Minute)
		}
		if w := l.Locked("ana", now.Add(time.Second)); w != lock-time.Second {
			t.Errorf("a second later: %v left, want %v", w, lock-time.Second)
		}
		if w := l.Locked("other", now); w != 0 {
			t.Error("another name is locked too")
		}
		now = now.Add(lock) // the lock ends exactly now
		if w := l.Locked("ana", now); w != 0 {
			t.Errorf("at the end of the lock: %v left", w)
		}
	}
	l.Succeed("ana")
	if lock, n := l.Fail("ana", now); lock != 0 || n != 1 {
		t.Errorf("after a success: lock %v, count %d, want a fresh count", lock, n)
	}
	// A day without failures forgets them.
	for range 3 {
		l.Fail("bo", now)
	}
	now = now.Add(24 * time.Hour)
	if _, n := l.Fail("bo", now); n != 1 {
		t.Errorf("a day later: count %d, want 1", n)
	}
}

// TestLockoutBounded: a flood of names keeps the table at its bound, and a
// locked name outlives names that are not locked.
func TestLockoutBounded(t *testing.T) {
	l := NewLockout(LockoutConfig{After: 2, Base: time.Hour, Max: time.Hour, Forget: 24 * time.Hour, MaxNames: 10})
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	l.Fail("victim", now)
	if lock, _ := l.Fail("victim", now); lock != time.Hour {
		t.Fatalf("victim lock %v", lock)
	}
	for i := range 1000 {
		l.Fail(fmt.Sprint("flood", i), now.Add(time.Duration(i)*time.Millisecond))
		if n := l.Len(); n > 10 {
			t.Fatalf("%d names kept, bound 10", n)
		}
	}
	if w := l.Locked("victim", now.Add(time.Minute)); w != 59*time.Minute {
		t.Errorf("after the flood the victim's lock has %v left, want 59m", w)
	}
}
