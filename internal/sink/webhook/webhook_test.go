package webhook_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sink"
	"github.com/vigil-project/vigil/internal/sink/webhook"
)

const secret = "0123456789abcdef-test-secret"

// receiver is a TLS webhook endpoint that checks signatures and answers
// with the next status of its script (then 204).
type receiver struct {
	srv     *httptest.Server
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
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
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
	}))
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

func config(t testing.TB, url, caFile string, retries, queue int) sink.Config {
	dir := t.TempDir()
	sf := filepath.Join(dir, "secret")
	if err := os.WriteFile(sf, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := sink.Config{Name: "soc", Type: sink.TypeWebhook, URL: url, SecretFile: sf, Headers: map[string]string{"X-Team": "soc"},
		TLS: sink.TLS{CAFile: caFile}, Retries: &retries, QueueSize: queue, Timeout: 5 * time.Second}
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

func mkAlert(id string) *alert.Alert {
	t := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()
	return &alert.Alert{ID: id, Time: t, FirstSeen: t, LastSeen: t, Tenant: "fleet-a", Category: alert.MassCommand,
		Severity: event.SeverityHigh, Detector: "mass.command-spread", Title: "t", Explanation: "e",
		Entities: alert.Entities{Account: "acc-1"}, Mappings: alert.DefaultMappings(alert.MassCommand)}
}

// start runs a set of one sink until the test ends (or stop is called).
func start(t testing.TB, c sink.Config, w *waits, drain time.Duration) (*sink.Set, func()) {
	t.Helper()
	tg, err := webhook.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	o := sink.Options{Config: c, Target: tg}
	if w != nil {
		o.Wait = w.wait
	}
	set := sink.NewSet(drain, nil, sink.New(o))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		set.Run(ctx)
		close(done)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return set, stop
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestSignedDelivery(t *testing.T) {
	r := newReceiver(t)
	set, _ := start(t, config(t, r.srv.URL+"/hook", r.caFile, 3, 16), nil, 0)
	a := mkAlert("al-1")
	set.Publish(a)
	waitFor(t, "the delivery", func() bool { return set.Status()[0].Delivered == 1 })
	if r.received() != 1 || r.got[0]["id"] != "al-1" || r.got[0]["tenant"] != "fleet-a" || len(r.badSig) > 0 {
		t.Fatalf("received %v, bad signatures %v", r.got, r.badSig)
	}
	st := set.Status()[0]
	if st.Failed != 0 || len(st.Dropped) != 0 || st.Queued != 0 || st.LastDelivered.IsZero() {
		t.Errorf("status %+v", st)
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
	set, _ := start(t, config(t, r.srv.URL, r.caFile, 3, 16), w, 0)
	set.Publish(mkAlert("al-1"))
	waitFor(t, "the delivery", func() bool { return set.Status()[0].Delivered == 1 })
	if got := w.list(); len(got) != 2 || got[0] != 7*time.Second || got[1] != 7*time.Second {
		t.Errorf("waits %v, want the 7s Retry-After twice", got)
	}
	if st := set.Status()[0]; st.Failed != 2 || r.tries != 3 {
		t.Errorf("failed attempts %d, tries %d: want 2 and 3", st.Failed, r.tries)
	}
}

func TestExponentialBackoff(t *testing.T) {
	r := newReceiver(t, 500, 502, 500)
	w := &waits{}
	set, _ := start(t, config(t, r.srv.URL, r.caFile, 5, 16), w, 0)
	set.Publish(mkAlert("al-1"))
	waitFor(t, "the delivery", func() bool { return set.Status()[0].Delivered == 1 })
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
	set, _ := start(t, config(t, r.srv.URL, r.caFile, 5, 16), w, 0)
	set.Publish(mkAlert("al-1"))
	waitFor(t, "the drop", func() bool { return set.Status()[0].Dropped[sink.DropRejected] == 1 })
	if len(w.list()) != 0 || r.tries != 1 {
		t.Errorf("a 422 was retried: waits %v, tries %d", w.list(), r.tries)
	}
	if st := set.Status()[0]; st.LastError == "" || st.Delivered != 0 {
		t.Errorf("status %+v", st)
	}
}

// TestDownTargetDropsCounted: with the target down, the alert being
// delivered runs out of retries and the queue fills; every alert that
// could not be delivered is counted, none silently lost.
func TestDownTargetDropsCounted(t *testing.T) {
	r := newReceiver(t)
	url, ca := r.srv.URL, r.caFile
	r.srv.Close() // down: connections are refused
	w := &waits{block: make(chan struct{}), began: make(chan struct{}, 1)}
	set, _ := start(t, config(t, url, ca, 2, 2), w, 0)
	set.Publish(mkAlert("al-0"))
	<-w.began // the worker holds al-0, waiting to retry
	for i := 1; i <= 5; i++ {
		set.Publish(mkAlert("al-" + string(rune('0'+i))))
	}
	st := set.Status()[0]
	if st.Dropped[sink.DropQueueFull] != 3 || st.Queued != 3 {
		t.Fatalf("after 6 alerts into a queue of 2 with one in flight: %+v", st)
	}
	close(w.block)
	waitFor(t, "retries to run out", func() bool { return set.Status()[0].Dropped[sink.DropRetries] == 3 })
	st = set.Status()[0]
	if st.Delivered != 0 || st.Failed != 9 || st.Queued != 0 {
		t.Errorf("status %+v: want 3 alerts × 3 failed attempts, none delivered or queued", st)
	}
	// The metrics say the same.
	reg := prometheus.NewRegistry()
	reg.MustRegister(set)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	dropped := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "vigil_sink_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["sink"] == "soc" {
				dropped[labels["reason"]] = m.GetCounter().GetValue()
			}
		}
	}
	if dropped[sink.DropQueueFull] != 3 || dropped[sink.DropRetries] != 3 {
		t.Errorf("vigil_sink_dropped_total %v", dropped)
	}
}

// TestShutdownDrains: what is queued at shutdown is delivered within the
// drain time; past it, what is left is dropped and counted.
func TestShutdownDrains(t *testing.T) {
	r := newReceiver(t)
	set, stop := start(t, config(t, r.srv.URL, r.caFile, 3, 64), nil, 10*time.Second)
	for i := range 20 {
		set.Publish(mkAlert("al-" + string(rune('a'+i))))
	}
	stop()
	if st := set.Status()[0]; st.Delivered != 20 || r.received() != 20 {
		t.Errorf("after the drain: delivered %d, received %d, want 20", st.Delivered, r.received())
	}
	set.Publish(mkAlert("al-late"))
	if st := set.Status()[0]; st.Dropped[sink.DropShutdown] != 1 {
		t.Errorf("an alert published after shutdown: %+v", st)
	}

	down := newReceiver(t)
	down.srv.Close()
	set, stop = start(t, config(t, down.srv.URL, down.caFile, 100, 64), nil, 50*time.Millisecond)
	for i := range 5 {
		set.Publish(mkAlert("al-" + string(rune('a'+i))))
	}
	stop()
	if st := set.Status()[0]; st.Dropped[sink.DropShutdown] != 5 || st.Queued != 0 {
		t.Errorf("down target at shutdown: %+v, want 5 dropped at the deadline", st)
	}
}

func TestConfigFiles(t *testing.T) {
	r := newReceiver(t)
	c := config(t, r.srv.URL, r.caFile, 1, 1)
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
	c := config(b, srv.URL, caFile, 0, 1)
	tg, err := webhook.New(c, sink.Env{})
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close()
	a := mkAlert("al-bench")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m := &sink.Message{Alert: a, JSON: alert.AppendJSON(nil, a)}
		if err := tg.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
