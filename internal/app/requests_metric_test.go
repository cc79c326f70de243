package app

import (
	"strings"
	"testing"
)

// TestRequestLatencyMetric: every request is observed by its route's
// pattern and status class; a path's own values never become labels.
func TestRequestLatencyMetric(t *testing.T) {
	ts := startServer(t, t.TempDir())
	viewer := ts.key(t, "viewer", "*")
	for _, c := range []struct {
		method, path, key string
		want              int
	}{
		{"GET", "/v1/health", "", 200},
		{"GET", "/v1/alerts/al-not-there", viewer, 404},
		{"GET", "/v1/no-such-route", viewer, 404},
		{"POST", "/v1/gate", "", 401},
	} {
		if code, body := ts.raw(t, c.method, c.path, c.key, ""); code != c.want {
			t.Fatalf("%s %s: %d %s; want %d", c.method, c.path, code, body, c.want)
		}
	}
	b := ts.metricsText(t)
	var counts []string
	for _, l := range strings.Split(b, "\n") {
		if strings.HasPrefix(l, "vigil_http_request_seconds_count{") {
			counts = append(counts, l)
		}
	}
	all := strings.Join(counts, "\n")
	for _, want := range []string{
		`vigil_http_request_seconds_count{route="GET /v1/health",status="2xx"} 1`,
		`vigil_http_request_seconds_count{route="GET /v1/alerts/{id}",status="4xx"} 1`,
		`vigil_http_request_seconds_count{route="/",status="4xx"} 1`,
		`vigil_http_request_seconds_count{route="POST /v1/gate",status="4xx"} 1`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("metrics lack %s; the counts are:\n%s", want, all)
		}
	}
	if strings.Contains(all, "al-not-there") || strings.Contains(all, "no-such-route") {
		t.Errorf("a path's values became labels:\n%s", all)
	}
	if !strings.Contains(b, `vigil_http_request_seconds_bucket{route="GET /v1/health",status="2xx",le="0.002"}`) {
		t.Error("the histogram lacks the gate goal's bucket, 2 ms")
	}
}
