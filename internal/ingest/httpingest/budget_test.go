package httpingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// heldSink keeps every request inside Accept until release is closed, so
// that their bodies stay in flight.
type heldSink struct {
	memorySink
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newHeldSink() *heldSink {
	return &heldSink{entered: make(chan struct{}, 8), release: make(chan struct{})}
}

// waitEntered waits for a request to reach the sink.
func (s *heldSink) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-s.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the sink")
	}
}

// let lets every request held, and every later one, through.
func (s *heldSink) let() { s.once.Do(func() { close(s.release) }) }

func (s *heldSink) Accept(ctx context.Context, b []Accepted) ([]bool, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.memorySink.Accept(ctx, b)
}

// ndjson is a body of n events whose ids start with prefix.
func ndjson(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(ev(fmt.Sprintf("%s-%05d", prefix, i)) + "\n")
	}
	return b.String()
}

// post sends an NDJSON body, gzip-encoded or not. It calls no t methods,
// so goroutines may use it.
func post(url, body string, gz bool) (*http.Response, map[string]any, error) {
	var rd io.Reader = strings.NewReader(body)
	if gz {
		rd = bytes.NewReader(gzipped([]byte(body)))
	}
	req, err := http.NewRequest(http.MethodPost, url, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	// A request the bound should have refused waits in the held sink:
	// the timeout turns that into a failure instead of a hung test.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp, out, nil
}

func postBody(t *testing.T, url, body string, gz bool) (*http.Response, map[string]any) {
	t.Helper()
	resp, out, err := post(url, body, gz)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

// status runs post for a goroutine: the status, or the error's text.
func status(url, body string, gz bool) string {
	resp, _, err := post(url, body, gz)
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// The bodies held at once are bounded by bytes, not by a count of
// requests: while one large body waits to be stored, a second that would
// pass the bound is refused with 429 and Retry-After, plain or gzip (its
// size known only as it is inflated), a small one still goes through, and
// the large one's bytes come back when it is answered.
func TestIngestBoundsBytesInFlight(t *testing.T) {
	sink := newHeldSink()
	h := New(Options{Sink: sink, MaxBodyBytes: 2 << 20, MaxDecodedBytes: 2 << 20, MaxInFlightBytes: 3 << 20})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer sink.let() // before Close, which waits for the requests held

	big := ndjson("big", 10_000) // ~1.6 MiB
	if len(big) < 1536<<10 || len(big) > 2<<20 {
		t.Fatalf("big body is %d bytes", len(big))
	}
	firstDone := make(chan string)
	go func() { firstDone <- status(srv.URL, big, true) }() // ~1.6 MiB inflated
	sink.waitEntered(t)
	if held := h.BytesInFlight(); held < int64(len(big)) || held > int64(len(big))+2*budgetStep {
		t.Fatalf("%d bytes held for a %d-byte body", held, len(big))
	}

	for _, gz := range []bool{false, true} {
		second := ndjson(fmt.Sprintf("second-%v", gz), 8_000) // ~1.3 MiB: over the 3 MiB with the first
		resp, out := postBody(t, srv.URL, second, gz)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("gzip %v: second large body: status %d, Retry-After %q, %v", gz, resp.StatusCode, resp.Header.Get("Retry-After"), out)
		}
		e, _ := out["error"].(map[string]any)
		if msg, _ := e["message"].(string); e["code"] != "overloaded" || !strings.Contains(msg, "MiB of ingest request bodies are already in flight (limit 3 MiB)") {
			t.Errorf("gzip %v: error %v does not name the bound", gz, e)
		}
	}
	small := make(chan string)
	go func() { small <- status(srv.URL, ndjson("small", 100), false) }()
	sink.waitEntered(t)
	sink.let()
	if s := <-small; s != "200 OK" {
		t.Errorf("small body alongside: %s", s)
	}
	if s := <-firstDone; s != "200 OK" {
		t.Errorf("first body: %s", s)
	}
	if held := h.BytesInFlight(); held != 0 {
		t.Errorf("%d bytes still held after every answer", held)
	}
	st := h.Stats()
	if st.OverBytes.Load() != 2 || st.Overloaded.Load() != 2 || st.OverRequests.Load() != 0 {
		t.Errorf("refusals: bytes %d, all %d, requests %d", st.OverBytes.Load(), st.Overloaded.Load(), st.OverRequests.Load())
	}
	// Freed, the same body now fits.
	if resp, out := postBody(t, srv.URL, ndjson("second-again", 8_000), false); resp.StatusCode != http.StatusOK {
		t.Errorf("after the first was answered: status %d, %v", resp.StatusCode, out)
	}
}

// The count bound still refuses requests beyond it, counted apart.
func TestIngestBoundsRequestsInFlight(t *testing.T) {
	sink := newHeldSink()
	h := New(Options{Sink: sink, MaxInFlight: 1})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer sink.let()
	done := make(chan string)
	go func() { done <- status(srv.URL, ndjson("one", 1), false) }()
	sink.waitEntered(t)
	resp, out := postBody(t, srv.URL, ndjson("two", 1), false)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second request: status %d, %v", resp.StatusCode, out)
	}
	sink.let()
	if s := <-done; s != "200 OK" {
		t.Errorf("first request: %s", s)
	}
	if st := h.Stats(); st.OverRequests.Load() != 1 || st.OverBytes.Load() != 0 {
		t.Errorf("refusals: requests %d, bytes %d", st.OverRequests.Load(), st.OverBytes.Load())
	}
}

// A budget smaller than the largest body would refuse that body forever:
// New raises it.
func TestIngestBudgetFitsTheLargestBody(t *testing.T) {
	h := New(Options{Sink: &memorySink{}, MaxBodyBytes: 1 << 20, MaxDecodedBytes: 4 << 20, MaxInFlightBytes: 1 << 20})
	if h.MaxInFlightBytes() < 4<<20 {
		t.Errorf("budget %d is below the 4 MiB largest body", h.MaxInFlightBytes())
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := ndjson("whole", 10_000) // ~1.6 MiB inflated, within 4 MiB decoded
	if resp, out := postBody(t, srv.URL, body, true); resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, %v", resp.StatusCode, out)
	}
}
