package app

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The load generator's gate client against net/http's server: every
// framing the server may choose, keep-alive and reconnection.
func TestGateConn(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/v1/gate" || r.Header.Get("Authorization") != "Bearer k1" ||
			r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request line or headers", 400)
			return
		}
		switch string(body) {
		case "small":
			w.Write([]byte(`{"decision":"allow"}`))
		case "chunked":
			w.Write([]byte(`{"decision":`))
			w.(http.Flusher).Flush()
			w.Write([]byte(`"deny"}`))
		case "close":
			w.Header().Set("Connection", "close")
			w.Write([]byte(`{"decision":"step_up"}`))
		case "big":
			w.Write([]byte(strings.Repeat("x", maxGateAnswer+1)))
		default:
			http.Error(w, "unknown", 404)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	g := newGateConn(host, host, "/v1/gate", "k1", 5*time.Second)
	defer g.close()

	var buf []byte
	for i, c := range []struct {
		body, want string
		status     int
	}{
		{"small", `{"decision":"allow"}`, 200},
		{"chunked", `{"decision":"deny"}`, 200},
		{"small", `{"decision":"allow"}`, 200},
		{"nothing", "unknown\n", 404},
		{"close", `{"decision":"step_up"}`, 200},
		{"small", `{"decision":"allow"}`, 200},
	} {
		status, out, err := g.post([]byte(c.body), buf)
		if err != nil || status != c.status || string(out) != c.want {
			t.Fatalf("request %d (%s): %d %q %v, want %d %q", i, c.body, status, out, err, c.status, c.want)
		}
		buf = out[:0]
	}
	// One connection up to the server's "Connection: close", one after.
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	if _, _, err := g.post([]byte("big"), buf); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("oversized answer: %v", err)
	}
	if status, out, err := g.post([]byte("small"), buf); err != nil || status != 200 || decisionOf(out) != "allow" {
		t.Errorf("after an error: %d %q %v", status, out, err)
	}
	bad := newGateConn(host, host, "/v1/gate", "wrong", 5*time.Second)
	defer bad.close()
	if status, _, err := bad.post([]byte("small"), nil); err != nil || status != 400 {
		t.Errorf("wrong key: %d %v", status, err)
	}
}
