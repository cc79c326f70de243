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
	MaxNames int
}

// Lockout counts consecutive failed sign-ins per user name, for names that
// exist and names that do not alike: locking only real users would tell an
// attacker which names are real.
type Lockout struct {
	cfg   LockoutConfig
	mu    sync.Mutex
	names map[string]*lockState
}

type lockState struct {
	failures int
	last     time.Time // of the last failure
	until    time.Time // locked before this
}

// NewLockout returns an empty lock-out table.
func NewLockout(cfg LockoutConfig) *Lockout {
	return &Lockout{cfg: cfg, names: map[string]*lockState{}}
}

// Locked returns how long name stays locked at now (0: not locked). An
// attempt while locked is refused before the password is checked and does
// not count as a failure.
func (l *Lockout) Locked(name string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.names[name]
	if s == nil || !now.Before(s.until) {
		return 0
	}
	return s.until.Sub(now)
}

// Fail records a failed attempt and returns, when this failure locks the
// name, for how long (0 otherwise) and the number of consecutive failures.
func (l *Lockout) Fail(name string, now time.Time) (lock time.Duration, failures int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.names[name]
	if s != nil && now.Sub(s.last) >= l.cfg.Forget {
		s = nil // a failure long ago does not make this one consecutive
	}
	if s == nil {
		l.makeRoom(now)
		s = &lockState{}
		l.names[name] = s
	}
	s.failures++
	s.last = now
	if s.failures < l.cfg.After {
		return 0, s.failures
	}
	lock = l.cfg.Base
	for i := l.cfg.After; i < s.failures && lock < l.cfg.Max; i++ {
		lock *= 2
	}
	lock = min(lock, l.cfg.Max)
	s.until = now.Add(lock)
	return lock, s.failures
}

// Succeed clears name's failures.
func (l *Lockout) Succeed(name string) {
	l.mu.Lock()
	delete(l.names, name)
	l.mu.Unlock()
}

// Len is the number of names tracked.
func (l *Lockout) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.names)
}

// makeRoom keeps the table within MaxNames: names forgotten or no longer
// locked go first; if every name is locked, the one whose lock ends first.
func (l *Lockout) makeRoom(now time.Time) {
	if len(l.names) < l.cfg.MaxNames {
		return
	}
	for n, s := range l.names {
		if now.Sub(s.last) >= l.cfg.Forget {
			delete(l.names, n)
		}
	}
	if len(l.names) < l.cfg.MaxNames {
		return
	}
	victim, best := "", time.Time{}
	for n, s := range l.names {
		if victim == "" || s.until.Before(best) {
			victim, best = n, s.until
		}
	}
	delete(l.names, victim)
}
