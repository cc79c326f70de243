package detecttest

import (
	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
)

// Context returns a detector context for benchmarks that call a detector
// directly: alerts and timers go nowhere.
func Context(d detect.Detector, kind detect.Kind, key string) *detect.Context {
	info := d.Info()
	return &detect.Context{Tenant: "t", Key: key, Kind: kind, Info: &info,
		EmitFunc: func(*alert.Alert) {}, ScheduleFunc: func(int64) {}}
}
