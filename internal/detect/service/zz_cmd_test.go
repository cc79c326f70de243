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

func TestZZCmd(t *testing.T) {
	if os.Getenv("ZZ_CMD") == "" {
		t.Skip()
	}
	seed, _ := strconv.ParseInt(os.Getenv("ZZ_CMD"), 10, 64)
	tn := os.Getenv("ZZ_TENANT")
	from, _ := strconv.Atoi(os.Getenv("ZZ_FROM"))
	s, _ := sim.New(sim.Config{Seed: seed, Vehicles: 10000, Duration: 24 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 10})
	req, fail := map[int64]int{}, map[int64]int{}
	s.Run(context.Background(), func(e *event.Event) error {
		if e.Type == event.TypeCommand && e.Tenant == tn {
			m := e.Time/int64(time.Minute) - time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix()/60
			switch e.Command.Stage {
			case event.StageRequested:
				req[m]++
			case event.StageFailed, event.StageRejected:
				fail[m]++
			}
		}
		return nil
	}, nil)
	for m := int64(from); m < int64(from+50); m++ {
		fmt.Printf("%02d:%02d req %3d fail %3d\n", m/60, m%60, req[m], fail[m])
	}
}
