// Package sink delivers stored alerts to the outside: a webhook, syslog, a
// NATS JetStream subject, an MQTT topic, a Kafka topic (one package each
// under sink/). This package holds what they share: the configuration, the
// filter, one worker per sink that follows the store, retries with
// exponential back-off, the per-sink status and the metrics.
//
// Sinks follow the store, which is the source of truth: every alert is
// numbered when it is first stored (store.Alerts.AlertsAfter), and each
// sink's worker reads the alerts after its cursor in batches, applies its
// filter, delivers them in order and saves its cursor in the store's config
// table (CursorKey). The processor only wakes the workers (Set.Wake): no
// alert waits in memory, so a crash loses none.
//
// Guarantees (docs/sinks.md): at least once. The cursor is saved at most
// every second or every SetOptions.CursorEvery alerts, and at shutdown;
// after a crash the alerts handled since the last save are delivered again
// (the alert id is stable, receivers drop repeats). An alert that cannot be
// delivered (retries exhausted, refused for good) is counted
// (vigil_sink_dropped_total{sink,reason}), logged with its id and shown in
// the status, and the cursor moves past it. At shutdown a sink delivers
// what is stored until the drain deadline; the rest stays in the store for
// the next start. A sink without a saved cursor starts after the newest
// alert.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
)

// Message is one alert to deliver, with its JSON (alert.AppendJSON).
type Message struct {
	Alert *alert.Alert
	JSON  []byte
}

// Target delivers to one destination. The sink's worker calls Send for one
// message at a time; ctx bounds the attempt. Send returns an error wrapped
// by Permanent when trying again cannot help, or by RetryAfter when the
// destination said when to come back.
type Target interface {
	Send(ctx context.Context, m *Message) error
	Close() error
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one no retry can fix (the destination refused
// the alert).
func Permanent(err error) error { return &permanentError{err} }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// RetryAfterError carries the wait a destination asked for.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// Drop reasons: the label values of vigil_sink_dropped_total. An alert
// not yet delivered at shutdown is not dropped: it stays in the store.
const (
	DropRetries  = "retries_exhausted" // every attempt failed
	DropRejected = "rejected"          // the destination refused it for good
)

// Options configure a sink.
type Options struct {
	Config Config // validated
	Target Target
	Logger *slog.Logger
	// Wait sleeps between attempts; nil waits on a timer. Tests pass one
	// that records the waits instead of asserting on the clock.
	Wait func(ctx context.Context, d time.Duration) error
}

// Sink filters the stored alerts and delivers them from one worker, in
// sequence order, with retries. A Set runs it.
type Sink struct {
	cfg    Config
	target Target
	log    *slog.Logger
	wait   func(ctx context.Context, d time.Duration) error
	wake   chan struct{}
	latest *atomic.Int64 // the set's newest alert number; nil outside a set

	mu sync.Mutex
	st counters
}

type counters struct {
	delivered, failed, filtered int64
	dropped                     map[string]int64
	started                     bool  // the cursor is known
	cursor                      int64 // the last alert handled
	lastError                   string
	lastErrorAt, lastDelivered  time.Time
	latency                     latency
	logWindow                   time.Time // drop log rate limit
	logged                      int
	unlogged                    int64
}

// New builds a sink; a Set runs it.
func New(o Options) *Sink {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Wait == nil {
		o.Wait = sleep
	}
	return &Sink{cfg: o.Config, target: o.Target, log: o.Logger.With("sink", o.Config.Name), wait: o.Wait,
		wake: make(chan struct{}, 1), st: counters{dropped: map[string]int64{}}}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Name is the sink's name.
func (s *Sink) Name() string { return s.cfg.Name }

// dropLogsPerSecond bounds the log lines of drops, so a destination that
// is down under a high alert rate does not flood the log; the lines left
// out are counted in the next one (and every drop is in the counters).
const dropLogsPerSecond = 10

func (s *Sink) drop(m *Message, reason string, err error) {
	now := time.Now()
	s.mu.Lock()
	s.st.dropped[reason]++
	s.st.lastError, s.st.lastErrorAt = fmt.Sprintf("alert %s dropped (%s): %v", m.Alert.ID, reason, err), now
	if now.Sub(s.st.logWindow) >= time.Second {
		s.st.logWindow, s.st.logged = now, 0
	}
	log := s.st.logged < dropLogsPerSecond
	var unlogged int64
	if log {
		s.st.logged++
		unlogged, s.st.unlogged = s.st.unlogged, 0
	} else {
		s.st.unlogged++
	}
	s.mu.Unlock()
	if log {
		s.log.Error("alert not delivered", "alert", m.Alert.ID, "tenant", m.Alert.Tenant, "reason", reason, "err", err,
			"dropped_unlogged_before", unlogged)
	}
}

// deliver tries one message until it is delivered, refused for good or out
// of retries, and reports true: the cursor may move past it. It reports
// false when drain ended first (the shutdown deadline): the alert is
// neither delivered nor dropped, and stays in the store for the next
// start. A delivery under way when shutdown begins may still finish.
func (s *Sink) deliver(drain context.Context, m *Message) bool {
	backoff := s.cfg.Backoff
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(drain, s.cfg.Timeout)
		start := time.Now()
		err := s.target.Send(actx, m)
		cancel()
		if err == nil {
			s.mu.Lock()
			s.st.delivered++
			s.st.lastDelivered = time.Now()
			s.st.latency.observe(time.Since(start))
			s.mu.Unlock()
			return true
		}
		if drain.Err() != nil && !IsPermanent(err) {
			return false // cut off by the deadline: not the destination's answer
		}
		s.mu.Lock()
		s.st.failed++
		s.st.lastError, s.st.lastErrorAt = err.Error(), time.Now()
		s.mu.Unlock()
		switch {
		case IsPermanent(err):
			s.drop(m, DropRejected, err)
			return true
		case attempt >= *s.cfg.Retries:
			s.drop(m, DropRetries, fmt.Errorf("%d attempts failed, the last: %w", attempt+1, err))
			return true
		}
		wait := backoff
		var ra *RetryAfterError
		if errors.As(err, &ra) && ra.After > 0 {
			wait = ra.After // the destination knows best, within max_backoff
		}
		wait = min(wait, s.cfg.MaxBackoff)
		backoff = min(backoff*2, s.cfg.MaxBackoff)
		s.log.Warn("delivery failed; retrying", "alert", m.Alert.ID, "attempt", attempt+1, "in", wait, "err", err)
		if s.wait(drain, wait) != nil {
			return false
		}
	}
}

// storeError records a failed read or write of the store in the status.
func (s *Sink) storeError(err error) {
	s.mu.Lock()
	s.st.lastError, s.st.lastErrorAt = err.Error(), time.Now()
	s.mu.Unlock()
}

// Status is a sink's configuration (secrets redacted), its position in the
// store and its counters since the process started.
type Status struct {
	Name          string
	Type          string
	Target        string
	Filter        Filter
	Delivered     int64
	Failed        int64 // failed attempts (a retried alert counts each)
	Filtered      int64 // alerts the filter did not admit
	Dropped       map[string]int64
	Cursor        int64 // number of the last alert handled: delivered, dropped or filtered
	Lag           int64 // alerts stored after the cursor (the newest number − Cursor)
	LastError     string
	LastErrorAt   time.Time
	LastDelivered time.Time
	Latency       latency
}

// Status returns the sink's status now.
func (s *Sink) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Name: s.cfg.Name, Type: s.cfg.Type, Target: s.cfg.Target(), Filter: s.cfg.Filter,
		Delivered: s.st.delivered, Failed: s.st.failed, Filtered: s.st.filtered, Dropped: map[string]int64{},
		Cursor: s.st.cursor, LastError: s.st.lastError, LastErrorAt: s.st.lastErrorAt,
		LastDelivered: s.st.lastDelivered, Latency: s.st.latency}
	if s.st.started && s.latest != nil {
		st.Lag = max(0, s.latest.Load()-s.st.cursor)
	}
	for k, v := range s.st.dropped {
		st.Dropped[k] = v
	}
	return st
}

// Close releases the sink's target (for a set that never ran: Run closes
// its targets itself).
func (s *Sink) Close() error { return s.target.Close() }

// latency is a histogram of successful delivery times, for the metrics.
type latency struct {
	counts [len(latencyBuckets) + 1]uint64
	sum    float64
	n      uint64
}

var latencyBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func (l *latency) observe(d time.Duration) {
	v := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && v > latencyBuckets[i] {
		i++
	}
	l.counts[i]++
	l.sum += v
	l.n++
}
