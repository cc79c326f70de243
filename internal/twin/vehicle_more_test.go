package twin

import (
	"testing"

	"github.com/vigil-project/vigil/internal/event"
)

func linkChange(id string, at int64, account string, kind event.ChangeKind) *event.Event {
	return &event.Event{ID: id, Source: "acct", Type: event.TypeAccountChange, Time: at,
		AccountChange: &event.AccountChange{Account: account, Change: kind, Vehicle: "V1"}}
}

func TestVehicleLinks(t *testing.T) {
	v := &Vehicle{}
	v.Apply(linkChange("a", 10, "acc-1", event.ChangeVehicleLinked))
	v.Apply(linkChange("b", 20, "acc-2", event.ChangeDigitalKeyAdded))
	v.Apply(linkChange("c", 30, "acc-2", event.ChangeVehicleUnlinked))
	v.Apply(linkChange("d", 25, "acc-2", event.ChangeVehicleLinked)) // older than the unlink: ignored
	v.Apply(linkChange("e", 5, "acc-1", event.ChangeEmail))          // not a link change
	l := v.Links()
	if a := l.Find("acc-1"); a == nil || !a.Linked || a.At != 10 {
		t.Fatalf("acc-1: %+v", a)
	}
	if a := l.Find("acc-2"); a == nil || a.Linked || a.By != event.ChangeVehicleUnlinked || a.Ref.ID != "c" {
		t.Fatalf("acc-2: %+v", a)
	}
	v.Apply(linkChange("f", 40, "acc-3", event.ChangeOwnershipTransfer))
	if l.Transfer.At != 40 || l.Transfer.To != "acc-3" || l.Find("acc-1").Linked || !l.Find("acc-3").Linked {
		t.Fatalf("after the transfer: %+v", l)
	}
	for i := range MaxVehicleLinks + 2 {
		v.Apply(linkChange("g", int64(50+i), "acc-x"+string(rune('a'+i)), event.ChangeVehicleLinked))
	}
	if len(l.List) != MaxVehicleLinks {
		t.Errorf("%d links kept, want the bound %d", len(l.List), MaxVehicleLinks)
	}
	// A full list forgets links first: the unlinks of acc-1 (by the
	// transfer) and acc-2 stay, whatever came after them.
	if a, b := l.Find("acc-1"), l.Find("acc-2"); a == nil || a.Linked || b == nil || b.Linked {
		t.Errorf("an unlink was forgotten while links were kept: acc-1 %+v, acc-2 %+v", a, b)
	}
	if l.Find("acc-3") != nil || l.Find("acc-xa") != nil || l.Find("acc-x"+string(rune('a'+MaxVehicleLinks+1))) == nil {
		t.Errorf("the oldest links were not the ones forgotten: %+v", l.List)
	}
	// Only unlinks: the oldest goes.
	u := &Vehicle{}
	for i := range MaxVehicleLinks + 1 {
		u.Apply(linkChange("u", int64(i), "acc-u"+string(rune('a'+i)), event.ChangeVehicleUnlinked))
	}
	if ul := u.Links(); len(ul.List) != MaxVehicleLinks || ul.Find("acc-ua") != nil || ul.Find("acc-ub") == nil {
		t.Errorf("a full list of unlinks: %+v", ul.List)
	}
	if (&Vehicle{}).Links() != nil || (*Links)(nil).Find("x") != nil {
		t.Error("a twin without link changes has links")
	}
}

func TestAwaiting(t *testing.T) {
	m := &More{}
	for i := range MaxAwaitingPerKind {
		if _, full := m.Await(Awaiting{Kind: AwaitSMSCommand, ID: uint64(i), Deadline: int64(100 + i)}); full {
			t.Fatal("full too early")
		}
	}
	m.Await(Awaiting{Kind: AwaitIDS, ID: 99, Deadline: 50})
	old, full := m.Await(Awaiting{Kind: AwaitSMSCommand, ID: 7, Deadline: 200})
	if !full || old.ID != 0 {
		t.Fatalf("a full kind must hand back its oldest: %+v %v", old, full)
	}
	if !m.Has(AwaitIDS, 99) || m.Has(AwaitIDS, 1) {
		t.Error("Has")
	}
	if n := m.Resolve(AwaitSMSCommand, func(a *Awaiting) bool { return a.ID == 2 }); n != 1 {
		t.Errorf("Resolve closed %d", n)
	}
	var due []uint64
	m.Due(AwaitSMSCommand, 103, func(a Awaiting) { due = append(due, a.ID) })
	if len(due) != 2 || due[0] != 1 || due[1] != 3 {
		t.Errorf("due %v, want [1 3]", due)
	}
	m.Due(AwaitIDS, 1000, func(Awaiting) {})
	m.Due(AwaitSMSCommand, 1000, func(Awaiting) {})
	if m.Awaiting != nil {
		t.Errorf("left %+v", m.Awaiting)
	}
}

func TestNonceRing(t *testing.T) {
	var r NonceRing
	for i := range uint64(MaxNonces + 3) {
		r.Add(i + 1)
	}
	if r.Seen(1) || r.Seen(3) || !r.Seen(4) || !r.Seen(MaxNonces+3) || r.Seen(0) {
		t.Errorf("ring %+v", r)
	}
}

func TestSpoofEpisode(t *testing.T) {
	const s = int64(1e9)
	fix := func(id string, at int64, lat float64) *event.Event {
		return &event.Event{ID: id, Type: event.TypeTelemetry, Time: 1e18 + at,
			Telemetry: &event.Telemetry{Position: event.Position{Lat: lat, Lon: 11}}}
	}
	v := &Vehicle{}
	v.Apply(fix("home", 0, 48))
	far := fix("far", 60*s, 52) // 445 km in a minute
	v.LastSpoofAlert = far.Time // a detector alerted on it
	v.Apply(far)
	if v.FixRef.ID != "home" {
		t.Fatalf("the twin moved to the spoofed fix")
	}
	v.Apply(fix("home2", 120*s, 48.001))
	if v.FixRef.ID != "home2" {
		t.Fatalf("the twin did not follow the plausible track: %s", v.FixRef.ID)
	}
	v.Apply(fix("far2", 600*s, 52))
	if v.FixRef.ID != "home2" {
		t.Fatalf("a jump within the episode moved the twin")
	}
	// A vehicle that really moved is followed again once the episode is over.
	v.Apply(fix("far3", 60*s+SpoofEpisode+s, 52))
	if v.FixRef.ID != "far3" {
		t.Fatalf("the episode never ended: %s", v.FixRef.ID)
	}
}
