package command

import (
	"os"
	"testing"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// testDirectory is the directory of entitlements the cases run with.
func testDirectory(t testing.TB) *directory.Directory {
	f, err := os.Open("testdata/directory.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := directory.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCases(t *testing.T) {
	dir := testDirectory(t)
	detecttest.Cases(t, func() []detect.Detector {
		return []detect.Detector{
			NewOrphan(OrphanConfig{}),
			NewUnlinked(UnlinkedConfig{Directory: dir}),
			NewUnrequested(UnrequestedConfig{}),
			NewUnsafe(UnsafeConfig{}),
		}
	})
}

func BenchmarkOrphan(b *testing.B) {
	o := NewOrphan(OrphanConfig{})
	c := detecttest.Context(o, detect.KindVehicle, "V1")
	v := &twin.Vehicle{}
	actor := event.Actor{Account: "acc-1"}
	evs := []*event.Event{
		{ID: "c1", Source: "api", Type: event.TypeCommand, Subject: "V1", Command: &event.Command{CommandID: "cmd-1", Command: event.CmdUnlock, Stage: event.StageRequested, Channel: event.ChannelApp, Actor: actor}},
		{ID: "c2", Source: "api", Type: event.TypeCommand, Subject: "V1", Command: &event.Command{CommandID: "cmd-1", Command: event.CmdUnlock, Stage: event.StageExecuted, Channel: event.ChannelApp, Actor: actor}},
		{ID: "e1", Source: "gw", Type: event.TypeVehicleEvent, Subject: "V1", VehicleEvent: &event.VehicleEvent{Name: event.NameUnlocked, Origin: event.OriginRemote, CommandID: "cmd-1"}},
		{ID: "e2", Source: "gw", Type: event.TypeVehicleEvent, Subject: "V1", VehicleEvent: &event.VehicleEvent{Name: event.NameUnlocked, Origin: event.OriginRemote}},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev := evs[i%len(evs)]
		ev.Time = int64(i) * 1e9
		o.OnEvent(c, detect.State{Vehicle: v}, ev)
		v.Apply(ev)
	}
}

// commandStream is one linked owner's command transaction and its echo,
// over and over: the common case every command detector sees.
func commandStream() []*event.Event {
	actor := event.Actor{Account: "acc-1", Device: "dev-1", IP: "203.0.113.7", Role: event.RoleOwner}
	var evs []*event.Event
	for k, st := range []event.Stage{event.StageRequested, event.StageSent, event.StageDelivered, event.StageExecuted} {
		evs = append(evs, &event.Event{ID: "c" + string(rune('1'+k)), Source: "api", Type: event.TypeCommand, Subject: "WVWZZZ1JZXW000001",
			Tenant: "fleet-a", Command: &event.Command{Command: event.CmdEngineStop, Stage: st, Channel: event.ChannelApp, Actor: actor}})
	}
	return append(evs, &event.Event{ID: "e1", Source: "gw", Type: event.TypeVehicleEvent, Subject: "WVWZZZ1JZXW000001", Tenant: "fleet-a",
		VehicleEvent: &event.VehicleEvent{Name: event.NameEngineStopped, Origin: event.OriginRemote}})
}

// benchCommands runs d over commandStream with a new command id every
// transaction (ids are prepared up front: the loop itself allocates nothing).
func benchCommands(b *testing.B, d detect.Detector) {
	var wants [event.NumTypes]bool
	for _, sub := range d.Info().Subscribe {
		for _, ty := range sub.Types {
			wants[ty] = true
		}
	}
	c := detecttest.Context(d, detect.KindVehicle, "WVWZZZ1JZXW000001")
	c.Tenant = "fleet-a"
	v := &twin.Vehicle{}
	evs := commandStream()
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = "cmd-" + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev := evs[i%len(evs)]
		id := ids[(i/len(evs))%len(ids)]
		if ev.Command != nil {
			ev.Command.CommandID = id
		} else {
			ev.VehicleEvent.CommandID = id
		}
		ev.Time = int64(i) * 1e9
		if wants[ev.Type] {
			d.OnEvent(c, detect.State{Vehicle: v}, ev)
		}
		v.Apply(ev)
	}
}

func BenchmarkUnlinked(b *testing.B) {
	benchCommands(b, NewUnlinked(UnlinkedConfig{Directory: testDirectory(b)}))
}

func BenchmarkUnrequested(b *testing.B) { benchCommands(b, NewUnrequested(UnrequestedConfig{})) }

func BenchmarkUnsafe(b *testing.B) { benchCommands(b, NewUnsafe(UnsafeConfig{})) }
