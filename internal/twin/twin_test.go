package twin

import (
	"testing"

	"github.com/vigil-project/vigil/internal/event"
)

func TestTable(t *testing.T) {
	tb := NewTable[Principal]()
	const n = 3000 // spans several chunks
	ptrs := make([]*Principal, n)
	for i := range n {
		p, slot, created := tb.Get(key(i))
		if !created || slot != uint32(i) {
			t.Fatalf("Get(%d): slot %d created %v", i, slot, created)
		}
		p.LastSeen = int64(i)
		ptrs[i] = p
	}
	for i := range n {
		// Entries never move while the table grows.
		if p := tb.Lookup(key(i)); p != ptrs[i] || p.LastSeen != int64(i) {
			t.Fatalf("entry %d moved or changed", i)
		}
	}
	tb.Delete(key(7))
	if tb.Lookup(key(7)) != nil || tb.Len() != n-1 || tb.Holds(key(7), 7) {
		t.Fatal("Delete left the entry")
	}
	p, slot, created := tb.Get("new")
	if !created || slot != 7 || p.LastSeen != 0 || !tb.Holds("new", 7) {
		t.Fatalf("freed slot not reused clean: slot %d, %+v", slot, p)
	}
	count := 0
	tb.Range(func(string, *Principal) bool { count++; return true })
	if count != n {
		t.Errorf("Range saw %d entries, want %d", count, n)
	}
}

func key(i int) string { return "k" + string(rune('a'+i%26)) + itoa(i) }

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestVehicleApply(t *testing.T) {
	v := &Vehicle{}
	tel := &event.Event{ID: "t1", Source: "gw", Type: event.TypeTelemetry, Time: 100,
		Telemetry: &event.Telemetry{Position: event.Position{Lat: 48, Lon: 11}, Speed: 50, HasSpeed: true, Seq: 9, HasSeq: true,
			Signals: event.Signals{DriverDoorLocked: event.True, LowVoltageState: event.LVOn, TraveledDistance: 1000, HasTraveledDistance: true},
			Device:  &event.Device{IMEI: "356938035643809", Firmware: "4.2.1"}}}
	v.Apply(tel)
	if v.FixTime != 100 || v.Lock != Locked || v.Ignition != IgnitionOn || v.Seq != 9 || !v.HasSeq() ||
		v.Odometer != 1000 || v.IMEI != "356938035643809" || v.Firmware != "4.2.1" || v.Act != nil {
		t.Fatalf("after telemetry: %+v", v)
	}
	// An older fix does not replace the newer one.
	old := *tel
	old.Time, old.ID = 50, "t0"
	v.Apply(&old)
	if v.FixTime != 100 || v.FixRef.ID != "t1" {
		t.Errorf("older fix replaced the newer: %+v", v.FixRef)
	}
	for i, st := range []event.Stage{event.StageRequested, event.StageExecuted} {
		v.Apply(&event.Event{Type: event.TypeCommand, Time: int64(200 + i), Command: &event.Command{CommandID: "c1",
			Command: event.CmdUnlock, Stage: st, Actor: event.Actor{Account: "acc-1"}}})
	}
	cmds := v.Commands()
	if len(cmds) != 1 || !cmds[0].Has(event.StageRequested) || !cmds[0].Has(event.StageExecuted) ||
		cmds[0].At != 200 || cmds[0].Last != 201 || v.Act.Principals[0] != "acc-1" {
		t.Fatalf("command transaction: %+v %+v", cmds, v.Act)
	}
	for i := range MaxCommands + 3 {
		v.Apply(&event.Event{Type: event.TypeCommand, Time: int64(300 + i), Command: &event.Command{CommandID: "x" + itoa(i),
			Command: event.CmdLock, Stage: event.StageRequested, Actor: event.Actor{Account: "acc-" + itoa(i)}}})
	}
	if len(v.Commands()) != MaxCommands || len(v.Act.Principals) != MaxPrincipals || v.FindCommand(HashID("c1")) != nil {
		t.Errorf("lists not bounded: %d commands, %d principals", len(v.Commands()), len(v.Act.Principals))
	}
	v.Apply(&event.Event{Type: event.TypeVehicleEvent, Time: 400, VehicleEvent: &event.VehicleEvent{Name: event.NameUnlocked}})
	v.Apply(&event.Event{Type: event.TypeFirmware, Time: 401, Firmware: &event.Firmware{ECU: "tcu", Version: "5.0", Result: event.FWInstalled}})
	if v.Lock != Unlocked || v.Act.ECUs[0] != (ECUVersion{"tcu", "5.0"}) || v.LastEvent != 401 {
		t.Errorf("state %+v %+v", v, v.Act.ECUs)
	}
}

func TestFailureWindow(t *testing.T) {
	w := &FailureWindow{}
	for i := range 10 {
		w.Add(Failure{At: int64(i * 10), Other: "ip" + itoa(i%3)}, 50, 6)
	}
	// The window holds [t-50, t]: 40 to 90.
	if len(w.List) != 6 || w.List[0].At != 40 || w.Distinct() != 3 {
		t.Errorf("window %+v distinct %d", w.List, w.Distinct())
	}
	// At most max entries: the oldest go first.
	w.Add(Failure{At: 95, Other: "ip9"}, 1000, 4)
	if len(w.List) != 4 || w.List[0].At != 70 || w.List[3].At != 95 {
		t.Errorf("bounded window %+v", w.List)
	}
	w.Prune(1000, 50)
	if len(w.List) != 0 {
		t.Errorf("prune left %d", len(w.List))
	}
}
