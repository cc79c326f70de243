package command

import (
	"testing"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

func TestCases(t *testing.T) {
	detecttest.Cases(t, func() []detect.Detector { return []detect.Detector{NewOrphan(OrphanConfig{})} })
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
