package credential

import (
	"testing"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

func TestCases(t *testing.T) {
	detecttest.Cases(t, func() []detect.Detector { return []detect.Detector{New(Config{})} })
}

func BenchmarkFailures(b *testing.B) {
	f := New(Config{})
	p := &twin.Principal{}
	c := detecttest.Context(f, detect.KindAccount, "acc-1")
	ev := &event.Event{ID: "l", Source: "api", Type: event.TypeLogin,
		Login: &event.Login{Actor: event.Actor{Account: "acc-1", IP: "192.0.2.1"}, Result: event.ResultFailure, Method: event.MethodPassword}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 1e11 // one a 100 s: a slow trickle, as most failures are
		f.OnEvent(c, detect.State{Principal: p}, ev)
	}
}
