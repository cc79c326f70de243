package pseudo

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

// simEvents is a simulated fleet's stream: every type, every attack, the
// repetition of real traffic (a vehicle reports often, accounts return).
func simEvents(b *testing.B) []*event.Event {
	s, err := sim.New(sim.Config{Seed: 5, Vehicles: 500, Duration: 2 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 1})
	if err != nil {
		b.Fatal(err)
	}
	var evs []*event.Event
	err = s.Run(context.Background(), func(ev *event.Event) error { evs = append(evs, ev); return nil }, func(sim.Label) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	return evs
}

// clone copies what Event rewrites, so each iteration starts from the
// original values.
func clone(ev *event.Event) *event.Event {
	e := *ev
	switch {
	case ev.Telemetry != nil:
		t := *ev.Telemetry
		if t.Device != nil {
			d := *t.Device
			t.Device = &d
		}
		e.Telemetry = &t
	case ev.Command != nil:
		c := *ev.Command
		e.Command = &c
	case ev.Login != nil:
		l := *ev.Login
		e.Login = &l
	case ev.AccountChange != nil:
		a := *ev.AccountChange
		e.AccountChange = &a
	case ev.APIAccess != nil:
		a := *ev.APIAccess
		a.Vehicles = append([]string(nil), a.Vehicles...)
		e.APIAccess = &a
	case ev.SMS != nil:
		m := *ev.SMS
		e.SMS = &m
	}
	return &e
}

// BenchmarkEvent is the cost per event of pseudonymisation at ingest with
// every field on: rewriting the typed event and re-encoding the archived
// JSON (with rounded coordinates), on a simulated fleet's stream. clone is
// the benchmark's own copying, to subtract; cold misses the cache on
// nearly every value (a cache of 64 entries); encode-only rounds
// coordinates and re-encodes, pseudonymising nothing. cpu-ns/event is the
// process's CPU time per event (GC included), steadier than ns/op on a
// busy machine.
func BenchmarkEvent(b *testing.B) {
	evs := simEvents(b)
	run := func(b *testing.B, p *Pseudonymiser, work bool) {
		var buf []byte
		var fresh []Mapping
		b.ReportAllocs()
		i := 0
		cpu := cpuTime()
		for b.Loop() {
			ev := clone(evs[i%len(evs)])
			i++
			if !work {
				continue
			}
			var err error
			if fresh, err = p.Event(ev, fresh[:0]); err != nil {
				b.Fatal(err)
			}
			buf = p.AppendArchive(buf[:0], ev)
		}
		if used := cpuTime() - cpu; used > 0 {
			b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/event")
		}
	}
	all := Settings{Fields: AllFields, LocationDecimals: 3}
	b.Run("clone", func(b *testing.B) { run(b, nil, false) })
	b.Run("warm", func(b *testing.B) { run(b, newTest(b, Options{Default: all}), true) })
	b.Run("cold", func(b *testing.B) { run(b, newTest(b, Options{Default: all, CacheEntries: 64}), true) })
	b.Run("encode-only", func(b *testing.B) { run(b, newTest(b, Options{Default: Settings{LocationDecimals: 3}}), true) })
}

// BenchmarkPseudonym is one value's pseudonym, cached and not.
func BenchmarkPseudonym(b *testing.B) {
	for _, c := range []struct {
		k Kind
		v string
	}{{Vehicle, "WVWZZZ1JZXW000001"}, {Account, "acc-1042"}, {IP, "203.0.113.7"}, {IP, "2001:db8:1234::7"}} {
		b.Run(c.k.String()+"/cached", func(b *testing.B) {
			p := newTest(b, Options{})
			t, _ := p.tenant("t")
			b.ReportAllocs()
			for b.Loop() {
				p.pseudonym("t", t, c.k, c.v)
			}
		})
		b.Run(c.k.String()+"/computed", func(b *testing.B) {
			p := newTest(b, Options{})
			t, _ := p.tenant("t")
			b.ReportAllocs()
			for b.Loop() {
				compute(t, c.k, c.v)
			}
		})
	}
}
