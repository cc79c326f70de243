package httpingest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzIngest posts arbitrary bodies under each content type: the handler
// must answer with a catalogue status, never panic or hang.
func FuzzIngest(f *testing.F) {
	f.Add([]byte(ev("a")), uint8(0))
	f.Add([]byte("["+ev("a")+","+ev("b")+"]"), uint8(1))
	f.Add([]byte(ev("a")+"\n{\n"), uint8(2))
	f.Add([]byte{0x1f, 0x8b, 0, 0}, uint8(3))
	types := []string{"application/cloudevents+json", "application/cloudevents-batch+json", "application/x-ndjson", "application/json"}
	h := New(Options{Sink: &memorySink{}, MaxBodyBytes: 1 << 16, MaxEvents: 100})
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		req := httptest.NewRequest("POST", "/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", types[int(ct)%len(types)])
		if ct >= 128 {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}
