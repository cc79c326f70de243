package ids

import (
	"testing"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/command"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// TestCases runs the IDS detectors with the orphan state change detector,
// whose alerts stand for the back-end anomalies IDS reports correlate with.
func TestCases(t *testing.T) {
	detecttest.Cases(t, func() []detect.Detector {
		return []detect.Detector{NewReports(ReportsConfig{}), NewCampaign(CampaignConfig{}), command.NewOrphan(command.OrphanConfig{})}
	})
}

// BenchmarkReports is benign IDS noise: low-severity reports on one vehicle.
func BenchmarkReports(b *testing.B) {
	r := NewReports(ReportsConfig{})
	c := detecttest.Context(r, detect.KindVehicle, "V1")
	v := &twin.Vehicle{}
	ev := &event.Event{ID: "i", Source: "ids", Type: event.TypeIDS, Subject: "V1",
		IDS: &event.IDSReport{ECU: "gateway", Sensor: "can-monitor", EventID: "CAN_TIMING_DEVIATION", Severity: event.SeverityLow, Count: 1, HasCount: true}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 1e9
		r.OnEvent(c, detect.State{Vehicle: v}, ev)
		if i%4 == 3 {
			r.OnTimer(c, detect.State{Vehicle: v}, ev.Time) // windows close as they would
		}
	}
}

// BenchmarkCampaign counts medium reports of one IDS event from a rotating
// set of vehicles, most of the time in cooldown after the first alert.
func BenchmarkCampaign(b *testing.B) {
	d := NewCampaign(CampaignConfig{})
	c := detecttest.Context(d, detect.KindArtifact, "tcu/TCU_UNEXPECTED_INBOUND_CONNECTION")
	c.Local = d.NewShardState()
	vins := make([]string, 64)
	for i := range vins {
		vins[i] = "WVWZZZ1JZXW0000" + string(rune('A'+i%26)) + string(rune('A'+i/26))
	}
	ev := &event.Event{ID: "i", Source: "ids", Type: event.TypeIDS,
		IDS: &event.IDSReport{ECU: "tcu", EventID: "TCU_UNEXPECTED_INBOUND_CONNECTION", Severity: event.SeverityMedium}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 1e9
		ev.Subject = vins[i%len(vins)]
		d.OnEvent(c, detect.State{Principal: &twin.Principal{}}, ev)
	}
}
