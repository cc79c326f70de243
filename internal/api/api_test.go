package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/api/live"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/sqlite"
)

// testAPI is the API on a real SQLite store, in-process, with a live feed
// the test publishes to (detection is not needed for these routes).
type testAPI struct {
	base  string
	st    store.Store
	auth  *Auth
	feed  *live.Broadcaster
	puts  *countingConfig
	admin string // the first admin key, every tenant
}

// countingConfig counts the writes of the keys' last-use entry; onGet,
// when set, runs before every GetConfig (a test holds reads with it, or
// fails them with its error).
type countingConfig struct {
	store.Store
	usedPuts atomic.Int64
	onGet    atomic.Pointer[func(key string) error]
	// afterList, when set, runs after every ListConfig has read the store
	// and before it returns (a test holds a reload's result with it).
	afterList atomic.Pointer[func(prefix string)]
}

func (c *countingConfig) ListConfig(ctx context.Context, sc store.Scope, tenant, prefix string) ([]store.ConfigEntry, error) {
	out, err := c.Store.ListConfig(ctx, sc, tenant, prefix)
	if f := c.afterList.Load(); f != nil {
		(*f)(prefix)
	}
	return out, err
}

func (c *countingConfig) GetConfig(ctx context.Context, sc store.Scope, tenant, key string) (store.ConfigEntry, error) {
	if f := c.onGet.Load(); f != nil {
		if err := (*f)(key); err != nil {
			return store.ConfigEntry{}, err
		}
	}
	return c.Store.GetConfig(ctx, sc, tenant, key)
}

func (c *countingConfig) PutConfig(ctx context.Context, sc store.Scope, ch store.ConfigChange) (store.ConfigEntry, error) {
	if ch.Key == usedEntry {
		c.usedPuts.Add(1)
	}
	return c.Store.PutConfig(ctx, sc, ch)
}

func newTestAPI(t *testing.T, lo live.Options) *testAPI {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingConfig{Store: st}
	auth := NewAuth(cc)
	admin, err := auth.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	feed := live.New(lo)
	srv := New(Options{Store: st, Auth: auth, Live: feed, Metrics: http.NotFoundHandler(), Ingest: http.NotFoundHandler()})
	hs := httptest.NewUnstartedServer(srv)
	// Short server timeouts, as vigil serve has longer ones: streams must
	// outlive them.
	hs.Config.ReadTimeout = time.Second
	hs.Config.WriteTimeout = time.Second
	hs.Config.RegisterOnShutdown(feed.Close)
	hs.Start()
	t.Cleanup(func() {
		feed.Close() // open streams end, so Close does not wait for them
		hs.Close()
		st.Close()
	})
	return &testAPI{base: hs.URL, st: st, auth: auth, feed: feed, puts: cc, admin: admin}
}

// key creates a key directly (as `vigil keys create` does).
func (ta *testAPI) key(t *testing.T, role string, tenants ...string) (secret, id string) {
	t.Helper()
	s, k, err := ta.auth.Create(context.Background(), role, tenants, "test "+role)
	if err != nil {
		t.Fatal(err)
	}
	return s, k.ID
}

// do makes a request and returns the status and the body.
func (ta *testAPI) do(t *testing.T, method, path, key, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, ta.base+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// decode reads an answer strictly: it must be exactly the documented type.
func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("answer is not a %T: %v\n%s", v, err, b)
	}
	return v
}

func keyID(secret string) string { return strings.Split(secret, "_")[1] }

// sseEvent is one event of a stream; a comment-only block has Event ":"
// and the comment as Data.
type sseEvent struct{ Event, Data string }

// stream is an open GET /v1/alerts/stream.
type stream struct {
	resp   *http.Response
	events chan sseEvent // closed at the end of the stream
	cancel context.CancelFunc
}

// openStream opens a stream; the caller checks resp.StatusCode. Events are
// parsed only when read is true (a slow client reads nothing).
func (ta *testAPI) openStream(t *testing.T, key, query string, read bool) *stream {
	t.Helper()
	return ta.openStreamAs(t, key, nil, query, read)
}

// openStreamAs is openStream with a key or, when key is "", a session.
func (ta *testAPI) openStreamAs(t *testing.T, key string, se *session, query string, read bool) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ta.base+"/v1/alerts/stream"+query, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if se != nil {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: se.cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &stream{resp: resp, events: make(chan sseEvent, 4096), cancel: cancel}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if read && resp.StatusCode == 200 {
		go s.parse(resp.Body)
	}
	return s
}

func (s *stream) parse(r io.Reader) {
	defer close(s.events)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			if ev.Event == "" {
				ev = sseEvent{Event: ":", Data: strings.TrimSpace(line[1:])}
			}
		case strings.HasPrefix(line, "event: "):
			ev.Event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			ev.Data += line[len("data: "):]
		}
	}
}

// next returns the next event other than comments (ok false at the end of
// the stream); it fails the test after 10 s without one.
func (s *stream) next(t *testing.T) (sseEvent, bool) {
	t.Helper()
	for {
		select {
		case ev, ok := <-s.events:
			if ok && ev.Event == ":" {
				continue
			}
			return ev, ok
		case <-time.After(10 * time.Second):
			t.Fatal("no event from the stream in 10 s")
		}
	}
}

// testAlert is an alert as the processor hands it to OnAlert.
func testAlert(id, tenant string, c alert.Category, sev event.Severity, explanation string) store.Alert {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixNano()
	return store.Alert{Alert: alert.Alert{ID: id, Time: t0, FirstSeen: t0, LastSeen: t0, Tenant: tenant, Category: c, Severity: sev,
		Detector: "test.detector", Title: "Test alert " + id, Explanation: explanation,
		Entities: alert.Entities{Vehicle: "WBA00000000000001"}, Evidence: []event.Ref{{Source: "test", ID: id}},
		Mappings: alert.Mappings{R155: []string{"1.2"}, ATM: []string{}, ATTACK: []string{}}}}
}
