// Package httpingest is the HTTP source: POST /v1/events with the
// CloudEvents HTTP binding (structured, batch and binary modes) or NDJSON,
// gzip-encoded or not. It decodes and validates every event, hands the
// accepted ones to a Sink that makes them durable, and answers only then,
// listing what was accepted, what was a duplicate and what was rejected why.
package httpingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/event"
)

// Accepted is an event that passed validation, with its bytes as received.
type Accepted struct {
	Event *event.Event
	Raw   []byte
}

// Sink makes accepted events durable and queues them for detection.
type Sink interface {
	// Accept returns, for each event, whether it was a duplicate of one
	// already stored. It returns only once the new ones are durable.
	// ErrOverloaded makes the handler answer 429.
	Accept(ctx context.Context, batch []Accepted) (duplicate []bool, err error)
}

// ErrOverloaded tells the handler to ask the client to retry later.
var ErrOverloaded = errors.New("overloaded")

// Options configure a Handler. Zero fields take the defaults.
type Options struct {
	MaxBodyBytes    int64 // as sent (compressed or not), default 16 MiB
	MaxDecodedBytes int64 // after gunzip, default 64 MiB
	MaxEvents       int   // per request, default 10,000
	MaxInFlight     int   // requests decoding or storing at once, default 16 per CPU
	// MaxInFlightBytes bounds the request bodies held at once (after
	// decompression): the handler's memory. Default 4 × MaxDecodedBytes.
	MaxInFlightBytes int64
	MaxErrors        int // rejections listed in a response, default 100
	Limits           event.Limits
	Sink             Sink
	// AllowTenant reports whether the request may send events of tenant;
	// nil allows every tenant.
	AllowTenant func(r *http.Request, tenant string) bool
}

// Handler serves POST /v1/events.
type Handler struct {
	o        Options
	inflight chan struct{}
	held     budget // bytes of the bodies in flight
	decoders sync.Pool
	stats    Stats
}

// Stats counts what the handler did; read with Snapshot.
type Stats struct {
	Requests   atomic.Int64
	Accepted   atomic.Int64
	Duplicates atomic.Int64
	Rejected   atomic.Int64
	Overloaded atomic.Int64 // 429s, all reasons
	TooLarge   atomic.Int64 // 413s
	// The 429s by the bound that refused them.
	OverRequests  atomic.Int64 // MaxInFlight requests were in flight
	OverBytes     atomic.Int64 // MaxInFlightBytes of bodies were held
	OverDetection atomic.Int64 // the sink said detection is behind
	mu            sync.Mutex
	byReason      map[string]int64
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

// New returns a Handler.
func New(o Options) *Handler {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 16 << 20
	}
	if o.MaxDecodedBytes <= 0 {
		o.MaxDecodedBytes = 64 << 20
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 10_000
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 16 * runtime.GOMAXPROCS(0)
	}
	if o.MaxInFlightBytes <= 0 {
		o.MaxInFlightBytes = 4 * o.MaxDecodedBytes
	}
	// The largest body must fit alone, or it would be refused forever.
	o.MaxInFlightBytes = max(o.MaxInFlightBytes, max(o.MaxBodyBytes, o.MaxDecodedBytes)+budgetStep+bytes.MinRead)
	if o.MaxErrors <= 0 {
		o.MaxErrors = 100
	}
	h := &Handler{o: o, inflight: make(chan struct{}, o.MaxInFlight), held: budget{max: o.MaxInFlightBytes}}
	h.stats.byReason = map[string]int64{}
	lim := o.Limits
	h.decoders.New = func() any { return event.NewDecoder(lim) }
	return h
}

// Stats returns the handler's counters.
func (h *Handler) Stats() *Stats { return &h.stats }

// MaxInFlight is how many requests may decode or store at once.
func (h *Handler) MaxInFlight() int { return h.o.MaxInFlight }

// MaxInFlightBytes is how many bytes of request bodies may be held at once.
func (h *Handler) MaxInFlightBytes() int64 { return h.o.MaxInFlightBytes }

// BytesInFlight is how many bytes of request bodies are held now.
func (h *Handler) BytesInFlight() int64 { return h.held.inUse() }

// Result is the answer to an ingest request.
type Result struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   int         `json:"rejected"`
	Errors     []Rejection `json:"errors,omitempty"`
	Truncated  bool        `json:"errors_truncated,omitempty"`
}

// Rejection says why one event was rejected.
type Rejection struct {
	Index   int    `json:"index"`
	Line    int    `json:"line,omitempty"`
	ID      string `json:"id,omitempty"`
	Field   string `json:"field,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.stats.Requests.Add(1)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		problem.Write(w, problem.New(problem.MethodNotAllowed, "send events with POST"))
		return
	}
	select {
	case h.inflight <- struct{}{}:
		defer func() { <-h.inflight }()
	default:
		h.stats.Overloaded.Add(1)
		h.stats.OverRequests.Add(1)
		e := problem.New(problem.Overloaded, "%d ingest requests are already in flight: retry later", h.o.MaxInFlight)
		e.RetryAfter = time.Second
		problem.Write(w, e)
		return
	}
	var held int64
	defer func() { h.held.give(held) }()
	res, perr := h.ingest(r, &held)
	if perr != nil {
		if perr.Code == problem.BodyTooLarge {
			h.stats.TooLarge.Add(1)
		}
		if perr.Code == problem.Overloaded {
			h.stats.Overloaded.Add(1)
		}
		problem.Write(w, perr)
		return
	}
	status := http.StatusOK
	if res.Accepted == 0 && res.Duplicates == 0 && res.Rejected > 0 {
		status = http.StatusBadRequest // nothing usable at all
	}
	writeJSON(w, status, res)
}

// ingest reads, decodes and stores one request's events. *held is what
// it took of the bytes budget: the caller gives it back once the response
// no longer needs the body (the events point into it).
func (h *Handler) ingest(r *http.Request, held *int64) (*Result, *problem.Error) {
	body, perr := h.readBody(r, held)
	if perr != nil {
		return nil, perr
	}
	mode, perr := contentMode(r)
	if perr != nil {
		return nil, perr
	}
	if mode == modeBinary {
		body = binaryEnvelope(r, body)
	}
	dec := h.decoders.Get().(*event.Decoder)
	defer h.decoders.Put(dec)
	// Frames are slices of the body, which the request keeps alive until
	// the sink has stored them: nothing is copied.
	rd, err := event.NewBytesReader(body, dec)
	if err != nil {
		return nil, problem.New(problem.BadRequest, "the body cannot be read: %v", err)
	}
	res := &Result{}
	var batch []Accepted
	for {
		f, err := rd.NextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, problem.New(problem.BadRequest, "the body is not a readable batch: %v", err)
		}
		if f.Index >= h.o.MaxEvents {
			return nil, problem.New(problem.BodyTooLarge, "more than %d events in one request: split the batch", h.o.MaxEvents)
		}
		ev, err := f.Decode(dec)
		if err == nil && h.o.AllowTenant != nil && !h.o.AllowTenant(r, ev.Tenant) {
			err = &event.RejectError{Index: f.Index, Line: f.Line, ID: ev.ID, FieldError: &event.FieldError{
				Field: "tenant", Code: event.CodeInvalid, Reason: fmt.Sprintf("these credentials may not send events of tenant %q", ev.Tenant)}}
		}
		if err != nil {
			var re *event.RejectError
			errors.As(err, &re)
			h.reject(res, re)
			continue
		}
		batch = append(batch, Accepted{Event: ev, Raw: f.Raw[:len(f.Raw):len(f.Raw)]})
	}
	if mode == modeSingle && res.Rejected+len(batch) > 1 {
		return nil, problem.New(problem.BadRequest, "application/cloudevents+json carries one event, got %d: send batches as application/cloudevents-batch+json or application/x-ndjson", res.Rejected+len(batch))
	}
	if len(batch) > 0 {
		dups, err := h.o.Sink.Accept(r.Context(), batch)
		if err != nil {
			if errors.Is(err, ErrOverloaded) {
				h.stats.OverDetection.Add(1)
				e := problem.New(problem.Overloaded, "detection is behind: retry later")
				e.RetryAfter = time.Second
				return nil, e
			}
			if r.Context().Err() != nil {
				return nil, problem.New(problem.Unavailable, "the request was cancelled before the events were stored: resend them")
			}
			return nil, problem.New(problem.Internal, "storing the events failed: resend them (they are idempotent)")
		}
		for _, d := range dups {
			if d {
				res.Duplicates++
			} else {
				res.Accepted++
			}
		}
	}
	h.stats.Accepted.Add(int64(res.Accepted))
	h.stats.Duplicates.Add(int64(res.Duplicates))
	return res, nil
}

func (h *Handler) reject(res *Result, re *event.RejectError) {
	res.Rejected++
	h.stats.Rejected.Add(1)
	h.stats.mu.Lock()
	h.stats.byReason[re.ReasonKey()]++
	h.stats.mu.Unlock()
	if len(res.Errors) >= h.o.MaxErrors {
		res.Truncated = true
		return
	}
	res.Errors = append(res.Errors, Rejection{Index: re.Index, Line: re.Line, ID: re.ID, Field: re.Field,
		Code: string(re.Code), Message: re.Error()})
}

// readBody reads the body within the limits, gunzipping it when the
// Content-Encoding says gzip.
func (h *Handler) readBody(r *http.Request, held *int64) ([]byte, *problem.Error) {
	if r.ContentLength > h.o.MaxBodyBytes {
		return nil, problem.New(problem.BodyTooLarge, "the body is %d bytes, the limit is %d: split the batch", r.ContentLength, h.o.MaxBodyBytes)
	}
	over := func() *problem.Error {
		h.stats.OverBytes.Add(1)
		e := problem.New(problem.Overloaded, "%d MiB of ingest request bodies are already in flight (limit %d MiB): retry later",
			h.held.inUse()>>20, h.o.MaxInFlightBytes>>20)
		e.RetryAfter = time.Second
		return e
	}
	var src io.Reader = io.LimitReader(r.Body, h.o.MaxBodyBytes+1)
	limit := h.o.MaxBodyBytes
	size := r.ContentLength // of what is read, when known: at most the limit (above)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, problem.New(problem.BadRequest, "Content-Encoding is gzip but the body is not: %v", err)
		}
		defer zr.Close()
		src, limit, size = io.LimitReader(zr, h.o.MaxDecodedBytes+1), h.o.MaxDecodedBytes, -1
	default:
		return nil, problem.New(problem.UnsupportedMedia, "Content-Encoding %q is not supported: send gzip or nothing", enc)
	}
	// A body of known length is read into one allocation of its size
	// (io.ReadAll would grow and copy it a dozen times), whose bytes are
	// taken from the budget first; one of unknown length (chunked, or
	// gzip-encoded) takes them as it is read.
	var buf bytes.Buffer
	if size > 0 {
		n := size + bytes.MinRead
		if !h.held.take(n) {
			return nil, over()
		}
		*held += n
		buf.Grow(int(size) + bytes.MinRead)
	} else {
		src = &budgetReader{r: src, b: &h.held, held: held}
	}
	_, err := buf.ReadFrom(src)
	body := buf.Bytes()
	if errors.Is(err, errOverBudget) {
		return nil, over()
	}
	if err != nil {
		return nil, problem.New(problem.BadRequest, "reading the body failed: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, problem.New(problem.BodyTooLarge, "the body is larger than %d bytes (after decompression): split the batch", limit)
	}
	return body, nil
}

type mode uint8

const (
	modeAny    mode = iota // application/json, NDJSON, batch: whatever framing the body has
	modeSingle             // application/cloudevents+json: exactly one event
	modeBinary             // CloudEvents binary mode: attributes in ce-* headers, data in the body
)

func contentMode(r *http.Request) (mode, *problem.Error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return 0, problem.New(problem.UnsupportedMedia, "Content-Type %q is not a media type: use application/cloudevents-batch+json, application/cloudevents+json or application/x-ndjson", ct)
	}
	if r.Header.Get("Ce-Specversion") != "" {
		if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return 0, problem.New(problem.UnsupportedMedia, "binary mode needs JSON data, got Content-Type %q", mt)
		}
		return modeBinary, nil
	}
	switch mt {
	case "application/cloudevents+json":
		return modeSingle, nil
	case "application/cloudevents-batch+json", "application/x-ndjson", "application/ndjson", "application/json":
		return modeAny, nil
	}
	return 0, problem.New(problem.UnsupportedMedia, "Content-Type %q is not accepted: use application/cloudevents-batch+json, application/cloudevents+json or application/x-ndjson", mt)
}

// binaryEnvelope builds a structured-mode event from a binary-mode request:
// the ce-* headers become attributes and the body becomes data. The decoder
// then validates it like any other event.
func binaryEnvelope(r *http.Request, body []byte) []byte {
	out := []byte{'{'}
	first := true
	for name, vals := range r.Header {
		lower := strings.ToLower(name)
		if !strings.HasPrefix(lower, "ce-") || len(vals) == 0 {
			continue
		}
		attr := strings.TrimPrefix(lower, "ce-")
		if attr == "data" {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = event.AppendString(out, attr)
		out = append(out, ':')
		out = event.AppendString(out, vals[0])
	}
	if !first {
		out = append(out, ',')
	}
	out = append(out, `"data":`...)
	out = append(out, bytes.TrimSpace(body)...)
	return append(out, '}')
}
