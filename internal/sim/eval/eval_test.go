package eval

import (
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

func TestScore(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	labels := []sim.Label{
		{Category: "credential-attack", Entities: alert.Entities{Account: "acc-1"}, Start: t0, End: t0.Add(5 * time.Minute)},
		{Category: "credential-attack", Entities: alert.Entities{IP: "192.0.2.9"}, Start: t0, End: t0.Add(time.Minute)},
		{Category: "mass-command", Entities: alert.Entities{Account: "acc-7", Vehicles: []string{"V1", "V2"}}, Start: t0, End: t0.Add(time.Minute)},
		{Category: "service-anomaly", Tenant: "fleet-b", Start: t0, End: t0.Add(time.Hour)},
	}
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	alerts := []*alert.Alert{
		{Category: alert.CredentialAttack, Time: at(2 * time.Minute), Entities: alert.Entities{Account: "acc-1"}},     // true, delay 2m
		{Category: alert.CredentialAttack, Time: at(30 * time.Minute), Entities: alert.Entities{IP: "192.0.2.9"}},     // after end+grace: false
		{Category: alert.UnauthorizedCommand, Time: at(30 * time.Second), Entities: alert.Entities{Vehicle: "V2"}},    // related to mass-command
		{Category: alert.ServiceAnomaly, Time: at(10 * time.Minute), Tenant: "fleet-b"},                               // true by tenant
		{Category: alert.ServiceAnomaly, Time: at(10 * time.Minute), Tenant: "fleet-a", Severity: event.SeverityHigh}, // false: other tenant
		{Category: alert.TelemetrySpoofing, Time: at(10 * time.Minute), Entities: alert.Entities{Vehicle: "V9"}},      // false
	}
	byCat := map[string]*CategoryResult{}
	for _, c := range alert.Categories() {
		byCat[c.String()] = &CategoryResult{Category: c.String()}
	}
	score(byCat, labels, alerts, 10*time.Minute)
	cred := byCat["credential-attack"]
	if cred.Attacks != 2 || cred.Detected != 1 || cred.True != 1 || cred.False != 1 || cred.Recall() != 0.5 || cred.Precision() != 0.5 {
		t.Errorf("credential-attack: %+v", cred)
	}
	if med, worst := cred.Delay(); med != 2*time.Minute || worst != 2*time.Minute {
		t.Errorf("delay %v %v", med, worst)
	}
	if u := byCat["unauthorized-command"]; u.Related != 1 || u.False != 0 || u.Precision() != 1 {
		t.Errorf("related alert counted as false: %+v", u)
	}
	if m := byCat["mass-command"]; m.Detected != 0 || m.Recall() != 0 {
		t.Errorf("mass-command: %+v", m)
	}
	if s := byCat["service-anomaly"]; s.Detected != 1 || s.True != 1 || s.False != 1 {
		t.Errorf("service-anomaly: %+v", s)
	}
	if ts := byCat["telemetry-spoofing"]; ts.False != 1 || ts.Recall() != 1 {
		t.Errorf("telemetry-spoofing: %+v", ts)
	}
}
