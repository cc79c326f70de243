package service

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

type wrap struct{ *Service }

func (w wrap) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	w.Service.OnEvent(c, s, ev)
	m := ev.Stats.Start/int64(time.Minute) - time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix()/60
	lo, _ := strconv.Atoi(os.Getenv("ZZ_FROM"))
	if c.Tenant == os.Getenv("ZZ_TENANT") && m >= int64(lo) && m < int64(lo+30) {
		h := s.Principal.Health
		fmt.Printf("%02d:%02d req %d fail %d | win req %d fail %d reqRate %.3f failRate %.3f failing %v\n", m/60, m%60,
			ev.Stats.Commands[event.StageRequested], ev.Stats.Commands[event.StageFailed], h.Sum(&h.Requested, 10), h.Sum(&h.Failed, 10), h.ReqRate, h.FailRate, h.Failing)
	}
}

func TestZZWrap(t *testing.T) {
	if os.Getenv("ZZ_WRAP") == "" {
		t.Skip()
	}
	seed, _ := strconv.ParseInt(os.Getenv("ZZ_WRAP"), 10, 64)
	s, _ := sim.New(sim.Config{Seed: seed, Vehicles: 10000, Duration: 24 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 10})
	run(t, s, []detect.Detector{wrap{New(detect.PerTenant[Config]{})}})
}
