// Package sink delivers stored alerts to the outside: a webhook, syslog, a
// NATS JetStream subject, an MQTT topic, a Kafka topic (one package each
// under sink/). This package holds what they share: the configuration, the
// filter, a bounded queue per sink with one worker, retries with
// exponential back-off, the per-sink status and the metrics.
//
// Guarantees: the processor hands a sink each alert once it is durable in
// the store. A sink delivers at least once while the process lives (a
// retried delivery may arrive twice; the alert id is stable so receivers
// can drop repeats). An alert that cannot be delivered is never lost
// silently: a full queue, exhausted retries, a permanent refusal or the
// shutdown deadline each count it (vigil_sink_dropped_total{sink,reason}),
// log its id and show in the status. The queue lives in memory: alerts
// queued when the process dies are not delivered after the restart (they
// are in the store and the API). See docs/sinks.md.
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

// Message is one alert to deliver, with its JSON (alert.AppendJSON), shared
// read-only by every sink.
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

// Drop reasons: the label values of vigil_sink_dropped_total.
const (
	DropQueueFull = "queue_full"        // the queue was full when the alert came
	DropRetries   = "retries_exhausted" // every attempt failed
	DropRejected  = "rejected"          // the destination refused it for good
	DropShutdown  = "shutdown"          // still queued when the drain deadline passed
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

// Sink filters alerts, queues them (bounded) and delivers them from one
// worker, in order, with retries.
type Sink struct {
	cfg    Config
	target Target
	log    *slog.Logger
	wait   func(ctx context.Context, d time.Duration) error
	q      chan *Message
	closed atomic.Bool // no more alerts are taken

	mu sync.Mutex // guards the pending count's pairing with q and st
	st counters
}

type counters struct {
	delivered, failed, filtered int64
	dropped                     map[string]int64
	lastError                   string
	lastErrorAt, lastDelivered  time.Time
	inFlight                    bool
	latency                     latency
	logWindow                   time.Time // drop log rate limit
	logged                      int
	unlogged                    int64
}

// New builds a sink; Set.Run runs it.
func New(o Options) *Sink {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Wait == nil {
		o.Wait = sleep
	}
	return &Sink{cfg: o.Config, target: o.Target, log: o.Logger.With("sink", o.Config.Name), wait: o.Wait,
		q: make(chan *Message, o.Config.QueueSize), st: counters{dropped: map[string]int64{}}}
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

// Offer hands the sink one alert without blocking. An alert the filter
// does not admit is counted as filtered; one that finds the queue full (or
// the sink shut down) is dropped, counted and logged.
func (s *Sink) Offer(m *Message) {
	if !s.cfg.Filter.Admits(m.Alert) {
		s.mu.Lock()
		s.st.filtered++
		s.mu.Unlock()
		return
	}
	// closed is set under mu, so once the drain has begun nothing enters
	// the queue behind its back.
	s.mu.Lock()
	closed := s.closed.Load()
	queued := false
	if !closed {
		select {
		case s.q <- m:
			queued = true
		default:
		}
	}
	s.mu.Unlock()
	switch {
	case closed:
		s.drop(m, DropShutdown, errors.New("the sink has shut down"))
	case !queued:
		s.drop(m, DropQueueFull, fmt.Errorf("the queue of %d alerts is full: the destination is down or slower than the alert rate", cap(s.q)))
	}
}

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

// run delivers until ctx ends, then until the queue is empty or drain
// ends; what is left then is dropped (counted, logged).
func (s *Sink) run(ctx, drain context.Context) {
	for {
		select {
		case m := <-s.q:
			s.deliver(drain, m)
			continue
		default:
		}
		select {
		case m := <-s.q:
			s.deliver(drain, m)
		case <-ctx.Done():
			s.drainQueue(drain)
			return
		}
	}
}

func (s *Sink) drainQueue(drain context.Context) {
	s.mu.Lock()
	s.closed.Store(true)
	s.mu.Unlock()
	for {
		select {
		case m := <-s.q:
			if drain.Err() != nil {
				s.drop(m, DropShutdown, errors.New("still queued when the shutdown deadline passed"))
				continue
			}
			s.deliver(drain, m)
		default:
			return
		}
	}
}

// deliver tries one message until it is delivered, refused for good or out
// of retries. drain ends at the shutdown deadline: attempts and waits stop
// then (a delivery under way when shutdown begins may still finish).
func (s *Sink) deliver(drain context.Context, m *Message) {
	s.mu.Lock()
	s.st.inFlight = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.st.inFlight = false
		s.mu.Unlock()
	}()
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
			return
		}
		s.mu.Lock()
		s.st.failed++
		s.st.lastError, s.st.lastErrorAt = err.Error(), time.Now()
		s.mu.Unlock()
		switch {
		case IsPermanent(err):
			s.drop(m, DropRejected, err)
			return
		case drain.Err() != nil:
			s.drop(m, DropShutdown, fmt.Errorf("the shutdown deadline passed while delivering: %w", err))
			return
		case attempt >= *s.cfg.Retries:
			s.drop(m, DropRetries, fmt.Errorf("%d attempts failed, the last: %w", attempt+1, err))
			return
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
			s.drop(m, DropShutdown, fmt.Errorf("the shutdown deadline passed while waiting to retry: %w", err))
			return
		}
	}
}

// Status is a sink's configuration (secrets redacted) and its counters
// since the process started.
type Status struct {
	Name          string
	Type          string
	Target        string
	Filter        Filter
	Delivered     int64
	Failed        int64 // failed attempts (a retried alert counts each)
	Filtered      int64 // alerts the filter did not admit
	Dropped       map[string]int64
	Queued        int // waiting, plus the one being delivered
	QueueSize     int
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
		Queued: len(s.q), QueueSize: cap(s.q), LastError: s.st.lastError, LastErrorAt: s.st.lastErrorAt,
		LastDelivered: s.st.lastDelivered, Latency: s.st.latency}
	if s.st.inFlight {
		st.Queued++
	}
	for k, v := range s.st.dropped {
		st.Dropped[k] = v
	}
	return st
}

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

// Set is every configured sink. The processor's OnAlert calls Publish;
// Run runs the workers.
type Set struct {
	sinks []*Sink
	drain time.Duration
	log   *slog.Logger
}

// NewSet gathers sinks. drain bounds the delivery of what is queued at
// shutdown (default 10s).
func NewSet(drain time.Duration, log *slog.Logger, sinks ...*Sink) *Set {
	if drain <= 0 {
		drain = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Set{sinks: sinks, drain: drain, log: log}
}

// Len is the number of sinks.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.sinks)
}

// Publish hands a stored alert to every sink (each applies its filter).
// It never blocks.
func (s *Set) Publish(a *alert.Alert) {
	if s.Len() == 0 {
		return
	}
	m := &Message{Alert: a}
	for _, k := range s.sinks {
		if k.cfg.Filter.Admits(a) && m.JSON == nil {
			m.JSON = alert.AppendJSON(make([]byte, 0, 1024), a)
		}
		k.Offer(m)
	}
}

// Run delivers until ctx ends, then drains every queue for at most the
// drain time, closes the targets and returns. Alerts published after that
// are dropped (counted).
func (s *Set) Run(ctx context.Context) error {
	if s.Len() == 0 {
		<-ctx.Done()
		return nil
	}
	drain, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		<-ctx.Done()
		t := time.NewTimer(s.drain)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-drain.Done():
		}
	}()
	var wg sync.WaitGroup
	for _, k := range s.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.run(ctx, drain)
		}()
	}
	wg.Wait()
	var errs []error
	for _, k := range s.sinks {
		if err := k.target.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: close: %w", k.cfg.Name, err))
		}
		st := k.Status()
		s.log.Info("sink stopped", "sink", k.cfg.Name, "delivered", st.Delivered, "dropped", st.Dropped)
	}
	if len(errs) > 0 {
		s.log.Warn("closing sinks", "err", errors.Join(errs...))
	}
	return nil
}

// Close releases the sink's target (for a set that never ran: Run closes
// its targets itself).
func (s *Sink) Close() error { return s.target.Close() }

// Close closes every target of a set that never ran.
func (s *Set) Close() error {
	var errs []error
	for _, k := range s.sinks {
		errs = append(errs, k.Close())
	}
	return errors.Join(errs...)
}

// Status returns every sink's status, in configuration order.
func (s *Set) Status() []Status {
	if s == nil {
		return nil
	}
	out := make([]Status, len(s.sinks))
	for i, k := range s.sinks {
		out[i] = k.Status()
	}
	return out
}
