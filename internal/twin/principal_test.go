package twin

import (
	"testing"

	"github.com/vigil-project/vigil/internal/event"
)

func TestHitWindow(t *testing.T) {
	var w HitWindow
	ref := func(id string) event.Ref { return event.Ref{Source: "s", ID: id} }
	if !w.Add(Hit{At: 10, Key: 1, Name: "a", Ref: ref("1")}, 100, 3) || w.Add(Hit{At: 20, Key: 1, Ref: ref("2")}, 100, 3) {
		t.Fatal("a repeated key must not be added")
	}
	w.Add(Hit{At: 30, Key: 2, Name: "b", Ref: ref("3")}, 100, 3)
	w.Add(Hit{At: 40, Key: 3, Name: "c", Ref: ref("3")}, 100, 3)
	if w.Add(Hit{At: 50, Key: 4, Ref: ref("4")}, 100, 3) || len(w.List) != 3 {
		t.Fatalf("a full window must keep its first hits: %+v", w.List)
	}
	if refs := w.Refs(10); len(refs) != 2 || refs[0].ID != "1" || refs[1].ID != "3" {
		t.Errorf("Refs = %v, want each event once, first first", refs)
	}
	if names := w.Names(2); len(names) != 2 || names[1] != "b" {
		t.Errorf("Names = %v", names)
	}
	if !w.Add(Hit{At: 125, Key: 5}, 100, 3) || len(w.List) != 3 || w.List[0].Key != 2 {
		t.Fatalf("hits older than the window must go: %+v", w.List)
	}
	if first, last := w.Span(); first != 30 || last != 125 {
		t.Errorf("Span = %d, %d", first, last)
	}
}

func TestLinks(t *testing.T) {
	var p Principal
	if _, known := p.Links.Lookup("V1"); known {
		t.Fatal("a nil set knows nothing")
	}
	p.LearnLink(&event.AccountChange{Change: event.ChangeVehicleLinked, Vehicle: "V1"})
	p.LearnLink(&event.AccountChange{Change: event.ChangeVehicleLinked, Vehicle: "V2"})
	p.LearnLink(&event.AccountChange{Change: event.ChangeOwnershipTransfer, Vehicle: "V1"})
	p.LearnLink(&event.AccountChange{Change: event.ChangeEmail})
	if linked, known := p.Links.Lookup("V1"); !known || linked {
		t.Error("V1 was transferred away")
	}
	if linked, _ := p.Links.Lookup("V2"); !linked {
		t.Error("V2 is linked")
	}
	if l, u := p.Links.Count(); l != 1 || u != 1 {
		t.Errorf("Count = %d, %d", l, u)
	}
	for i := range MaxLinks + 10 {
		p.Links.Set(string(rune('a'+i%26))+string(rune(i)), true)
	}
	if len(p.Links.List) != MaxLinks {
		t.Errorf("%d links kept, want the bound %d", len(p.Links.List), MaxLinks)
	}
}

func TestKnownDevices(t *testing.T) {
	var k KnownDevices
	for i := range 6 {
		k.Add(uint32(i + 1))
	}
	if k.N != 4 || k.Knows(1) || k.Knows(2) || !k.Knows(6) || !k.Knows(3) {
		t.Fatalf("want the four most recent: %+v", k)
	}
	k.Add(3) // used again: most recent now
	k.Add(7)
	if !k.Knows(3) || k.Knows(4) {
		t.Errorf("the least recently used goes first: %+v", k)
	}
}

func TestLookupWindow(t *testing.T) {
	var w LookupWindow
	for i, serial := range []int32{100, 101, 101, 250, -1} {
		w.Add(Lookup{At: int64(i), Line: 7, VIN: uint64(serial + 1000), Serial: serial, NotFound: i%2 == 0}, 100, 10, 3)
	}
	if w.Distinct != 4 || w.Seq != 1 || w.NotFound != 3 {
		t.Fatalf("distinct %d seq %d notFound %d", w.Distinct, w.Seq, w.NotFound)
	}
	w.Add(Lookup{At: 150, Line: 7, VIN: 1, Serial: 102}, 100, 10, 3)
	if len(w.List) != 1 || w.Distinct != 1 || w.Seq != 0 || w.NotFound != 0 {
		t.Errorf("counts must follow the window: %+v", w)
	}
}

func TestReadVolume(t *testing.T) {
	var v ReadVolume
	const min = int64(60e9)
	v.Count(0, 0, 10)
	v.Count(15*min, 0, 5)
	if got := v.Count(59*min, 1, 2); got != 2 || v.Last(0) != 15 {
		t.Fatalf("last hour: %v location, %v personal", v.Last(0), got)
	}
	if got := v.Count(65*min, 0, 1); got != 6 {
		t.Errorf("after an hour the first slot is gone: %v", got)
	}
	if got := v.Count(500*min, 0, 1); got != 1 {
		t.Errorf("after a long gap only the new read counts: %v", got)
	}
}

func TestTenantHealthRings(t *testing.T) {
	var h TenantHealth
	for i := range 40 {
		h.Push(&h.Telemetry, i)
		h.Advance(int64(i))
	}
	if got := h.Sum(&h.Telemetry, 3); got != 39+38+37 {
		t.Errorf("Sum = %d", got)
	}
	if got := h.SumAgo(&h.Telemetry, 3, 2); got != 36+35 {
		t.Errorf("SumAgo = %d", got)
	}
}
