package api

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/api/live"
	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/event"
)

var liveDefaults = live.Options{}

const (
	catOne  = alert.CategoryUnset + 1 // credential-attack
	catTwo  = alert.CategoryUnset + 2 // account-takeover
	sevLow  = event.SeverityUnset + 1
	sevHigh = event.SeverityUnset + 3
)

// waitSubscribers waits until n streams are subscribed (a stream is
// subscribed before its answer's headers are sent, so this is quick).
func waitSubscribers(t *testing.T, feed *live.Broadcaster, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for feed.Len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", feed.Len(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAlertStream: each subscriber gets the new alerts its tenants and
// filters admit, as the JSON of GET /v1/alerts/{id}, in order; heartbeats
// keep an idle stream open past the server's read and write timeouts.
func TestAlertStream(t *testing.T) {
	ta := newTestAPI(t, live.Options{Heartbeat: 100 * time.Millisecond})
	viewerA, _ := ta.key(t, "viewer", "fleet-a")
	viewerAB, _ := ta.key(t, "viewer", "fleet-a", "fleet-b")
	ingest, _ := ta.key(t, "ingest", "*")

	for _, c := range []struct {
		name, key, query string
		want             int
		code             string
	}{
		{"no key", "", "", 401, "unauthenticated"},
		{"an ingest key", ingest, "", 403, "forbidden"},
		{"another tenant", viewerA, "?tenant=fleet-b", 400, "invalid_parameter"},
		{"a bad severity", viewerA, "?severity=apocalyptic", 400, "invalid_parameter"},
		{"a bad category", viewerA, "?category=mischief", 400, "invalid_parameter"},
	} {
		s := ta.openStream(t, c.key, c.query, false)
		body, _ := io.ReadAll(s.resp.Body)
		if s.resp.StatusCode != c.want || string(decode[problemBody](t, body).Error.Code) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, s.resp.StatusCode, body, c.want, c.code)
		}
	}

	streams := []struct {
		name, key, query string
		want             []string
	}{
		{"admin, every tenant", ta.admin, "", []string{"a-low", "b-high", "a-high-2", "c-low"}},
		{"viewer of fleet-a", viewerA, "", []string{"a-low", "a-high-2"}},
		{"viewer of fleet-a and fleet-b, fleet-b only", viewerAB, "?tenant=fleet-b", []string{"b-high"}},
		{"admin, high and up", ta.admin, "?severity=high", []string{"b-high", "a-high-2"}},
		{"admin, one category", ta.admin, "?category=account-takeover", []string{"a-high-2"}},
	}
	open := make([]*stream, len(streams))
	for i, s := range streams {
		open[i] = ta.openStream(t, s.key, s.query, true)
		if open[i].resp.StatusCode != 200 || !strings.HasPrefix(open[i].resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%s: %d %s", s.name, open[i].resp.StatusCode, open[i].resp.Header.Get("Content-Type"))
		}
	}
	waitSubscribers(t, ta.feed, len(streams))

	// Idle for longer than the server's read and write timeouts (1 s):
	// heartbeats flow and the streams stay open.
	deadline := time.After(2500 * time.Millisecond)
	beats := 0
idle:
	for {
		select {
		case ev := <-open[0].events:
			if ev.Event != ":" {
				t.Fatalf("an idle stream sent %+v", ev)
			}
			if ev.Data == "heartbeat" {
				beats++
			}
		case <-deadline:
			break idle
		}
	}
	if beats < 5 {
		t.Errorf("%d heartbeats in 2.5 s at one per 100 ms", beats)
	}

	for _, a := range []struct {
		id, tenant string
		c          alert.Category
		sev        event.Severity
	}{
		{"a-low", "fleet-a", catOne, sevLow},
		{"b-high", "fleet-b", catOne, sevHigh},
		{"a-high-2", "fleet-a", catTwo, sevHigh},
		{"c-low", "fleet-c", catOne, sevLow},
	} {
		ta.feed.Publish(testAlert(a.id, a.tenant, a.c, a.sev, "line one\nline two"))
	}
	for i, s := range streams {
		var got []string
		for range s.want {
			ev, ok := open[i].next(t)
			if !ok {
				t.Fatalf("%s: the stream ended", s.name)
			}
			if ev.Event != "alert" {
				t.Fatalf("%s: event %q", s.name, ev.Event)
			}
			a := decode[alertJSON](t, []byte(ev.Data))
			if a.Status != "new" || a.Explanation != "line one\nline two" || a.Created == ts(0) {
				t.Errorf("%s: alert %+v", s.name, a)
			}
			got = append(got, a.ID)
		}
		if strings.Join(got, ",") != strings.Join(s.want, ",") {
			t.Errorf("%s received %v, want %v", s.name, got, s.want)
		}
	}

	// Shutdown ends every stream.
	ta.feed.Close()
	for i, s := range streams {
		if ev, ok := open[i].next(t); ok {
			t.Errorf("%s: after the shutdown the stream sent %+v", s.name, ev)
		}
	}
	s := ta.openStream(t, ta.admin, "", false)
	if s.resp.StatusCode != 503 {
		t.Errorf("a stream opened during the shutdown: %d, want 503", s.resp.StatusCode)
	}
}

// TestAlertStreamLimits: beyond the subscriber limit the answer is 429 from
// the catalogue; a client that reads nothing is dropped with a last
// overflow event instead of holding detection up.
func TestAlertStreamLimits(t *testing.T) {
	ta := newTestAPI(t, live.Options{Buffer: 4, MaxSubscribers: 2})
	slow := ta.openStream(t, ta.admin, "", false) // reads nothing for now
	fast := ta.openStream(t, ta.admin, "", true)
	waitSubscribers(t, ta.feed, 2)

	third := ta.openStream(t, ta.admin, "", false)
	body, _ := io.ReadAll(third.resp.Body)
	if third.resp.StatusCode != 429 || decode[problemBody](t, body).Error.Code != "overloaded" || third.resp.Header.Get("Retry-After") == "" {
		t.Errorf("a third stream: %d (Retry-After %q) %s, want 429 overloaded with Retry-After",
			third.resp.StatusCode, third.resp.Header.Get("Retry-After"), body)
	}

	// Alerts one at a time, each read by the fast client before the next:
	// the slow client's socket buffers fill, then its buffer of 4, and it
	// is dropped; the fast one keeps up and stays.
	big := strings.Repeat("x", 32<<10)
	published := 0
	for ta.feed.Len() == 2 {
		if published == 20_000 {
			t.Fatal("20,000 alerts published and the slow stream is still subscribed")
		}
		ta.feed.Publish(testAlert("a", "fleet-a", catOne, sevLow, big))
		published++
		if ev, ok := fast.next(t); !ok || ev.Event != "alert" {
			t.Fatalf("the fast stream after %d alerts: %+v %v", published, ev, ok)
		}
	}
	t.Logf("the slow stream was dropped after %d alerts of 32 KiB", published)
	ta.feed.Publish(testAlert("b", "fleet-b", catOne, sevLow, "the fast one still receives"))
	if ev, ok := fast.next(t); !ok || ev.Event != "alert" || !strings.Contains(ev.Data, "the fast one still receives") {
		t.Errorf("the fast stream: %+v %v", ev, ok)
	}

	// The slow client reads at last: what was buffered, then overflow,
	// then the end.
	go slow.parse(slow.resp.Body)
	alerts := 0
	var last sseEvent
	for {
		ev, ok := slow.next(t)
		if !ok {
			break
		}
		if ev.Event == "alert" {
			alerts++
		}
		last = ev
	}
	var msg struct{ Message string }
	if last.Event != "overflow" || json.Unmarshal([]byte(last.Data), &msg) != nil || !strings.Contains(msg.Message, "GET /v1/alerts") {
		t.Errorf("the slow stream ended with %+v, want an overflow event", last)
	}
	if alerts >= published {
		t.Errorf("the slow stream delivered all %d alerts", alerts)
	}
	// Its place is free again.
	again := ta.openStream(t, ta.admin, "", false)
	if again.resp.StatusCode != 200 {
		t.Errorf("after the drop a new stream answered %d", again.resp.StatusCode)
	}
}

// TestAlertStreamEndsWithItsCredential: a live stream ends as soon as its
// key is revoked, its session signed out, or its user disabled or given
// other tenants; reconnecting authenticates again. Other streams go on.
func TestAlertStreamEndsWithItsCredential(t *testing.T) {
	ta := newUserAPI(t, auth.Config{})
	ta.user(t, "ana", "analyst", anaPassword, "fleet-a", "fleet-b")
	ta.user(t, "bo", "viewer", boPassword, "fleet-b")
	revoked, revokedID := ta.key(t, "viewer", "fleet-a")
	kept, _ := ta.key(t, "viewer", "fleet-a")
	ana := ta.signIn(t, "ana", anaPassword)
	bo := ta.signIn(t, "bo", boPassword)

	streams := map[string]*stream{
		"revoked key": ta.openStreamAs(t, revoked, nil, "", true),
		"kept key":    ta.openStreamAs(t, kept, nil, "", true),
		"ana":         ta.openStreamAs(t, "", ana, "", true),
		"bo":          ta.openStreamAs(t, "", bo, "", true),
	}
	for name, s := range streams {
		if s.resp.StatusCode != 200 {
			t.Fatalf("%s: %d", name, s.resp.StatusCode)
		}
	}
	waitSubscribers(t, ta.feed, len(streams))
	// ended waits for the end of a stream, through its last comment.
	ended := func(name string) {
		t.Helper()
		closing := false
		for {
			select {
			case ev, ok := <-streams[name].events:
				if !ok {
					if !closing {
						t.Errorf("%s: the stream ended without saying why", name)
					}
					return
				}
				if ev.Event == ":" && strings.Contains(ev.Data, "revoked, ended or changed") {
					closing = true
					continue
				}
				if ev.Event != ":" {
					t.Fatalf("%s: an event after the change: %+v", name, ev)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: still open 10 s after its credential changed", name)
			}
		}
	}
	alive := func(name, alertID string) {
		t.Helper()
		ev, ok := streams[name].next(t)
		if !ok || ev.Event != "alert" || decode[alertJSON](t, []byte(ev.Data)).ID != alertID {
			t.Fatalf("%s: %+v %v, want alert %s", name, ev, ok, alertID)
		}
	}

	if code, body := ta.do(t, "DELETE", "/v1/keys/"+revokedID, ta.admin, ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	ended("revoked key")
	if s := ta.openStreamAs(t, revoked, nil, "", false); s.resp.StatusCode != 401 {
		t.Errorf("the revoked key reconnected: %d", s.resp.StatusCode)
	}
	ta.feed.Publish(testAlert("a-1", "fleet-a", catOne, sevLow, "one"))
	alive("kept key", "a-1")
	alive("ana", "a-1")

	if a := ta.req(t, "DELETE", "/v1/session", bo, "", map[string]string{"Origin": ta.base}); a.code != 200 {
		t.Fatalf("sign-out: %d %s", a.code, a.body)
	}
	ended("bo")

	// ana keeps fleet-b only: her stream ends, and the new one sees fleet-b
	// only.
	if code, body := ta.do(t, "PATCH", "/v1/users/ana", ta.admin, `{"tenants":["fleet-b"]}`); code != 200 {
		t.Fatalf("patch: %d %s", code, body)
	}
	ended("ana")
	streams["ana"] = ta.openStreamAs(t, "", ana, "", true)
	waitSubscribers(t, ta.feed, 2)
	ta.feed.Publish(testAlert("a-2", "fleet-a", catOne, sevLow, "two"))
	ta.feed.Publish(testAlert("b-1", "fleet-b", catOne, sevLow, "three"))
	alive("ana", "b-1")
	alive("kept key", "a-2")

	if code, body := ta.do(t, "PATCH", "/v1/users/ana", ta.admin, `{"disabled":true}`); code != 200 {
		t.Fatalf("disable: %d %s", code, body)
	}
	ended("ana")
	if s := ta.openStreamAs(t, "", ana, "", false); s.resp.StatusCode != 401 {
		t.Errorf("a disabled user's session reconnected: %d", s.resp.StatusCode)
	}
	ta.feed.Publish(testAlert("a-3", "fleet-a", catOne, sevLow, "four"))
	alive("kept key", "a-3")
}
