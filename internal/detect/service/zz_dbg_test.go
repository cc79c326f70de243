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

func TestZZDbg(t *testing.T) {
	if os.Getenv("ZZ_DBG") == "" {
		t.Skip()
	}
	seed, _ := strconv.ParseInt(os.Getenv("ZZ_DBG"), 10, 64)
	who := os.Getenv("ZZ_WHO")
	s, _ := sim.New(sim.Config{Seed: seed, Vehicles: 10000, Duration: 24 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 10})
	n := 0
	s.Run(context.Background(), func(e *event.Event) error {
		a := e.Actor()
		if e.Type == event.TypeAccountChange && e.AccountChange.Account == who || a != nil && a.Account == who {
			if n < 60 {
				extra := ""
				switch e.Type {
				case event.TypeAPIAccess:
					extra = fmt.Sprint(e.APIAccess.Route, len(e.APIAccess.Vehicles), e.APIAccess.Fields.Names(), a.IP)
				case event.TypeCommand:
					extra = fmt.Sprint(e.Command.Command, e.Command.Stage, a.Device, a.IP)
				case event.TypeAccountChange:
					extra = fmt.Sprint(e.AccountChange.Change, e.AccountChange.ConfirmedByPreviousContact, a.Device)
				case event.TypeLogin:
					extra = fmt.Sprint(e.Login.Result, e.Login.Reason, a.Device, a.IP)
				}
				fmt.Println(e.When().Format(time.TimeOnly), e.Type, e.Tenant, e.Subject, extra)
			}
			n++
		}
		return nil
	}, func(l sim.Label) error {
		if l.Entities.Account == who {
			fmt.Println("LABEL", l.Category, l.Scenario, l.Start.Format(time.TimeOnly), l.End.Format(time.TimeOnly))
		}
		return nil
	})
	fmt.Println("total", n)
}
