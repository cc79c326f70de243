package live

import (
	"errors"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

func mk(id, tenant string, c alert.Category, s event.Severity) store.Alert {
	return store.Alert{Alert: alert.Alert{ID: id, Tenant: tenant, Category: c, Severity: s}}
}

func TestFilter(t *testing.T) {
	a := mk("a1", "fleet-a", alert.CategoryUnset+1, event.SeverityUnset+3) // high
	for _, c := range []struct {
		name string
		f    Filter
		want bool
	}{
		{"all tenants", Filter{Scope: store.AllTenants()}, true},
		{"its tenant", Filter{Scope: store.TenantScope("fleet-a")}, true},
		{"another tenant", Filter{Scope: store.TenantScope("fleet-b")}, false},
		{"zero scope admits nothing", Filter{}, false},
		{"its category", Filter{Scope: store.AllTenants(), Category: a.Category}, true},
		{"another category", Filter{Scope: store.AllTenants(), Category: a.Category + 1}, false},
		{"severity at least its own", Filter{Scope: store.AllTenants(), MinSeverity: a.Severity}, true},
		{"severity at least lower", Filter{Scope: store.AllTenants(), MinSeverity: a.Severity - 1}, true},
		{"severity at least higher", Filter{Scope: store.AllTenants(), MinSeverity: a.Severity + 1}, false},
	} {
		if got := c.f.Match(&a); got != c.want {
			t.Errorf("%s: Match = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPublishFansOut(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	b := New(Options{Now: func() time.Time { return now }})
	all, _ := b.Subscribe(Filter{Scope: store.AllTenants()})
	onlyB, _ := b.Subscribe(Filter{Scope: store.TenantScope("fleet-b")})
	b.Publish(mk("a1", "fleet-a", 1, 1))
	b.Publish(mk("b1", "fleet-b", 1, 1))

	got := func(s *Subscription) []string {
		var ids []string
		for {
			select {
			case a := <-s.Alerts():
				if a.Status != store.StatusNew || a.Created != now.UnixNano() || a.Updated != a.Created {
					t.Errorf("%s: status %v, created %d, updated %d: want new, now, now", a.ID, a.Status, a.Created, a.Updated)
				}
				ids = append(ids, a.ID)
			default:
				return ids
			}
		}
	}
	if ids := got(all); len(ids) != 2 || ids[0] != "a1" || ids[1] != "b1" {
		t.Errorf("all tenants received %v, want [a1 b1]", ids)
	}
	if ids := got(onlyB); len(ids) != 1 || ids[0] != "b1" {
		t.Errorf("fleet-b received %v, want [b1]", ids)
	}
}

// TestOverflow: a subscriber that does not read is dropped once its buffer
// is full; the others keep receiving, and publishing never blocks.
func TestOverflow(t *testing.T) {
	b := New(Options{Buffer: 3})
	slow, _ := b.Subscribe(Filter{Scope: store.AllTenants()})
	fast, _ := b.Subscribe(Filter{Scope: store.AllTenants()})
	received := 0
	for i := range 10 {
		b.Publish(mk(string(rune('a'+i)), "fleet-a", 1, 1))
		<-fast.Alerts()
		received++
	}
	if received != 10 || fast.Overflowed() {
		t.Errorf("the fast subscriber received %d of 10 (overflowed %v)", received, fast.Overflowed())
	}
	n := 0
	for range slow.Alerts() { // closed after what it buffered
		n++
	}
	if n != 3 || !slow.Overflowed() {
		t.Errorf("the slow subscriber kept %d alerts (overflowed %v), want its buffer of 3 and overflowed", n, slow.Overflowed())
	}
	if b.Len() != 1 {
		t.Errorf("%d subscribers after the overflow, want 1", b.Len())
	}
}

func TestLimitAndClose(t *testing.T) {
	b := New(Options{MaxSubscribers: 2})
	s1, err1 := b.Subscribe(Filter{Scope: store.AllTenants()})
	_, err2 := b.Subscribe(Filter{Scope: store.AllTenants()})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := b.Subscribe(Filter{Scope: store.AllTenants()}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("a third subscriber: %v, want ErrTooMany", err)
	}
	s1.Close()
	s1.Close() // twice is fine
	s3, err := b.Subscribe(Filter{Scope: store.AllTenants()})
	if err != nil {
		t.Fatalf("a place was freed, yet: %v", err)
	}
	b.Close()
	if _, ok := <-s3.Alerts(); ok || s3.Overflowed() {
		t.Errorf("after Close the channel is open (%v) or reports an overflow (%v)", ok, s3.Overflowed())
	}
	if _, err := b.Subscribe(Filter{Scope: store.AllTenants()}); !errors.Is(err, ErrClosed) {
		t.Errorf("subscribing after Close: %v, want ErrClosed", err)
	}
	b.Publish(mk("x", "fleet-a", 1, 1)) // no subscriber, no panic
	s3.Close()
}
