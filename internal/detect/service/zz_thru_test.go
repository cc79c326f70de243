package service

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/access"
	"github.com/vigil-project/vigil/internal/detect/credential"
	"github.com/vigil-project/vigil/internal/detect/mass"
	"github.com/vigil-project/vigil/internal/detect/takeover"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

func TestZZThroughput(t *testing.T) {
	if os.Getenv("ZZ_THRU") == "" {
		t.Skip()
	}
	s, _ := sim.New(sim.Config{Seed: 9, Vehicles: 10000, Duration: 24 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 10})
	dir := directoryOf(s)
	var evs []*event.Event
	s.Run(context.Background(), func(e *event.Event) error { evs = append(evs, e); return nil }, nil)
	mk := func() []detect.Detector {
		x, _ := access.NewExfiltration(dir, detect.PerTenant[access.ExfilConfig]{})
		p, _ := access.NewPrivileged(dir, detect.PerTenant[access.PrivilegedConfig]{})
		m, _ := mass.New(dir, detect.PerTenant[mass.Config]{})
		return []detect.Detector{credential.New(credential.Config{}), credential.NewStuffing(detect.PerTenant[credential.StuffingConfig]{}),
			credential.NewPIN(detect.PerTenant[credential.PINConfig]{}), takeover.New(detect.PerTenant[takeover.Config]{}), m, x, p,
			New(detect.PerTenant[Config]{})}
	}
	for _, c := range []struct {
		name string
		dets func() []detect.Detector
	}{{"none", func() []detect.Detector { return nil }}, {"principal-side", mk}, {"none", func() []detect.Detector { return nil }}, {"principal-side", mk}} {
		eng, _ := engine.New(engine.Options{Shards: 1, Detectors: c.dets()})
		start := time.Now()
		for _, e := range evs {
			eng.Push(e)
		}
		eng.Close()
		el := time.Since(start)
		fmt.Printf("%-15s %d events in %v: %.0f events/s\n", c.name, len(evs), el, float64(len(evs))/el.Seconds())
	}
}
