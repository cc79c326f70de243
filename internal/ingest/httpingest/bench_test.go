package httpingest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

// countingSink takes every event as new: the benchmark measures the
// handler (reading, framing, decoding, answering), not a store.
type countingSink struct{ n int }

func (c *countingSink) Accept(_ context.Context, b []Accepted) ([]bool, error) {
	c.n += len(b)
	return make([]bool, len(b)), nil
}

// BenchmarkHandler posts NDJSON batches of 1,000 events of the contract's
// valid examples, as vigil bench --http sends them, straight to the handler.
func BenchmarkHandler(b *testing.B) {
	data, err := os.ReadFile("../../event/testdata/valid.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	var body []byte
	for i := range 1000 {
		body = append(append(body, lines[i%len(lines)]...), '\n')
	}
	sink := &countingSink{}
	h := New(Options{Sink: sink})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-ndjson")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(sink.n)/b.Elapsed().Seconds(), "events/s")
}
