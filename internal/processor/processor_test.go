package processor

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/sqlite"
)

// TestRefusedAlertDoesNotHoldBackOthers: an alert the store refuses as
// invalid is counted and logged; the rest of its batch is stored, and the
// writer does not retry it for ever.
func TestRefusedAlertDoesNotHoldBackOthers(t *testing.T) {
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()
	mk := func(id string, first, last int64) pending {
		a := &alert.Alert{ID: id, Time: last, FirstSeen: first, LastSeen: last, Tenant: "fleet-a", Category: alert.CredentialAttack,
			Severity: event.SeverityHigh, Detector: "d", Title: "t", Explanation: "e", Entities: alert.Entities{Account: "acc-" + id},
			Evidence: []event.Ref{{Source: "s", ID: id}}, Mappings: alert.DefaultMappings(alert.CredentialAttack), Incident: "inc-" + id}
		return pending{a: a, inc: &alert.Incident{ID: a.Incident, FirstSeen: first, LastSeen: last, Severity: a.Severity}}
	}
	good := mk("good", t0, t0+1e9)
	bad := mk("bad", t0+2e9, t0) // last before first: the store refuses it
	done := make(chan struct{})
	go func() {
		p.store([]pending{bad, good})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the writer is stuck retrying an alert the store refuses")
	}
	if _, err := st.GetAlert(context.Background(), store.AllTenants(), "good"); err != nil {
		t.Errorf("the valid alert was not stored: %v", err)
	}
	if n := p.Stats().AlertsRefused; n != 1 {
		t.Errorf("refused %d, want 1", n)
	}
}
