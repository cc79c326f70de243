package sim

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want string // substring of the error; empty means valid
	}{
		{"zero takes defaults", Config{}, ""},
		{"negative vehicles", Config{Vehicles: -1}, "vehicles must be between 1 and 2000000, got -1"},
		{"too many vehicles", Config{Vehicles: MaxVehicles + 1}, "vehicles must be between 1 and 2000000, got 2000001"},
		{"more tenants than vehicles", Config{Vehicles: 3, Tenants: 4}, "tenants (4) must not exceed vehicles (3)"},
		{"negative tenants", Config{Tenants: -2}, "tenants must be between 1 and 100, got -2"},
		{"short duration", Config{Duration: time.Second}, "duration must be between 1m and"},
		{"short telemetry interval", Config{TelemetryInterval: time.Millisecond}, "telemetry interval must be between 1s and 10m, got 1ms"},
		{"negative jitter", Config{Jitter: -time.Second}, "jitter must be between 0 and 10m, got -1s"},
		{"attacks per category", Config{AttacksPerCategory: -1}, "attacks per category must be between 1 and 100, got -1"},
		{"unknown category", Config{Attacks: []alert.Category{99}}, "attack category 99 is not a category"},
		{"unset category", Config{Attacks: []alert.Category{alert.CategoryUnset}}, "is not a category"},
		{"duplicate category", Config{Attacks: []alert.Category{alert.MassCommand, alert.MassCommand}}, "mass-command is listed twice"},
		{"attacks need room", Config{Duration: time.Hour, Attacks: []alert.Category{alert.MassCommand}}, "at least 2h0m0s when attacks are injected, got 1h0m0s"},
		{"all attacks", Config{Attacks: alert.Categories()}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			if _, nerr := New(tt.c); (nerr == nil) != (err == nil) {
				t.Fatalf("New() = %v, Validate() = %v: they must agree", nerr, err)
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	all := alert.Categories()
	a := run(t, Config{Seed: 7, Vehicles: 150, Attacks: all}, true)
	b := run(t, Config{Seed: 7, Vehicles: 150, Attacks: all}, true)
	c := run(t, Config{Seed: 8, Vehicles: 150, Attacks: all}, true)
	if !sameBytes(a.ndjson, b.ndjson) {
		t.Errorf("same seed: the streams differ (%d and %d bytes)", len(a.ndjson), len(b.ndjson))
	}
	if !reflect.DeepEqual(a.labels, b.labels) {
		t.Errorf("same seed: the labels differ")
	}
	if sameBytes(a.ndjson, c.ndjson) {
		t.Errorf("seeds 7 and 8 gave the same stream")
	}
}

func TestArrivalOrder(t *testing.T) {
	tests := []struct {
		name    string
		jitter  time.Duration
		allowed time.Duration // how far an event may arrive behind the latest one
	}{
		{"default jitter", 0, 2 * time.Second},
		{"no jitter", time.Nanosecond, 0}, // sub-millisecond delays cannot reorder millisecond stamps
		{"long jitter", 45 * time.Second, 45 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Seed: 3, Vehicles: 200, Duration: 12 * time.Hour, Jitter: tt.jitter, Attacks: alert.Categories()}
			st := simulate(t, c)
			start, end := defaultStart.UnixNano(), defaultStart.Add(c.Duration).UnixNano()
			var latest int64
			late := 0
			for i, e := range st.events {
				if e.Time < latest-int64(tt.allowed) {
					t.Fatalf("event %d (%s %s) at %s arrives after one at %s: more than %s behind",
						i, e.Type, e.ID, e.When().Format(time.RFC3339Nano), time.Unix(0, latest).UTC().Format(time.RFC3339Nano), tt.allowed)
				}
				if e.Time < latest {
					late++
				}
				latest = max(latest, e.Time)
				if e.Time < start || e.Time >= end {
					t.Fatalf("event %s at %s is outside the span", e.ID, e.When())
				}
			}
			if tt.allowed > 0 && late == 0 {
				t.Errorf("no event arrived out of event-time order: the jitter does nothing")
			}
		})
	}
}

func TestEventsRoundTrip(t *testing.T) {
	st := simulate(t, small(5, alert.Categories()...))
	dec := event.NewDecoder(event.Limits{})
	ids := map[event.Ref]bool{}
	for _, e := range st.events {
		b := encode(e)
		got, err := dec.Decode(b)
		if err != nil {
			t.Fatalf("event %s does not decode: %v\n%s", e.ID, err, b)
		}
		if again := encode(got); !sameBytes(again, b) {
			t.Fatalf("event %s changes in a round trip:\n%s\n%s", e.ID, b, again)
		}
		if ids[e.Ref()] {
			t.Fatalf("(source, id) %v is not unique", e.Ref())
		}
		ids[e.Ref()] = true
	}
}

// TestFirmwareTrust checks what detectors are told to trust: every campaign
// image is signed by the trusted key over a digest in the manifest.
func TestFirmwareTrust(t *testing.T) {
	st := simulate(t, small(11))
	keys := st.sim.TrustedKeys()
	known := map[[32]byte]bool{}
	for _, h := range st.sim.ReleaseHashes() {
		known[h] = true
	}
	n := 0
	for _, e := range st.events {
		if e.Type != event.TypeFirmware {
			continue
		}
		n++
		f := e.Firmware
		if f.Signature == nil || !ed25519.Verify(keys[f.Signature.KeyID], f.SHA256[:], f.Signature.Value) {
			t.Fatalf("benign install %s is not signed by a trusted key", e.ID)
		}
		if !known[f.SHA256] || f.Channel != event.FWChannelOTA || f.Campaign == "" {
			t.Fatalf("benign install %s: known hash %v, channel %s, campaign %q", e.ID, known[f.SHA256], f.Channel, f.Campaign)
		}
	}
	if n == 0 {
		t.Fatal("no firmware campaign in a day")
	}
	if h := sha256.Sum256([]byte("x")); known[h] {
		t.Fatal("the manifest knows an arbitrary hash")
	}
}

func TestRunStops(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		ctx   func() (context.Context, context.CancelFunc)
		emit  func(n int) error
		label func(Label) error
		want  error
	}{
		{"emit error", ctxBackground, func(n int) error {
			if n == 1000 {
				return boom
			}
			return nil
		}, nil, boom},
		{"label error", ctxBackground, func(int) error { return nil }, func(Label) error { return boom }, boom},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, func(int) error { return nil }, nil, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(small(1, alert.CredentialAttack))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tt.ctx()
			defer cancel()
			n := 0
			err = s.Run(ctx, func(*event.Event) error { n++; return tt.emit(n) }, tt.label)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Run() = %v, want %v", err, tt.want)
			}
			if err := s.Run(context.Background(), nil, nil); err == nil {
				t.Fatal("a second Run succeeded")
			}
		})
	}
}

func ctxBackground() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// TestLinks checks the entitlement list against the stream: every command
// and every app read by an owner is by a principal linked to the vehicle.
func TestLinks(t *testing.T) {
	st := simulate(t, small(13))
	linked := map[[2]string]bool{}
	for l := range st.sim.Links() {
		linked[[2]string{l.Account + l.ClientID, l.Vehicle}] = true
	}
	for _, e := range st.events {
		switch {
		case e.Type == event.TypeCommand && e.Command.Stage == event.StageRequested:
			if a := e.Command.Actor.Account; !linked[[2]string{a, e.Subject}] {
				t.Fatalf("command %s by %s to %s, which it is not linked to", e.ID, a, e.Subject)
			}
		case e.Type == event.TypeAPIAccess && e.APIAccess.Actor.Role != event.RoleStaff:
			p := e.APIAccess.Actor.Account + e.APIAccess.Actor.ClientID
			for _, v := range e.APIAccess.Vehicles {
				if !linked[[2]string{p, v}] {
					t.Fatalf("%s by %s reads %s, which it is not linked to", e.APIAccess.Route, p, v)
				}
			}
		}
	}
}
