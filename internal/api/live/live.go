// Package live fans new alerts out to the API's live streams
// (GET /v1/alerts/stream). The processor publishes every alert it stores
// for the first time; each subscriber gets the ones its filter admits
// through a bounded buffer of its own.
//
// Publishing never blocks: detection must not wait for a browser. A
// subscriber that falls a whole buffer behind is dropped (its channel is
// closed with Overflowed set) and has to catch up from the store; the
// number of subscribers is bounded too.
package live

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

// Options configure a Broadcaster. Zero values take the defaults.
type Options struct {
	// Buffer is how many alerts a subscriber may fall behind before it is
	// dropped. Default 1,024.
	Buffer int
	// MaxSubscribers bounds the open streams. Default 100.
	MaxSubscribers int
	// Heartbeat is how often an idle stream sends a comment, so proxies
	// keep it open and clients notice a dead connection. Default 15 s.
	Heartbeat time.Duration
	// Now stamps the created and updated times of a published alert that
	// lacks them. Default time.Now.
	Now func() time.Time
}

// Errors of Subscribe.
var (
	ErrTooMany = errors.New("live: too many subscribers")
	ErrClosed  = errors.New("live: the broadcaster is closed")
)

// Filter selects the alerts a subscriber receives. Zero fields other than
// Scope do not filter; the zero Scope admits nothing.
type Filter struct {
	Scope       store.Scope
	Category    alert.Category
	MinSeverity event.Severity
}

// Match reports whether the filter admits a.
func (f Filter) Match(a *store.Alert) bool {
	return f.Scope.Allows(a.Tenant) &&
		(f.Category == alert.CategoryUnset || a.Category == f.Category) &&
		(f.MinSeverity == event.SeverityUnset || a.Severity >= f.MinSeverity)
}

// Broadcaster fans published alerts out to subscribers. It is safe for
// concurrent use.
type Broadcaster struct {
	o      Options
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

// New returns a broadcaster.
func New(o Options) *Broadcaster {
	if o.Buffer <= 0 {
		o.Buffer = 1024
	}
	if o.MaxSubscribers <= 0 {
		o.MaxSubscribers = 100
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Broadcaster{o: o, subs: map[*Subscription]struct{}{}}
}

// Heartbeat is how often an idle stream should send a comment.
func (b *Broadcaster) Heartbeat() time.Duration { return b.o.Heartbeat }

// Subscription is one subscriber's feed.
type Subscription struct {
	b          *Broadcaster
	f          Filter
	ch         chan store.Alert
	overflowed atomic.Bool
}

// Alerts delivers the subscriber's alerts. It is closed when the
// subscriber overflows (see Overflowed), when the broadcaster closes, or
// after Close.
func (s *Subscription) Alerts() <-chan store.Alert { return s.ch }

// Overflowed reports whether the subscription was dropped because it fell
// a whole buffer behind: alerts were lost and the subscriber must catch up
// from the store.
func (s *Subscription) Overflowed() bool { return s.overflowed.Load() }

// Close ends the subscription and frees its place. It may be called more
// than once.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.drop(s)
}

// drop removes s and closes its channel; b.mu is held.
func (b *Broadcaster) drop(s *Subscription) {
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

// Subscribe adds a subscriber. It fails with ErrTooMany beyond
// MaxSubscribers and with ErrClosed once the broadcaster is closed.
func (b *Broadcaster) Subscribe(f Filter) (*Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if len(b.subs) >= b.o.MaxSubscribers {
		return nil, ErrTooMany
	}
	s := &Subscription{b: b, f: f, ch: make(chan store.Alert, b.o.Buffer)}
	b.subs[s] = struct{}{}
	return s, nil
}

// Len is the number of subscribers.
func (b *Broadcaster) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Publish hands a newly stored alert to every subscriber whose filter
// admits it, without blocking: a subscriber whose buffer is full is
// dropped. An alert without analyst state gets what the store gave it:
// status new, created and updated now.
func (b *Broadcaster) Publish(a store.Alert) {
	if a.Status == store.StatusUnset {
		a.Status = store.StatusNew
	}
	if a.Created == 0 {
		a.Created = b.o.Now().UnixNano()
	}
	if a.Updated == 0 {
		a.Updated = a.Created
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if !s.f.Match(&a) {
			continue
		}
		select {
		case s.ch <- a:
		default:
			s.overflowed.Store(true)
			b.drop(s)
		}
	}
}

// Close ends every subscription (their channels close, not overflowed)
// and refuses new ones: the server calls it when it shuts down, so open
// streams end instead of holding the shutdown up.
func (b *Broadcaster) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		b.drop(s)
	}
}
