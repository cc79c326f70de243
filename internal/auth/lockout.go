package auth

import (
	"sync"
	"time"
)

// LockoutConfig is how a user name is locked after failed sign-ins.
type LockoutConfig struct {
	// After this many consecutive failures the name is locked for Base,
	// and each further failure doubles the lock, up to Max.
	After int
	Base  time.Duration
	Max   time.Duration
	// Forget drops a name's count this long after its last failure.
	Forget time.Duration
	// MaxNames bounds the names tracked; beyond it the stalest go first.
	// Names with a check in flight are never dropped, so the table may
	// exceed it by the number of requests running at once.
	MaxNames int
}

// Lockout counts consecutive failed sign-ins per user name, for names that
// exist and names that do not alike: locking only real users would tell an
// attacker which names are real.
//
// A password check is reserved with Begin before the (slow) hash and ends
// with the Attempt's Fail, Succeed or Release. Checks in flight count
// toward the threshold, so parallel guesses cannot all be checked before
// the first of them fails.
type Lockout struct {
	cfg   LockoutConfig
	mu    sync.Mutex
	names map[string]*lockState
}

type lockState struct {
	failures int
	last     time.Time // of the last failure
	until    time.Time // locked before this
	inflight int       // checks begun and not yet ended
}

// NewLockout returns an empty lock-out table.
func NewLockout(cfg LockoutConfig) *Lockout {
	return &Lockout{cfg: cfg, names: map[string]*lockState{}}
}

// Attempt is one password check of a name reserved by Begin. End it with
// exactly one of Fail or Succeed when the password was checked; Release
// (safe to defer, a no-op after Fail or Succeed) ends it without a verdict.
// An Attempt is not for concurrent use.
type Attempt struct {
	l    *Lockout
	name string
	done bool
}

// Begin reserves a password check of name at now. It refuses (nil and how
// long to wait) while the name is locked, and while the checks in flight
// could, if they all failed, lock it: then the wait is the lock they would
// cause. A refused attempt does not count as a failure.
func (l *Lockout) Begin(name string, now time.Time) (*Attempt, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.names[name]
	if s != nil {
		l.forgetStale(s, now)
		if now.Before(s.until) {
			return nil, s.until.Sub(now)
		}
		// Below the threshold as many checks run as failures are left;
		// past it (a lock that ended) one at a time, as one failure
		// locks again.
		if s.inflight >= max(l.cfg.After-s.failures, 1) {
			return nil, l.lockFor(s.failures + s.inflight)
		}
	} else {
		l.makeRoom(now)
		s = &lockState{}
		l.names[name] = s
	}
	s.inflight++
	return &Attempt{l: l, name: name}, 0
}

// Fail records that the password was wrong and returns, when this failure
// locks the name, for how long (0 otherwise) and the number of
// consecutive failures.
func (a *Attempt) Fail(now time.Time) (lock time.Duration, failures int) {
	if a.done {
		panic("auth: Attempt ended twice")
	}
	a.done = true
	l := a.l
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.end(a.name)
	l.forgetStale(s, now)
	s.failures++
	s.last = now
	if s.failures < l.cfg.After {
		return 0, s.failures
	}
	lock = l.lockFor(s.failures)
	s.until = now.Add(lock)
	return lock, s.failures
}

// Succeed clears the name's failures (checks still in flight keep their
// reservations).
func (a *Attempt) Succeed() {
	if a.done {
		panic("auth: Attempt ended twice")
	}
	a.done = true
	l := a.l
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.end(a.name)
	s.failures, s.last, s.until = 0, time.Time{}, time.Time{}
	l.dropIdle(a.name, s)
}

// Release ends an attempt whose password was not checked (the request
// failed or gave up first); after Fail or Succeed it does nothing.
func (a *Attempt) Release() {
	if a == nil || a.done {
		return
	}
	a.done = true
	l := a.l
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropIdle(a.name, l.end(a.name))
}

// end takes one check off name's in-flight count. The entry is there: it
// is never dropped while a check is in flight.
func (l *Lockout) end(name string) *lockState {
	s := l.names[name]
	s.inflight--
	return s
}

// dropIdle removes an entry that no longer holds anything.
func (l *Lockout) dropIdle(name string, s *lockState) {
	if s.inflight == 0 && s.failures == 0 {
		delete(l.names, name)
	}
}

// forgetStale clears a count whose last failure is Forget old: a failure
// long ago does not make the next one consecutive.
func (l *Lockout) forgetStale(s *lockState, now time.Time) {
	if s.failures > 0 && now.Sub(s.last) >= l.cfg.Forget {
		s.failures, s.until = 0, time.Time{}
	}
}

// lockFor is the lock after that many consecutive failures.
func (l *Lockout) lockFor(failures int) time.Duration {
	if failures < l.cfg.After {
		return 0
	}
	lock := l.cfg.Base
	for i := l.cfg.After; i < failures && lock < l.cfg.Max; i++ {
		lock *= 2
	}
	return min(lock, l.cfg.Max)
}

// Locked returns how long name stays locked at now (0: not locked).
func (l *Lockout) Locked(name string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.names[name]
	if s == nil || !now.Before(s.until) {
		return 0
	}
	return s.until.Sub(now)
}

// Len is the number of names tracked.
func (l *Lockout) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.names)
}

// makeRoom keeps the table within MaxNames: names forgotten or no longer
// locked go first; if every name is locked, the one whose lock ends first.
// A name with a check in flight stays: dropping it would free its
// reservations.
func (l *Lockout) makeRoom(now time.Time) {
	if len(l.names) < l.cfg.MaxNames {
		return
	}
	for n, s := range l.names {
		if s.inflight == 0 && now.Sub(s.last) >= l.cfg.Forget {
			delete(l.names, n)
		}
	}
	if len(l.names) < l.cfg.MaxNames {
		return
	}
	victim, best := "", time.Time{}
	for n, s := range l.names {
		if s.inflight == 0 && (victim == "" || s.until.Before(best)) {
			victim, best = n, s.until
		}
	}
	if victim != "" {
		delete(l.names, victim)
	}
}
