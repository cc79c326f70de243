package engine

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/snapshot"
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

// TestHashSetSnapshot: a set is restored slot for slot (written again,
// the same bytes), one emptied when its generation ended included: it
// keeps its slots.
func TestHashSetSnapshot(t *testing.T) {
	write := func(s *hashSet) []byte {
		w := snapshot.NewWriter(nil)
		s.appendSnapshot(w)
		return w.Bytes()
	}
	var s hashSet
	for i := range uint64(3000) {
		s.add(i*0x9e3779b97f4a7c15+1, i)
	}
	dense := write(&s)
	s.reset()
	emptied := write(&s)
	s.add(1, 2)
	sparse := write(&s)
	for name, b := range map[string][]byte{"dense": dense, "emptied": emptied, "sparse": sparse} {
		var got hashSet
		r := snapshot.NewReader(b)
		got.loadSnapshot(r)
		if err := r.End(); err != nil {
			t.Errorf("%s: %v", name, err)
		} else if !bytes.Equal(write(&got), b) {
			t.Errorf("%s: restored, it writes other bytes", name)
		}
	}
}
