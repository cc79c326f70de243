package gate

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/takeover"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
)

// TestSnapshotRebuildsView: a gate whose engine was restored from a
// snapshot decides as the gate that saw the events: the observer rebuilds
// the view (motion, links, takeover trails) from the restored twin.
func TestSnapshotRebuildsView(t *testing.T) {
	events := []string{
		link("acc-1", "V-1", "vehicle_linked", "-1h"),
		fix("V-MOVE", 80, "ON", "-10s"),
		link("acc-1", "V-MOVE", "vehicle_linked", "-1h"),
		link("acc-gone", "V-1", "vehicle_linked", "-3h"),
		link("acc-gone", "V-1", "vehicle_unlinked", "-2h"),
		link("new-owner", "V-SOLD", "ownership_transfer", "-1h"),
		link("acc-ato", "V-ATO", "vehicle_linked", "-2h"),
		ev("account.change", "", "-10m", `{"actor":{"account":"acc-ato","ip":"198.51.100.9"},"account":"acc-ato","change":"email","confirmed_by_previous_contact":false}`),
		ev("account.change", "", "-5m", `{"actor":{"account":"acc-ato","device":"dev-new"},"account":"acc-ato","change":"device_registered"}`),
		// The takeover detector tells the steps on this command; the gate
		// still asks for a step-up, after the restore too.
		ev("vehicle.command", "V-ATO", "-1m", `{"command_id":"c1","command":"unlock","stage":"requested","channel":"app","actor":{"account":"acc-ato","device":"dev-new"}}`),
		fix("V-STOPPED", 70, "ON", "-30s"),
		fix("V-STOPPED", 0, "ON", "-5s"),
	}
	want := newTestGate(t, Config{}, nil, nil, events...)

	first, err := New(Options{Config: Config{}, Incidents: openIncidents(nil), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Detectors: []detect.Detector{takeover.New(detect.PerTenant[takeover.Config]{}), first.Observer()}})
	if err != nil {
		t.Fatal(err)
	}
	dec := event.NewDecoder(event.Limits{})
	for i, l := range events {
		a, b, _ := strings.Cut(l, `"time":"`)
		d, rest, _ := strings.Cut(b, `"`)
		off, err := time.ParseDuration(d)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		e, err := dec.Decode([]byte(a + `"time":"` + now.Add(off).Format(time.RFC3339Nano) + `"` + rest))
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		eng.Push(e)
	}
	var snap bytes.Buffer
	if err := eng.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	eng.Stop()

	g, err := New(Options{Config: Config{}, Incidents: openIncidents(nil), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.loadIncidents(context.Background()); err != nil {
		t.Fatal(err)
	}
	restored, err := engine.New(engine.Options{Detectors: []detect.Detector{takeover.New(detect.PerTenant[takeover.Config]{}), g.Observer()}})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if err := restored.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if got := codes(ask(t, g, "V-MOVE", "engine_stop", "acc-1")); got != "deny moving" {
		t.Fatalf("engine stop of V-MOVE after the restore: %q: the restored view does not show it moving", got)
	}
	if got := codes(ask(t, g, "V-ATO", "unlock", "acc-ato")); got != "step_up recent_account_change" {
		t.Fatalf("unlock of V-ATO by acc-ato after the restore: %q: the restored view lost the takeover trail", got)
	}
	codes(ask(t, want, "V-MOVE", "engine_stop", "acc-1")) // the same requests: the same rate limits
	codes(ask(t, want, "V-ATO", "unlock", "acc-ato"))
	asked := 0
	for _, vehicle := range []string{"V-1", "V-MOVE", "V-SOLD", "V-ATO", "V-STOPPED", "V-NONE"} {
		for _, account := range []string{"acc-1", "acc-gone", "new-owner", "acc-ato", "mallory"} {
			for _, command := range []string{"unlock", "engine_stop"} {
				w, got := codes(ask(t, want, vehicle, command, account)), codes(ask(t, g, vehicle, command, account))
				if got != w {
					t.Errorf("%s %s by %s after the restore: %q, want %q", command, vehicle, account, got, w)
				}
				asked++
			}
		}
	}
	if asked == 0 {
		t.Error("nothing asked")
	}
}
