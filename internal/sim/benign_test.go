package sim

import (
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/event"
)

// TestBenignIsQuiet holds benign traffic below the thresholds of vigil's
// first detectors: without attacks, none of them may fire.
func TestBenignIsQuiet(t *testing.T) {
	st := simulate(t, Config{Seed: 21, Vehicles: 600, Duration: 36 * time.Hour})
	if len(st.labels) != 0 {
		t.Fatalf("%d labels without attacks", len(st.labels))
	}
	t.Run("no impossible movement", func(t *testing.T) {
		for vin, fs := range st.fixes() {
			for i := 1; i < len(fs); i++ {
				if kmh, d := impliedSpeed(fs[i-1], fs[i]); kmh > 250 && d > 2000 {
					t.Fatalf("%s jumps %.0f m at %.0f km/h between %s and %s", vin, d, kmh, fs[i-1].ID, fs[i].ID)
				}
			}
		}
	})
	t.Run("every remote state change has its command", func(t *testing.T) {
		requested := map[string][]int64{} // vehicle → times of commands requested
		for _, e := range st.events {
			if e.Type == event.TypeCommand && e.Command.Stage == event.StageRequested {
				requested[e.Subject] = append(requested[e.Subject], e.Time)
			}
		}
		n := 0
		for _, e := range st.events {
			if e.Type != event.TypeVehicleEvent {
				continue
			}
			v := e.VehicleEvent
			if v.Origin == event.OriginUnknown {
				t.Fatalf("%s: benign vehicle.event with origin unknown", e.ID)
			}
			if v.Origin != event.OriginRemote || (v.Name != event.NameUnlocked && v.Name != event.NameEngineStarted) {
				continue
			}
			n++
			found := false
			for _, at := range requested[e.Subject] {
				found = found || (at <= e.Time && e.Time-at <= int64(2*time.Minute))
			}
			if !found || v.CommandID == "" {
				t.Fatalf("%s: %s %s with origin remote and no command in the 2 minutes before", e.ID, e.Subject, v.Name)
			}
		}
		if n == 0 {
			t.Fatal("no remote unlock at all: the check checks nothing")
		}
	})
	t.Run("login failures stay below the brute-force thresholds", func(t *testing.T) {
		const window = int64(10 * time.Minute)
		byAccount, byIP := map[string][]int64{}, map[string][]int64{}
		fails := 0
		for _, e := range st.events {
			if e.Type != event.TypeLogin || e.Login.Result != event.ResultFailure {
				continue
			}
			fails++
			byAccount[e.Login.Actor.Account] = append(byAccount[e.Login.Actor.Account], e.Time)
			byIP[e.Login.Actor.IP] = append(byIP[e.Login.Actor.IP], e.Time)
		}
		if fails == 0 {
			t.Fatal("nobody ever mistypes a password")
		}
		check := func(kind string, m map[string][]int64, limit int) {
			for k, ts := range m {
				sortTimes(ts)
				for i := range ts {
					j := i
					for j < len(ts) && ts[j]-ts[i] <= window {
						j++
					}
					if j-i >= limit {
						t.Fatalf("%s %s has %d login failures within 10 minutes", kind, k, j-i)
					}
				}
			}
		}
		check("account", byAccount, 10)
		check("ip", byIP, 20)
	})
	t.Run("nothing else an attack would do", func(t *testing.T) {
		gateway := map[string]bool{}
		for _, m := range gatewayMSISDNs {
			gateway[m] = true
		}
		nonces := map[string]bool{}
		for _, e := range st.events {
			switch e.Type {
			case event.TypeCommand:
				if k := e.Command.Command; k == event.CmdEngineStop || k == event.CmdImmobilize {
					t.Fatalf("%s: benign %s command", e.ID, k)
				}
			case event.TypeSMS:
				m := e.SMS
				if !gateway[m.Originator] || m.Auth != event.AuthValid || nonces[m.Nonce] {
					t.Fatalf("%s: SMS from %s, auth %s, nonce %s seen before: %v", e.ID, m.Originator, m.Auth, m.Nonce, nonces[m.Nonce])
				}
				nonces[m.Nonce] = true
			case event.TypeIDS:
				if e.IDS.Severity != event.SeverityLow {
					t.Fatalf("%s: benign IDS report of severity %s", e.ID, e.IDS.Severity)
				}
			case event.TypeAccountChange:
				if e.AccountChange.ConfirmedByPreviousContact == event.False {
					t.Fatalf("%s: benign contact change not confirmed", e.ID)
				}
			}
		}
	})
}

func sortTimes(ts []int64) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j] < ts[j-1]; j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// TestFleetLooksReal checks the shape of a simulated day: trips at
// plausible speeds, commands, parked heartbeats, a legitimate mass lock.
func TestFleetLooksReal(t *testing.T) {
	st := simulate(t, small(4))
	counts := map[event.Type]int{}
	var maxSpeed float64
	perVehicle := map[string]int{}
	lockers := map[string]map[string]bool{}                   // fleet manager → vehicles locked
	unitOf, vinOf := map[string]string{}, map[string]string{} // VIN ↔ IMEI, one to one
	for _, e := range st.events {
		counts[e.Type]++
		switch e.Type {
		case event.TypeTelemetry:
			imei := e.Telemetry.Device.IMEI
			if unitOf[e.Subject] == "" {
				if len(e.Subject) != 17 || vinCheck([]byte(e.Subject)) != e.Subject[8] {
					t.Fatalf("%q is not a valid VIN", e.Subject)
				}
				if b := []byte(imei); len(b) != 15 || string(luhn(b[:14])) != imei || vinOf[imei] != "" {
					t.Fatalf("IMEI %q of %s is invalid or belongs to %s too", imei, e.Subject, vinOf[imei])
				}
				unitOf[e.Subject], vinOf[imei] = imei, e.Subject
			}
			if unitOf[e.Subject] != imei {
				t.Fatalf("%s reports from IMEI %s and %s", e.Subject, unitOf[e.Subject], imei)
			}
			maxSpeed = max(maxSpeed, e.Telemetry.Speed)
			perVehicle[e.Subject]++
			c := *e.Telemetry.Cell
			lat, lon, ok := CellLocation(c)
			if !ok {
				t.Fatalf("%s: unknown cell %+v", e.ID, c)
			}
			if d := Distance(lat, lon, e.Telemetry.Position.Lat, e.Telemetry.Position.Lon); d > 2500 {
				t.Fatalf("%s: GPS %.0f m from its serving cell", e.ID, d)
			}
		case event.TypeCommand:
			if a := e.Command.Actor; a.Role == event.RoleFleetManager && e.Command.Command == event.CmdLock {
				if lockers[a.Account] == nil {
					lockers[a.Account] = map[string]bool{}
				}
				lockers[a.Account][e.Subject] = true
			}
		}
	}
	for _, ty := range event.Types() {
		if counts[ty] == 0 {
			t.Errorf("no %s event in a day", ty)
		}
	}
	if maxSpeed < 90 || maxSpeed > 131 {
		t.Errorf("top speed %.1f km/h, want a motorway speed up to 130", maxSpeed)
	}
	if len(perVehicle) != 400 {
		t.Errorf("%d vehicles reported telemetry, want all 400", len(perVehicle))
	}
	mass := 0
	for _, vs := range lockers {
		mass = max(mass, len(vs))
	}
	if mass < 50 {
		t.Errorf("the largest fleet lock-all locked %d vehicles, want a legitimate mass command of 50+", mass)
	}
}
