// Package broker is what the message-broker sources (MQTT, NATS JetStream,
// Kafka) share: decoding a message in any CloudEvents binding (structured,
// batch, NDJSON, binary with attributes in headers or user properties),
// tenant checks, batching into the same durable sink HTTP ingest uses, and
// acknowledging a message to its broker only once its events are durable.
//
// A message whose events are rejected is acknowledged (it will never become
// valid) after the rejections are counted by reason and logged; a message
// that could not be stored is not acknowledged, so the broker delivers it
// again — nothing is lost and nothing is dropped silently.
package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
)

// Message is one message from a broker.
type Message struct {
	Payload []byte
	// ContentType is the message's content type (MQTT 5 property, Kafka or
	// NATS header); "" when the protocol has none.
	ContentType string
	// Attrs holds CloudEvents attributes of binary mode (Kafka ce_*, NATS
	// ce-* headers, MQTT 5 user properties), names without the prefix;
	// nil in structured mode.
	Attrs map[string]string
	// Origin names the message in errors: topic, partition, offset, ...
	Origin string
	// Ack tells the broker the message is done; called once, in the order
	// messages were submitted, after their events are durable.
	Ack func() error
}

// Options configure a Pipeline.
type Options struct {
	Source string // the source's name in logs and metrics
	Sink   httpingest.Sink
	// Tenants the source may carry events of; "*" for all. Required: a
	// broker topic is a credential like an ingest key.
	Tenants     []string
	Limits      event.Limits
	MaxEvents   int           // per message, default 10,000
	BatchEvents int           // events per durable write, default 1,000
	BatchWait   time.Duration // longest wait to fill a batch, default 20 ms
	Queue       int           // messages waiting to be decoded, default 1,024
	Logger      *slog.Logger
}

// Pipeline decodes messages and stores their events in batches.
type Pipeline struct {
	o     Options
	in    chan Message
	dec   *event.Decoder
	stats Stats
	// logged limits rejection logs to a few a second.
	logged atomic.Int64
}

// Stats count what a pipeline did.
type Stats struct {
	Messages   atomic.Int64
	Accepted   atomic.Int64
	Duplicates atomic.Int64
	Rejected   atomic.Int64
	Retries    atomic.Int64 // batches written again after a store error or overload
	AckErrors  atomic.Int64
	mu         sync.Mutex
	byReason   map[string]int64
}

// RejectedByReason returns the rejection counts by code and field.
func (s *Stats) RejectedByReason() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.byReason))
	for k, v := range s.byReason {
		out[k] = v
	}
	return out
}

// New returns a pipeline; start it with Run.
func New(o Options) (*Pipeline, error) {
	if o.Sink == nil {
		return nil, errors.New("broker: no sink")
	}
	if len(o.Tenants) == 0 {
		return nil, fmt.Errorf("source %s: tenants is empty: list the tenants whose events it may carry, or [\"*\"] for all", o.Source)
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 10_000
	}
	if o.BatchEvents <= 0 {
		o.BatchEvents = 1000
	}
	if o.BatchWait <= 0 {
		o.BatchWait = 20 * time.Millisecond
	}
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{o: o, in: make(chan Message, o.Queue), dec: event.NewDecoder(o.Limits)}
	p.stats.byReason = map[string]int64{}
	return p, nil
}

// Stats returns the pipeline's counters.
func (p *Pipeline) Stats() *Stats { return &p.stats }

// Name returns the source's name.
func (p *Pipeline) Name() string { return p.o.Source }

// Submit queues a message; it blocks while the queue is full, which holds
// the broker's delivery back (backpressure).
func (p *Pipeline) Submit(ctx context.Context, m Message) error {
	select {
	case p.in <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run decodes, stores and acknowledges until ctx ends. What was queued but
// not stored is not acknowledged: the broker delivers it again.
func (p *Pipeline) Run(ctx context.Context) error {
	var (
		batch []httpingest.Accepted
		msgs  []Message // decoded, waiting for their batch to be stored
		timer = time.NewTimer(time.Hour)
	)
	timer.Stop()
	flush := func() error {
		if len(msgs) == 0 {
			return nil
		}
		if err := p.store(ctx, batch); err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Ack == nil {
				continue
			}
			if err := m.Ack(); err != nil {
				// The broker will deliver it again; the store drops the
				// duplicates by (tenant, source, id).
				p.stats.AckErrors.Add(1)
				p.o.Logger.Warn("acknowledging a message failed: the broker will deliver it again", "source", p.o.Source, "message", m.Origin, "err", err)
			}
		}
		batch, msgs = batch[:0], msgs[:0]
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-p.in:
			if len(msgs) == 0 {
				timer.Reset(p.o.BatchWait)
			}
			batch = p.decode(batch, m)
			msgs = append(msgs, m)
			if len(batch) >= p.o.BatchEvents {
				timer.Stop()
				if err := flush(); err != nil {
					return err
				}
			}
		case <-timer.C:
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// store writes the batch, retrying with back-off while the store refuses or
// detection is behind: messages are never acknowledged before this succeeds.
func (p *Pipeline) store(ctx context.Context, batch []httpingest.Accepted) error {
	if len(batch) == 0 {
		return nil
	}
	wait := 50 * time.Millisecond
	for {
		dups, err := p.o.Sink.Accept(ctx, batch)
		if err == nil {
			for _, d := range dups {
				if d {
					p.stats.Duplicates.Add(1)
				} else {
					p.stats.Accepted.Add(1)
				}
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.stats.Retries.Add(1)
		if !errors.Is(err, httpingest.ErrOverloaded) {
			p.o.Logger.Warn("storing events failed: retrying; the messages stay unacknowledged", "source", p.o.Source, "events", len(batch), "err", err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// decode appends m's accepted events to batch and counts its rejections.
func (p *Pipeline) decode(batch []httpingest.Accepted, m Message) []httpingest.Accepted {
	p.stats.Messages.Add(1)
	payload := m.Payload
	if m.Attrs != nil {
		payload = Envelope(m.Attrs, m.ContentType, payload)
	}
	body := bytes.TrimSpace(payload)
	if len(body) > 0 && body[0] == '{' && (m.ContentType == "application/cloudevents+json" || !bytes.Contains(body, []byte("\n{"))) {
		// One event: decode it in place, without a stream reader.
		ev, id, err := p.dec.DecodeID(body)
		if err != nil {
			var fe *event.FieldError
			if !errors.As(err, &fe) {
				fe = &event.FieldError{Code: event.CodeSyntax, Reason: err.Error()}
			}
			p.reject(m, &event.RejectError{ID: id, FieldError: fe})
			return batch
		}
		return p.accept(batch, m, ev, body)
	}
	rd, err := event.NewBytesReader(payload, p.dec)
	if err != nil {
		p.reject(m, &event.RejectError{FieldError: &event.FieldError{Code: event.CodeSyntax, Reason: err.Error()}})
		return batch
	}
	for {
		f, err := rd.NextFrame()
		if errors.Is(err, io.EOF) {
			return batch
		}
		if err != nil {
			p.reject(m, &event.RejectError{Index: rd.Index(), FieldError: &event.FieldError{Code: event.CodeSyntax,
				Reason: "the rest of the message cannot be read: " + err.Error()}})
			return batch
		}
		if f.Index >= p.o.MaxEvents {
			p.reject(m, &event.RejectError{Index: f.Index, FieldError: &event.FieldError{Code: event.CodeTooLarge,
				Reason: fmt.Sprintf("more than %d events in one message: the rest is not read", p.o.MaxEvents)}})
			return batch
		}
		ev, err := f.Decode(p.dec)
		if err != nil {
			var re *event.RejectError
			errors.As(err, &re)
			p.reject(m, re)
			continue
		}
		batch = p.accept(batch, m, ev, f.Raw)
	}
}

func (p *Pipeline) accept(batch []httpingest.Accepted, m Message, ev *event.Event, raw []byte) []httpingest.Accepted {
	if !p.allowed(ev.Tenant) {
		p.reject(m, &event.RejectError{ID: ev.ID, FieldError: &event.FieldError{Field: "tenant", Code: event.CodeInvalid,
			Reason: fmt.Sprintf("source %s may not carry events of tenant %q", p.o.Source, ev.Tenant)}})
		return batch
	}
	// The message's buffer belongs to the broker client: keep a copy.
	return append(batch, httpingest.Accepted{Event: ev, Raw: bytes.Clone(raw)})
}

func (p *Pipeline) allowed(tenant string) bool {
	return slices.Contains(p.o.Tenants, "*") || slices.Contains(p.o.Tenants, tenant)
}

func (p *Pipeline) reject(m Message, re *event.RejectError) {
	p.stats.Rejected.Add(1)
	p.stats.mu.Lock()
	p.stats.byReason[re.ReasonKey()]++
	p.stats.mu.Unlock()
	// At most ~10 lines a second: a flood of bad messages must not flood
	// the log; the counters hold the full count.
	now := time.Now().UnixNano()
	if last := p.logged.Load(); now-last > int64(100*time.Millisecond) && p.logged.CompareAndSwap(last, now) {
		p.o.Logger.Warn("event rejected", "source", p.o.Source, "message", m.Origin, "err", re.Error())
	}
}

// Envelope builds a structured-mode event from binary mode: attrs become
// attributes, payload the data. The decoder then validates it like any
// other event.
func Envelope(attrs map[string]string, contentType string, payload []byte) []byte {
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		if k != "data" {
			names = append(names, k)
		}
	}
	slices.Sort(names) // deterministic bytes in the archive
	out := []byte{'{'}
	for _, k := range names {
		out = event.AppendString(out, strings.ToLower(k))
		out = append(out, ':')
		out = event.AppendString(out, attrs[k])
		out = append(out, ',')
	}
	if _, ok := attrs["datacontenttype"]; !ok && contentType != "" {
		out = append(out, `"datacontenttype":`...)
		out = event.AppendString(out, contentType)
		out = append(out, ',')
	}
	out = append(out, `"data":`...)
	data := bytes.TrimSpace(payload)
	if len(data) == 0 {
		data = []byte("null")
	}
	out = append(out, data...)
	return append(out, '}')
}
