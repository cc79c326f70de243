package telemetry

import (
	"testing"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

func TestCases(t *testing.T) {
	detecttest.Cases(t, func() []detect.Detector { return []detect.Detector{NewMovement(MovementConfig{})} })
}

func BenchmarkMovement(b *testing.B) {
	m := NewMovement(MovementConfig{})
	c := detecttest.Context(m, detect.KindVehicle, "V1")
	v := &twin.Vehicle{}
	ev := &event.Event{ID: "f", Source: "gw", Type: event.TypeTelemetry, Subject: "V1",
		Telemetry: &event.Telemetry{Position: event.Position{Lat: 48.1, Lon: 11.5}}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 1e10
		ev.Telemetry.Position.Lat = 48.1 + float64(i%100)*0.001
		m.OnEvent(c, detect.State{Vehicle: v}, ev)
		v.Apply(ev)
	}
}
