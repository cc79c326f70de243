package gate

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/twin"
)

// TestRingDrop: dropping decisions keeps the others, newest first, also
// when the ring has wrapped, and new ones go on after them.
func TestRingDrop(t *testing.T) {
	r := newRing(4)
	for _, v := range []string{"a", "x", "b", "x", "c", "d"} { // the ring keeps b, x, c, d
		r.add(&DecisionRecord{Tenant: "t", Vehicle: v})
	}
	r.drop(func(d *DecisionRecord) bool { return d.Vehicle == "x" })
	names := func() []string {
		var out []string
		for _, d := range r.newest(10, func(*DecisionRecord) bool { return true }) {
			out = append(out, d.Vehicle)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"d", "c", "b"}) {
		t.Fatalf("after the drop: %v", got)
	}
	r.add(&DecisionRecord{Tenant: "t", Vehicle: "e"})
	r.add(&DecisionRecord{Tenant: "t", Vehicle: "f"})
	if got := names(); !slices.Equal(got, []string{"f", "e", "d", "c"}) {
		t.Fatalf("after two more: %v", got)
	}
}

// TestViewForgetsAccountInLinks: an erased account leaves the links of
// every vehicle of its tenant (not another tenant's), as a new set.
func TestViewForgetsAccountInLinks(t *testing.T) {
	v := newView()
	old := &linkSet{List: []linkEntry{{Account: "gone", Linked: true}, {Account: "kept", Linked: true}}, TransferAt: 5, TransferTo: "gone"}
	v.setLinks(vkey{"t", "V1"}, old)
	other := &linkSet{List: []linkEntry{{Account: "gone", Linked: true}}}
	v.setLinks(vkey{"u", "V1"}, other)
	v.setTrail(vkey{"t", "gone"}, trail{ChangeAt: 1}, true)
	v.forget(vkey{"t", "gone"}, twin.SubjectAccount)
	l := v.links(vkey{"t", "V1"})
	if l == old || len(l.List) != 1 || l.List[0].Account != "kept" || l.TransferTo != "" || l.TransferAt != 5 {
		t.Errorf("links after the erasure: %+v", l)
	}
	if len(old.List) != 2 {
		t.Error("the set a reader may hold was changed in place")
	}
	if v.links(vkey{"u", "V1"}).find("gone") == nil {
		t.Error("another tenant's account of the same name was forgotten")
	}
	if _, ok := v.trail(vkey{"t", "gone"}); ok {
		t.Error("the account's trail stays")
	}
}

// TestErasureKeepsTheObserverTimer erases the vehicle whose event set the
// shard's copying timer. The engine drops that vehicle's timers with it;
// the observer must still copy the shard's later events on a quiet stream
// (the engine's close moves every frontier, as its ticks do).
func TestErasureKeepsTheObserverTimer(t *testing.T) {
	for _, erase := range []bool{false, true} {
		g, eng := observed(t)
		push(t, eng, fix("V-ERASED", 50, "ON", "-2h"))
		eng.Flush()
		if erase {
			eng.Forget("fleet-a", twin.Subject{Kind: twin.SubjectVehicle, Value: "V-ERASED"})
		}
		push(t, eng, link("acc-1", "V-2", "vehicle_linked", "-1h"), link("acc-1", "V-2", "vehicle_unlinked", "-1m"))
		eng.Close()
		if got := codes(ask(t, g, "V-2", "unlock", "acc-1")); got != "deny unlinked" {
			t.Errorf("erased before: %v: an unlinked account gets %q", erase, got)
		}
	}
}

// TestEvictedVehiclesLeaveTheView: vehicles the engine drops as idle leave
// the gate's copies too, so invented vehicles in old account changes do not
// grow the gate's memory past the engine's.
func TestEvictedVehiclesLeaveTheView(t *testing.T) {
	g, eng := observed(t)
	events := []string{fix("V-NOW", 0, "OFF", "-3h")}
	for i := range 1000 {
		events = append(events, link("acc-x", fmt.Sprintf("VX-%d", i), "vehicle_linked", "-960h"))
	}
	events = append(events, link("acc-1", "V-NOW", "vehicle_linked", "-2h"), fix("V-NOW", 0, "OFF", "-1h"), fix("V-NOW", 0, "OFF", "0s"))
	push(t, eng, events...)
	eng.Flush()
	left := eng.StateSize()[detect.KindVehicle]
	evicted := eng.Stats().Evicted
	eng.Close()
	g.sweep()
	if evicted < 1000 || left != 1 {
		t.Fatalf("the engine evicted %d keys and holds %d vehicles: the test needs the 1,000 old ones gone", evicted, left)
	}
	if n := g.metrics.linked.Load(); n != 1 {
		t.Errorf("the gate holds links of %d vehicles, the engine of %d", n, left)
	}
	if got := codes(ask(t, g, "V-NOW", "unlock", "acc-1")); got != "allow " {
		t.Errorf("the vehicle that stays: %q", got)
	}
}

// TestErasureCopiesPending: erasing the vehicle that set the shard's
// copying timer copies the other vehicles waiting for it, here a late
// unlink, before the engine's next tick would have.
func TestErasureCopiesPending(t *testing.T) {
	g, eng := observed(t)
	push(t, eng, link("acc-1", "V-2", "vehicle_linked", "-1h"), fix("V-ERASED", 50, "ON", "-1m"), link("acc-1", "V-2", "vehicle_unlinked", "-90s"))
	eng.Flush()
	eng.Forget("fleet-a", twin.Subject{Kind: twin.SubjectVehicle, Value: "V-ERASED"})
	eng.Close()
	if got := codes(ask(t, g, "V-2", "unlock", "acc-1")); got != "deny unlinked" {
		t.Errorf("an unlink pending at the erasure: %q", got)
	}
}

// observed is a gate with no open incidents, loaded, and a one-shard
// engine whose only detector is the gate's observer.
func observed(t *testing.T) (*Gate, *engine.Engine) {
	t.Helper()
	g, err := New(Options{Config: Config{}, Incidents: openIncidents{}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.loadIncidents(context.Background()); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Shards: 1, Detectors: []detect.Detector{g.Observer()}})
	if err != nil {
		t.Fatal(err)
	}
	return g, eng
}
