package service

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

func TestZZDump(t *testing.T) {
	if os.Getenv("ZZ_DUMP") == "" {
		t.Skip()
	}
	veh, _ := strconv.Atoi(os.Getenv("ZZ_VEHICLES"))
	for _, seed := range seedsOf() {
		s, _ := sim.New(sim.Config{Seed: seed, Vehicles: veh, Duration: 24 * time.Hour, Attacks: cats(), AttacksPerCategory: 10})
		counts := map[string]map[int64]int{}
		var labels []sim.Label
		s.Run(context.Background(), func(e *event.Event) error {
			if e.Type == event.TypeTelemetry {
				if counts[e.Tenant] == nil {
					counts[e.Tenant] = map[int64]int{}
				}
				counts[e.Tenant][e.Time/int64(time.Minute)]++
			}
			return nil
		}, func(l sim.Label) error { labels = append(labels, l); return nil })
		f, _ := os.Create(fmt.Sprintf("/tmp/vigil-principal-gen/minutes-%d-%d.csv", veh, seed))
		start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix() / 60
		for tn, c := range counts {
			for m := start; m < start+1440; m++ {
				fmt.Fprintf(f, "%s,%d,%d\n", tn, m-start, c[m])
			}
		}
		f.Close()
		f, _ = os.Create(fmt.Sprintf("/tmp/vigil-principal-gen/labels-%d-%d.csv", veh, seed))
		for _, l := range labels {
			fmt.Fprintf(f, "%s,%s,%d,%d\n", l.Scenario, l.Tenant, l.Start.Unix()/60-start, l.End.Unix()/60-start)
		}
		f.Close()
	}
}

func cats() []alert.Category {
	if os.Getenv("ZZ_ALL") != "" {
		return alert.Categories()
	}
	return []alert.Category{alert.ServiceAnomaly}
}

func seedsOf() []int64 {
	var out []int64
	for _, s := range splitComma(os.Getenv("ZZ_DUMP")) {
		n, _ := strconv.ParseInt(s, 10, 64)
		out = append(out, n)
	}
	return out
}
