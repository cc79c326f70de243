package sim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

func TestScratch(t *testing.T) {
	s, err := New(Config{Seed: 1, Vehicles: 1000, Attacks: alert.Categories()})
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	var n int
	start := time.Now()
	err = s.Run(context.Background(), func(e *event.Event) error {
		buf = event.AppendJSON(buf[:0], e)
		n += len(buf)
		return nil
	}, func(l Label) error {
		fmt.Printf("%s %s %s %s %s %+v\n", l.Category, l.Scenario, l.Tenant, l.Start.Format(time.RFC3339), l.End.Sub(l.Start), len(l.Entities.Vehicles))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	fmt.Println(time.Since(start), st.Events, n, st.Missed)
	for _, ty := range event.Types() {
		fmt.Println(ty, st.ByType[ty])
	}
}
