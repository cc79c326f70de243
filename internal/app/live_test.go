package app

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sseStream reads GET /v1/alerts/stream: its alert events' data, in order,
// on a channel closed at the end of the stream.
type sseStream struct {
	alerts chan map[string]any
	other  chan string // events other than alert
}

func openSSE(t *testing.T, base, key, query string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/alerts/stream"+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /v1/alerts/stream%s: %d %s", query, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{alerts: make(chan map[string]any, 100_000), other: make(chan string, 16)}
	go func() {
		defer close(s.alerts)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		name := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = line[len("event: "):]
			case strings.HasPrefix(line, "data: ") && name == "alert":
				var a map[string]any
				if json.Unmarshal([]byte(line[len("data: "):]), &a) == nil {
					s.alerts <- a
				}
			case strings.HasPrefix(line, "data: "):
				s.other <- name + " " + line[len("data: "):]
			case line == "":
				name = ""
			}
		}
	}()
	return s
}

// collect reads alerts until the stream has delivered n or ended (ended
// true), or 60 s pass.
func (s *sseStream) collect(n int) (out []map[string]any, ended bool) {
	timeout := time.After(60 * time.Second)
	for len(out) < n {
		select {
		case a, ok := <-s.alerts:
			if !ok {
				return out, true
			}
			out = append(out, a)
		case <-timeout:
			return out, false
		}
	}
	return out, false
}

// TestLiveAlerts runs the server end to end: streams opened before ingest
// receive every alert detection stores, once, exactly as GET
// /v1/alerts/{id} shows it; a viewer of one tenant only that tenant's; and
// a shutdown ends the streams instead of waiting for them.
func TestLiveAlerts(t *testing.T) {
	stream, _ := simStream(t, 23)
	ts := startServer(t, t.TempDir())
	admin := ts.key(t, "admin", "*")
	viewerB := ts.key(t, "viewer", "fleet-b")
	ingest := ts.key(t, "ingest", "*")

	everything := openSSE(t, ts.base, admin, "")
	onlyB := openSSE(t, ts.base, viewerB, "")
	highA := openSSE(t, ts.base, admin, "?tenant=fleet-a&severity=high")
	ts.post(t, ingest, stream, 2000)
	ts.waitCaughtUp(t)

	stored := ts.allAlerts(t, admin, "")
	storedB := ts.allAlerts(t, admin, "tenant=fleet-b")
	storedHighA := ts.allAlerts(t, admin, "tenant=fleet-a&severity=high")
	if len(storedB) == 0 || len(storedB) == len(stored) || len(storedHighA) == 0 {
		t.Fatalf("the simulated stream raised %d alerts, %d of fleet-b, %d high of fleet-a: the test needs some of each", len(stored), len(storedB), len(storedHighA))
	}
	byID := map[string]map[string]any{}
	for _, a := range stored {
		byID[a["id"].(string)] = a
	}
	for _, c := range []struct {
		name   string
		s      *sseStream
		stored []map[string]any
	}{
		{"admin", everything, stored},
		{"viewer of fleet-b", onlyB, storedB},
		{"admin, fleet-a, high and up", highA, storedHighA},
	} {
		got, _ := c.s.collect(len(c.stored))
		seen := map[string]bool{}
		for _, a := range got {
			id, _ := a["id"].(string)
			if seen[id] {
				t.Errorf("%s: alert %s streamed twice", c.name, id)
			}
			seen[id] = true
			want, ok := byID[id]
			if !ok {
				t.Errorf("%s: streamed alert %s is not in the store", c.name, id)
				continue
			}
			// The alert as stored; created and updated are the stream's
			// own stamps, within moments of the store's.
			for k, v := range want {
				if k == "created" || k == "updated" {
					continue
				}
				if g, w := jsonOf(a[k]), jsonOf(v); g != w {
					t.Errorf("%s: alert %s: %s is %s on the stream, %s in the store", c.name, id, k, g, w)
				}
			}
		}
		for _, a := range c.stored {
			if !seen[a["id"].(string)] {
				t.Errorf("%s: stored alert %s (%s) never came on the stream", c.name, a["id"], a["tenant"])
			}
		}
		t.Logf("%s: %d alerts streamed", c.name, len(got))
	}

	// Shutdown: the streams end, and serve returns without waiting out
	// its shutdown timeout for them.
	if err := ts.stop(); err != nil {
		t.Errorf("stopping with open streams: %v", err)
	}
	for _, s := range []*sseStream{everything, onlyB, highA} {
		if rest, ended := s.collect(1 << 30); len(rest) != 0 || !ended {
			t.Errorf("after the shutdown: %d more alerts, stream ended %v", len(rest), ended)
		}
		select {
		case ev := <-s.other:
			t.Errorf("a stream ended with %q", ev)
		default:
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
