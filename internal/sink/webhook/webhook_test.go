package webhook_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sink"
	"github.com/vigil-project/vigil/internal/sink/sinktest"
	"github.com/vigil-project/vigil/internal/sink/webhook"
	"github.com/vigil-project/vigil/internal/store"
)

const secret = "0123456789abcdef-test-secret"

// receiver is a TLS webhook endpoint that checks signatures and answers
// with the next status of its script (then 204). It can go down (its
// address refuses connections) and come back on the same address.
type receiver struct {
	srv     *httptest.Server
	handler http.Handler
	url     string
	caFile  string
	mu      sync.Mutex
	script  []int
	retryIn string
	got     []map[string]any
	badSig  []error
	tries   int
}

func newReceiver(t testing.TB, script ...int) *receiver {
	r := &receiver{script: script}
	r.handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tries++
		if err := webhook.Verify([]byte(secret), req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature),
			body, time.Now(), 5*time.Minute); err != nil {
			r.badSig = append(r.badSig, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if len(r.script) > 0 {
			code := r.script[0]
			r.script = r.script[1:]
			if r.retryIn != "" {
				w.Header().Set("Retry-After", r.retryIn)
			}
			w.WriteHeader(code)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil || m["id"] != req.Header.Get(webhook.HeaderAlert) || req.Header.Get("X-Team") != "soc" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.got = append(r.got, m)
		w.WriteHeader(http.StatusNoContent)
	})
	r.srv = httptest.NewTLSServer(r.handler)
	r.url = r.srv.URL
	t.Cleanup(r.srv.Close)
	r.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw})
	if err := os.WriteFile(r.caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *receiver) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// ids lists the alert ids received, in order.
func (r *receiver) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.got {
		out = append(out, m["id"].(string))
	}
	return out
}

// counts is how many times each alert id was received.
func (r *receiver) counts() map[string]int {
	out := map[string]int{}
	for _, id := range r.ids() {
		out[id]++
	}
	return out
}

// down closes the server: connections to its address are refused.
func (r *receiver) down() { r.srv.Close() }

// up serves again on the same address, with the same certificate.
func (r *receiver) up(t testing.TB) {
	ln, err := net.Listen("tcp", strings.TrimPrefix(r.url, "https://"))
	if err != nil {
		t.Fatalf("listening again on the receiver's address: %v", err)
	}
	srv := httptest.NewUnstartedServer(r.handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.StartTLS()
	r.srv = srv
	t.Cleanup(srv.Close)
}

func config(t testing.TB, url, caFile string, retries int) sink.Config {
	dir := t.TempDir()
	sf := filepath.Join(dir, "secret")
	if err := os.WriteFile(sf, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := sink.Config{Name: "soc", Type: sink.TypeWebhook, URL: url, SecretFile: sf, Headers: map[string]string{"X-Team": "soc"},
		TLS: sink.TLS{CAFile: caFile}, Retries: &retries, Timeout: 5 * time.Second}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// waits records the waits between attempts instead of sleeping; block, when
// set, holds each wait until it is closed.
type waits struct {
	mu    sync.Mutex
	got   []time.Duration
	block chan struct{}
	began chan struct{}
}

func (w *waits) wait(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.got = append(w.got, d)
	w.mu.Unlock()
	if w.began != nil {
		select {
		case w.began <- struct{}{}:
		default:
		}
	}
	if w.block != nil {
		select {
		case <-w.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (w *waits) list() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.got...)
}

// follower is one webhook sink running on a store.
type follower struct {
	*sinktest.Running
	st store.Store
}

// start runs a set of one webhook sink on a new store whose cursor is at 0
// (every alert stored is for it) until the test ends or Stop.
func start(t testing.TB, c sink.Config, w *waits, drain time.Duration) *follower {
	t.Helper()
	st := sinktest.OpenStore(t)
	sinktest.SetCursor(t, st, c.Name, 0)
	return startOn(t, st, c, w, drain)
}

func startOn(t testing.TB, st store.Store, c sink.Config, w *waits, drain time.Duration) *follower {
	t.Helper()
	tg, err := webhook.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	o := sink.Options{Config: c, Target: tg}
	if w != nil {
		o.Wait = w.wait
	}
	r := sinktest.Start(t, sink.SetOptions{Store: st, Drain: drain, Poll: 5 * time.Millisecond, Sinks: []*sink.Sink{sink.New(o)}})
	return &follower{Running: r, st: st}
}

// put stores alerts with these ids and wakes the set, as the processor does.
func (f *follower) put(t testing.TB, ids ...string) {
	t.Helper()
	sinktest.PutIDs(t, f.st, ids...)
	f.Wake()
}

var waitFor = sinktest.WaitFor

func TestSignedDelivery(t *testing.T) {
	r := newReceiver(t)
	f := start(t, config(t, r.url+"/hook", r.caFile, 3), nil, 0)
	f.put(t, "al-1")
	waitFor(t, "the delivery", func() bool { return f.Status()[0].Delivered == 1 })
	if r.received() != 1 || r.got[0]["id"] != "al-1" || r.got[0]["tenant"] != "fleet-a" || len(r.badSig) > 0 {
		t.Fatalf("received %v, bad signatures %v", r.got, r.badSig)
	}
	st := f.Status()[0]
	if st.Failed != 0 || len(st.Dropped) != 0 || st.Cursor != 1 || st.LastDelivered.IsZero() {
		t.Errorf("status %+v", st)
	}
	// The JSON sent is the alert's, read back from the store.
	var want map[string]any
	if err := json.Unmarshal(alert.AppendJSON(nil, sinktest.Alert("al-1")), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.got[0], want) {
		t.Errorf("sent %v, want %v", r.got[0], want)
	}
}

func TestSignatureVerification(t *testing.T) {
	body := []byte(`{"id":"al-1"}`)
	now := time.Unix(1_800_000_000, 0)
	ts := "1800000000"
	sig := webhook.Sign([]byte(secret), ts, body)
	if err := webhook.Verify([]byte(secret), ts, sig, body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"wrong secret": webhook.Verify([]byte("another secret, long enough"), ts, sig, body, now, time.Minute),
		"changed body": webhook.Verify([]byte(secret), ts, sig, []byte(`{"id":"al-2"}`), now, time.Minute),
		"replayed":     webhook.Verify([]byte(secret), ts, sig, body, now.Add(time.Hour), time.Minute),
		"other time":   webhook.Verify([]byte(secret), "1800000001", sig, body, now, time.Minute),
	} {
		if err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	r := newReceiver(t, 503, 429)
	r.retryIn = "7"
	w := &waits{}
	f := start(t, config(t, r.url, r.caFile, 3), w, 0)
	f.put(t, "al-1")
	waitFor(t, "the delivery", func() bool { return f.Status()[0].Delivered == 1 })
	if got := w.list(); len(got) != 2 || got[0] != 7*time.Second || got[1] != 7*time.Second {
		t.Errorf("waits %v, want the 7s Retry-After twice", got)
	}
	if st := f.Status()[0]; st.Failed != 2 || r.tries != 3 {
		t.Errorf("failed attempts %d, tries %d: want 2 and 3", st.Failed, r.tries)
	}
}

func TestExponentialBackoff(t *testing.T) {
	r := newReceiver(t, 500, 502, 500)
	w := &waits{}
	f := start(t, config(t, r.url, r.caFile, 5), w, 0)
	f.put(t, "al-1")
	waitFor(t, "the delivery", func() bool { return f.Status()[0].Delivered == 1 })
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	got := w.list()
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("waits %v, want %v", got, want)
		}
	}
}

func TestRefusalIsNotRetried(t *testing.T) {
	r := newReceiver(t, 422)
	w := &waits{}
	f := start(t, config(t, r.url, r.caFile, 5), w, 0)
	f.put(t, "al-1", "al-2")
	waitFor(t, "the next alert", func() bool { return f.Status()[0].Delivered == 1 })
	if len(w.list()) != 0 || r.tries != 2 {
		t.Errorf("a 422 was retried: waits %v, tries %d", w.list(), r.tries)
	}
	if st := f.Status()[0]; st.Dropped[sink.DropRejected] != 1 || !strings.Contains(st.LastError, "al-1") || st.Cursor != 2 {
		t.Errorf("status %+v: want al-1 refused, counted, and the cursor past both", st)
	}
	if got := r.ids(); len(got) != 1 || got[0] != "al-2" {
		t.Errorf("received %v", got)
	}
}

// metrics gathers the set's metrics of sink soc: name{label} → value.
func metrics(t *testing.T, set prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(set)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["sink"] != "soc" {
				continue
			}
			key := mf.GetName()
			if r := labels["reason"]; r != "" {
				key += "{" + r + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// TestDownTargetDropsCounted: with the target down, the sink holds the
// first alert, retrying, while the others wait in the store (the lag shows
// them); each then runs out of retries in turn and is counted, none
// silently lost, and the cursor moves past them.
func TestDownTargetDropsCounted(t *testing.T) {
	r := newReceiver(t)
	r.down() // connections are refused
	w := &waits{block: make(chan struct{}), began: make(chan struct{}, 1)}
	f := start(t, config(t, r.url, r.caFile, 2), w, 0)
	f.put(t, sinktest.IDs("al-", 0, 6)...)
	<-w.began // the worker holds al-0000, waiting to retry
	waitFor(t, "the lag", func() bool { return f.Status()[0].Lag == 6 })
	if st := f.Status()[0]; st.Cursor != 0 || st.Delivered != 0 || len(st.Dropped) != 0 || st.LastError == "" {
		t.Fatalf("while the first alert waits to be retried: %+v", st)
	}
	if m := metrics(t, f.Set); m["vigil_sink_lag_alerts"] != 6 {
		t.Errorf("metrics %v, want a lag of 6", m)
	}
	close(w.block)
	waitFor(t, "retries to run out", func() bool { return f.Status()[0].Dropped[sink.DropRetries] == 6 })
	st := f.Status()[0]
	if st.Delivered != 0 || st.Failed != 18 || st.Cursor != 6 || st.Lag != 0 {
		t.Errorf("status %+v: want 6 alerts × 3 failed attempts, none delivered, the cursor past them", st)
	}
	m := metrics(t, f.Set)
	if m["vigil_sink_dropped_total{retries_exhausted}"] != 6 || m["vigil_sink_dropped_total{rejected}"] != 0 || m["vigil_sink_lag_alerts"] != 0 ||
		m["vigil_sink_failures_total"] != 18 {
		t.Errorf("metrics %v", m)
	}
}

// TestDownThenBack: alerts stored while the destination is down are
// delivered, in order, once it is back; none is dropped.
func TestDownThenBack(t *testing.T) {
	r := newReceiver(t)
	r.down()
	w := &waits{block: make(chan struct{}), began: make(chan struct{}, 1)}
	f := start(t, config(t, r.url, r.caFile, 3), w, 0)
	f.put(t, sinktest.IDs("al-", 0, 5)...)
	<-w.began
	f.put(t, sinktest.IDs("al-", 5, 5)...)
	waitFor(t, "the lag", func() bool { return f.Status()[0].Lag == 10 })
	r.up(t)
	close(w.block)
	waitFor(t, "the deliveries", func() bool { return f.Status()[0].Delivered == 10 })
	if got := r.ids(); !slices.Equal(got, sinktest.IDs("al-", 0, 10)) {
		t.Errorf("received %v, want the 10 alerts in order", got)
	}
	f.Stop()
	st := f.Status()[0]
	if len(st.Dropped) != 0 || st.Failed == 0 || st.Lag != 0 || sinktest.Cursor(t, f.st, "soc") != 10 {
		t.Errorf("status %+v, saved cursor %d", st, sinktest.Cursor(t, f.st, "soc"))
	}
}

// TestShutdownDrains: what is stored when shutdown begins is delivered
// within the drain time; with the destination down, nothing is dropped at
// the deadline: the alerts stay in the store, the cursor before them, and
// the next start delivers them.
func TestShutdownDrains(t *testing.T) {
	r := newReceiver(t)
	f := start(t, config(t, r.url, r.caFile, 3), nil, 10*time.Second)
	sinktest.PutIDs(t, f.st, sinktest.IDs("al-", 0, 20)...)
	f.Stop()
	if st := f.Status()[0]; st.Delivered != 20 || r.received() != 20 || sinktest.Cursor(t, f.st, "soc") != 20 {
		t.Errorf("after the drain: delivered %d, received %d, cursor %d, want 20", st.Delivered, r.received(), sinktest.Cursor(t, f.st, "soc"))
	}

	down := newReceiver(t)
	down.down()
	c := config(t, down.url, down.caFile, 100)
	f = start(t, c, nil, 50*time.Millisecond)
	f.put(t, sinktest.IDs("al-", 0, 5)...)
	waitFor(t, "a failed attempt", func() bool { return f.Status()[0].Failed > 0 })
	f.Stop()
	if st := f.Status()[0]; len(st.Dropped) != 0 || st.Delivered != 0 || st.Lag != 5 || sinktest.Cursor(t, f.st, "soc") != 0 {
		t.Fatalf("down target at shutdown: %+v, cursor %d: want nothing dropped, the 5 alerts left in the store", st, sinktest.Cursor(t, f.st, "soc"))
	}
	down.up(t)
	f = startOn(t, f.st, c, nil, 0)
	waitFor(t, "the deliveries after the restart", func() bool { return f.Status()[0].Delivered == 5 })
	if got := down.ids(); !slices.Equal(got, sinktest.IDs("al-", 0, 5)) {
		t.Errorf("received %v after the restart", got)
	}

	// A destination that does not answer: the deadline cuts the attempt
	// under way, and that alert too stays in the store.
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	hung := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer hung.Close()
	defer close(release)
	c = config(t, hung.URL, down.caFile, 100) // httptest serves one certificate
	f = start(t, c, nil, 50*time.Millisecond)
	f.put(t, "al-hung")
	<-arrived
	f.Stop()
	if st := f.Status()[0]; len(st.Dropped) != 0 || st.Delivered != 0 || st.Failed != 0 || sinktest.Cursor(t, f.st, "soc") != 0 {
		t.Errorf("an attempt cut by the deadline: %+v, cursor %d: want the alert left in the store, not counted as failed", st, sinktest.Cursor(t, f.st, "soc"))
	}
}

// TestNewSinkStartsAtLatest: a sink without a saved cursor sends nothing
// stored before it started, and everything after.
func TestNewSinkStartsAtLatest(t *testing.T) {
	r := newReceiver(t)
	st := sinktest.OpenStore(t)
	sinktest.PutIDs(t, st, "old-1", "old-2", "old-3")
	c := config(t, r.url, r.caFile, 3)
	f := startOn(t, st, c, nil, 0)
	waitFor(t, "the cursor to be saved", func() bool { return sinktest.Cursor(t, st, "soc") == 3 })
	f.put(t, "new-1", "new-2")
	waitFor(t, "the new alerts", func() bool { return f.Status()[0].Delivered == 2 })
	if got := r.ids(); !slices.Equal(got, []string{"new-1", "new-2"}) {
		t.Errorf("received %v, want only the alerts stored after the start", got)
	}

	// Primed (as the server does before detection starts), a new sink
	// takes what is stored after Prime, even before its worker runs.
	r2 := newReceiver(t)
	c2 := config(t, r2.url, r2.caFile, 3)
	c2.Name = "soc2"
	tg, err := webhook.New(c2, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	set := sink.NewSet(sink.SetOptions{Store: st, Poll: 5 * time.Millisecond, Sinks: []*sink.Sink{sink.New(sink.Options{Config: c2, Target: tg})}})
	if err := set.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sinktest.Cursor(t, st, "soc2"); got != 5 {
		t.Fatalf("primed cursor %d, want 5", got)
	}
	sinktest.PutIDs(t, st, "new-3")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { set.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the alert stored between Prime and Run", func() bool { return set.Status()[0].Delivered == 1 })
	if got := r2.ids(); !slices.Equal(got, []string{"new-3"}) {
		t.Errorf("received %v", got)
	}
}

// TestFilteredAdvanceCursor: alerts the filter refuses move the cursor
// (saved, so a restart does not read them again); the others are
// delivered. A restart resumes from the saved cursor, sending nothing
// twice.
func TestFilteredAdvanceCursor(t *testing.T) {
	r := newReceiver(t)
	c := config(t, r.url, r.caFile, 3)
	c.Filter = sink.Filter{MinSeverity: "critical"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	st := sinktest.OpenStore(t)
	sinktest.SetCursor(t, st, "soc", 0)
	var as []*alert.Alert
	for i, sev := range []event.Severity{event.SeverityHigh, event.SeverityCritical, event.SeverityLow, event.SeverityCritical, event.SeverityMedium} {
		a := sinktest.Alert(fmt.Sprintf("al-%d", i))
		a.Severity = sev
		as = append(as, a)
	}
	shadow := sinktest.Alert("al-shadow")
	shadow.Severity, shadow.Shadow = event.SeverityCritical, true
	sinktest.Put(t, st, append(as, shadow)...)
	f := startOn(t, st, c, nil, 0)
	waitFor(t, "the cursor past every alert", func() bool { return f.Status()[0].Cursor == 6 })
	f.Stop()
	if st := f.Status()[0]; st.Delivered != 2 || st.Filtered != 4 || st.Lag != 0 {
		t.Errorf("status %+v: want 2 delivered, 4 filtered", st)
	}
	if got := sinktest.Cursor(t, st, "soc"); got != 6 {
		t.Errorf("saved cursor %d, want 6: filtered alerts move it too", got)
	}
	// The cursor survives the restart: only what comes after it is read.
	last := sinktest.Alert("al-after")
	last.Severity = event.SeverityCritical
	sinktest.Put(t, st, last)
	f = startOn(t, st, c, nil, 0)
	waitFor(t, "the alert after the restart", func() bool { return f.Status()[0].Delivered == 1 })
	if got := r.ids(); !slices.Equal(got, []string{"al-1", "al-3", "al-after"}) {
		t.Errorf("received %v", got)
	}
	if st := f.Status()[0]; st.Filtered != 0 || st.Cursor != 7 {
		t.Errorf("after the restart: %+v: nothing before the saved cursor is read again", st)
	}
}

// TestCrashRestart: kill the sink set mid-stream; a new one on the same
// store delivers every alert at least once.
func TestCrashRestart(t *testing.T) {
	r := newReceiver(t)
	c := config(t, r.url, r.caFile, 3)
	sinktest.CrashRestart(t, sinktest.Destination{Config: c,
		Target: func(t testing.TB) sink.Target {
			tg, err := webhook.New(c, sink.Env{})
			if err != nil {
				t.Fatal(err)
			}
			return tg
		},
		Received: r.counts}, 400)
}

func TestConfigFiles(t *testing.T) {
	r := newReceiver(t)
	c := config(t, r.url, r.caFile, 1)
	os.Chmod(c.SecretFile, 0o644)
	if _, err := webhook.New(c, sink.Env{}); err == nil {
		t.Error("a world-readable secret file was accepted")
	}
	os.WriteFile(c.SecretFile, []byte("short"), 0o600)
	if _, err := webhook.New(c, sink.Env{}); err == nil {
		t.Error("a short secret was accepted")
	}
	c.SecretFile, c.SecretEnv = "", "VIGIL_TEST_SECRET"
	if _, err := webhook.New(c, sink.Env{Getenv: func(string) string { return "" }}); err == nil {
		t.Error("an unset secret variable was accepted")
	}
	if _, err := webhook.New(c, sink.Env{Getenv: func(string) string { return secret }}); err != nil {
		t.Errorf("secret from the environment: %v", err)
	}
	c.TLS.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := webhook.New(c, sink.Env{Getenv: func(string) string { return secret }}); err == nil {
		t.Error("a missing CA file was accepted")
	}
}

// BenchmarkWebhookSend measures the delivery path of one alert: JSON,
// signature, HTTPS POST over a kept-alive connection, answer.
func BenchmarkWebhookSend(b *testing.B) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	caFile := filepath.Join(b.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	c := config(b, srv.URL, caFile, 0)
	tg, err := webhook.New(c, sink.Env{})
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close()
	a := sinktest.Alert("al-bench")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m := &sink.Message{Alert: a, JSON: alert.AppendJSON(nil, a)}
		if err := tg.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFollowWebhook measures the follow path: alerts read from a
// SQLite store in batches, filtered, turned into JSON, signed and POSTed
// one at a time to a local HTTPS receiver, the cursor saved as it goes.
// Storing the alerts is not timed. Reports alerts/s.
func BenchmarkFollowWebhook(b *testing.B) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	caFile := filepath.Join(b.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	c := config(b, srv.URL, caFile, 0)
	st := sinktest.OpenStore(b)
	sinktest.SetCursor(b, st, c.Name, 0)
	sinktest.PutIDs(b, st, sinktest.IDs("al-", 0, b.N)...)
	b.ReportAllocs()
	b.ResetTimer()
	f := startOn(b, st, c, nil, 0)
	waitFor(b, "every alert", func() bool { return f.Status()[0].Cursor == int64(b.N) })
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	if st := f.Status()[0]; st.Delivered != int64(b.N) {
		b.Fatalf("delivered %d of %d", st.Delivered, b.N)
	}
}

// TestCursorOutOfRange: a cursor past the newest alert (a replaced store)
// would skip every alert until the numbers pass it: the sink starts after
// the newest instead. A cursor that is not a number stops the start with
// an error naming the key.
func TestCursorOutOfRange(t *testing.T) {
	r := newReceiver(t)
	c := config(t, r.url, r.caFile, 3)
	st := sinktest.OpenStore(t)
	sinktest.PutIDs(t, st, "old-1", "old-2")
	sinktest.SetCursor(t, st, "soc", 99)
	f := startOn(t, st, c, nil, 0)
	waitFor(t, "the cursor to be reset", func() bool { return sinktest.Cursor(t, st, "soc") == 2 })
	f.put(t, "new-1")
	waitFor(t, "the next alert", func() bool { return f.Status()[0].Delivered == 1 })
	if got := r.ids(); !slices.Equal(got, []string{"new-1"}) {
		t.Errorf("received %v", got)
	}
	f.Stop()

	if _, err := st.PutConfig(context.Background(), store.AllTenants(), store.ConfigChange{Key: sink.CursorKey("soc"), Value: []byte("x1")}); err != nil {
		t.Fatal(err)
	}
	tg, err := webhook.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	set := sink.NewSet(sink.SetOptions{Store: st, Sinks: []*sink.Sink{sink.New(sink.Options{Config: c, Target: tg})}})
	if err := set.Prime(context.Background()); err == nil || !strings.Contains(err.Error(), "sink-cursor/soc") {
		t.Errorf("a cursor that is not a number: %v", err)
	}
}
