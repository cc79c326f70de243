package pseudo

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/ingest/broker"
	"github.com/vigil-project/vigil/internal/ingest/broker/brokertest"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
	"github.com/vigil-project/vigil/internal/store"
)

// flakySink refuses its first batch with err (as the processor does while
// detection is behind), then keeps what it is given.
type flakySink struct {
	err    error
	mu     sync.Mutex
	calls  int
	stored []httpingest.Accepted
}

func (f *flakySink) Accept(_ context.Context, b []httpingest.Accepted) ([]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls == 1 && f.err != nil {
		return nil, f.err
	}
	f.stored = append(f.stored, b...)
	return make([]bool, len(b)), nil
}

func (f *flakySink) Stored() []httpingest.Accepted {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]httpingest.Accepted(nil), f.stored...)
}

// flakyVault fails its first write.
type flakyVault struct {
	VaultStore
	failed atomic.Bool
}

func (v *flakyVault) PutConfigs(ctx context.Context, scope store.Scope, cs []store.ConfigChange) ([]store.ConfigEntry, error) {
	if !v.failed.Swap(true) {
		return nil, errors.New("the disk is full")
	}
	return v.VaultStore.PutConfigs(ctx, scope, cs)
}

// checkOnce fails unless got holds lines each pseudonymised exactly once:
// the typed event and the archived JSON.
func checkOnce(t *testing.T, p *Pseudonymiser, lines []string, got []httpingest.Accepted) {
	t.Helper()
	if len(got) != len(lines) {
		t.Fatalf("%d events stored, want %d", len(got), len(lines))
	}
	for i, want := range decodeAll(t, lines) {
		if _, err := p.Event(want, nil); err != nil {
			t.Fatal(err)
		}
		if g, w := event.AppendJSON(nil, got[i].Event), event.AppendJSON(nil, want); !bytes.Equal(g, w) {
			t.Errorf("event %s as detection sees it:\n%s\nwant it pseudonymised once:\n%s", want.ID, g, w)
		}
		if w := p.AppendArchive(nil, want); !bytes.Equal(got[i].Raw, w) {
			t.Errorf("event %s as archived:\n%s\nwant it pseudonymised once:\n%s", want.ID, got[i].Raw, w)
		}
	}
}

// TestSinkRetryPseudonymisesOnce: when the next sink or the vault refuses
// a batch, the caller's batch is as it was, and the same batch sent again
// is stored pseudonymised once — not pseudonyms of pseudonyms, which
// erasure would miss and the vault would map to pseudonyms.
func TestSinkRetryPseudonymisesOnce(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		next  error
		vault bool
	}{
		{name: "detection behind", next: httpingest.ErrOverloaded},
		{name: "store down", next: errors.New("the store is down")},
		{name: "vault write fails", vault: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := Options{Default: Settings{Fields: AllFields, LocationDecimals: 3}}
			var st store.Store
			if c.vault {
				st = openStore(t)
				o.Vault = &flakyVault{VaultStore: st}
			}
			p := newTest(t, o)
			next := &flakySink{err: c.next}
			sink := NewSink(p, next)
			batch := accepted(t, every)
			var before [][]byte
			for _, a := range batch {
				before = append(before, append(event.AppendJSON(nil, a.Event), a.Raw...))
			}
			if _, err := sink.Accept(ctx, batch); err == nil {
				t.Fatal("the first batch was accepted")
			}
			for i, a := range batch {
				if got := append(event.AppendJSON(nil, a.Event), a.Raw...); !bytes.Equal(got, before[i]) {
					t.Errorf("the refused batch's event %s was changed:\n%s\nwas\n%s", a.Event.ID, got, before[i])
				}
			}
			if _, err := sink.Accept(ctx, batch); err != nil {
				t.Fatal(err)
			}
			checkOnce(t, p, every, next.Stored())
			if !c.vault {
				return
			}
			ps := mustPseudonym(t, p, "fleet-a", Account, "acc-1042")
			if v, err := p.Reidentify(ctx, store.AllTenants(), "fleet-a", Account, ps); err != nil || v != "acc-1042" {
				t.Errorf("re-identified %q %v, want acc-1042", v, err)
			}
			twice := mustPseudonym(t, p, "fleet-a", Account, ps)
			if _, err := st.GetConfig(ctx, store.AllTenants(), "fleet-a", VaultKey(Account, twice)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the vault maps a pseudonym's pseudonym: %v", err)
			}
		})
	}
}

// TestSinkRetriedByBrokerPipeline: the broker pipeline retries the batch
// the processor refused while detection was behind; the events stored
// are pseudonymised once.
func TestSinkRetriedByBrokerPipeline(t *testing.T) {
	p := newTest(t, Options{})
	next := &flakySink{err: httpingest.ErrOverloaded}
	pl := brokertest.Pipeline(t, "mqtt-test", NewSink(p, next), "*")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	line := brokertest.Login("l-1", "fleet-a")
	var acked atomic.Bool
	if err := pl.Submit(ctx, broker.Message{Payload: []byte(line), Origin: "vehicles/1", Ack: func() error { acked.Store(true); return nil }}); err != nil {
		t.Fatal(err)
	}
	brokertest.WaitFor(t, "the message to be acknowledged", acked.Load)
	if n := pl.Stats().Retries.Load(); n == 0 {
		t.Fatal("the pipeline did not retry: the test proves nothing")
	}
	checkOnce(t, p, []string{line}, next.Stored())
}

// TestSinkHTTPResend: HTTP ingest answers 429 while detection is behind
// and the producer resends; the events stored are pseudonymised once. The
// handler decodes each request anew, so this guards the path (a handler
// that kept events between attempts would fail it).
func TestSinkHTTPResend(t *testing.T) {
	p := newTest(t, Options{})
	next := &flakySink{err: httpingest.ErrOverloaded}
	srv := httptest.NewServer(httpingest.New(httpingest.Options{Sink: NewSink(p, next)}))
	defer srv.Close()
	body := strings.Join(every, "\n") + "\n"
	for _, want := range []int{http.StatusTooManyRequests, http.StatusOK} {
		res, err := http.Post(srv.URL, "application/x-ndjson", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("status %d, want %d", res.StatusCode, want)
		}
	}
	checkOnce(t, p, every, next.Stored())
}
