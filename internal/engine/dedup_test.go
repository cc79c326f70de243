package engine

import (
	"fmt"
	"testing"

	"github.com/vigil-project/vigil/internal/event"
)

func TestDedupWindowAndGenerations(t *testing.T) {
	d := newDedup(100)
	ev := func(id string, t int64) *event.Event {
		return &event.Event{Tenant: "t", Source: "s", ID: id, Time: t}
	}
	for i := range 5000 { // grows the set several times
		if d.seen(ev(fmt.Sprint(i), 10)) {
			t.Fatalf("event %d reported as a duplicate", i)
		}
	}
	for i := range 5000 {
		if !d.seen(ev(fmt.Sprint(i), 20)) {
			t.Fatalf("resent event %d not recognised", i)
		}
	}
	// Another tenant's event with the same source and id is not a duplicate.
	if d.seen(&event.Event{Tenant: "u", Source: "s", ID: "1", Time: 20}) {
		t.Error("another tenant's event reported as a duplicate")
	}
	// One window later the ids are in the previous generation: still known.
	if !d.seen(ev("1", 150)) {
		t.Error("forgotten after one window")
	}
	// Two windows later they are forgotten.
	d.seen(ev("x", 300))
	if d.seen(ev("2", 301)) {
		t.Error("remembered after two windows")
	}
}

func TestDedupRotatesAtTheEntryBound(t *testing.T) {
	d := newDedup(1 << 62)
	d.max = 1000
	for i := range 2500 {
		d.seen(&event.Event{Tenant: "t", Source: "s", ID: fmt.Sprint(i), Time: 1})
	}
	if d.early.Load() != 2 || d.cur.n > 1000 || d.prev.n > 1000 {
		t.Errorf("early rotations %d, sizes %d and %d", d.early.Load(), d.cur.n, d.prev.n)
	}
}

func BenchmarkDedup(b *testing.B) {
	d := newDedup(1 << 62)
	evs := make([]*event.Event, 1<<16)
	for i := range evs {
		evs[i] = &event.Event{Tenant: "fleet-a", Source: "tsp/telematics-gw", ID: fmt.Sprintf("t-%09d", i), Time: 1}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e := *evs[i&(len(evs)-1)]
		e.ID += fmt.Sprint(i >> 16) // every event new
		d.seen(&e)
	}
}

func BenchmarkDedupHash(b *testing.B) {
	d := newDedup(1 << 62)
	ev := &event.Event{Tenant: "fleet-a", Source: "tsp/telematics-gw", ID: "t-000000001-17"}
	var s uint64
	for b.Loop() {
		a, b := d.hash(ev)
		s += a ^ b
	}
	_ = s
}
