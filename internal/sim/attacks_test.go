package sim

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// TestAttacksAreLabelled injects every category and checks each label
// against the stream: the events it describes are there, as it describes.
func TestAttacksAreLabelled(t *testing.T) {
	const per = 4 // one more than the longest rotation but one: every scenario shows up
	st := simulate(t, Config{Seed: 2, Vehicles: 500, AttacksPerCategory: per, Attacks: alert.Categories()})
	byCat := map[string][]Label{}
	for _, l := range st.labels {
		byCat[l.Category] = append(byCat[l.Category], l)
	}
	stats := st.sim.Stats()
	for _, c := range alert.Categories() {
		t.Run(c.String(), func(t *testing.T) {
			ls := byCat[c.String()]
			if len(ls) != per || stats.Attacks[c] != per || stats.Missed[c] != 0 {
				t.Fatalf("%d labels, stats %d injected and %d missed; want %d injected", len(ls), stats.Attacks[c], stats.Missed[c], per)
			}
			seen := map[string]bool{}
			for _, l := range ls {
				seen[l.Scenario] = true
				if l.Start.After(l.End) || l.Tenant == "" || l.Scenario == "" || entitiesEmpty(l.Entities) {
					t.Fatalf("malformed label %+v", l)
				}
				t.Run(l.Scenario, func(t *testing.T) { evidence[c](t, st, l) })
			}
			if first := scenarios(c)[0].name; !seen[first] {
				t.Errorf("the first scenario %q was never injected", first)
			}
		})
	}
}

func entitiesEmpty(e alert.Entities) bool {
	return e.Vehicle == "" && len(e.Vehicles) == 0 && e.Account == "" && e.Device == "" && e.IP == "" && e.ClientID == "" && e.MSISDN == ""
}

// by says whether an actor is the principal a label names.
func by(a event.Actor, e alert.Entities) bool {
	return (e.Account == "" || a.Account == e.Account) && (e.IP == "" || a.IP == e.IP) &&
		(e.ClientID == "" || a.ClientID == e.ClientID) && (e.Device == "" || a.Device == e.Device)
}

func is(ty event.Type) func(*event.Event) bool {
	return func(e *event.Event) bool { return e.Type == ty }
}

func distinctVehicles(es []*event.Event) map[string]bool {
	out := map[string]bool{}
	for _, e := range es {
		switch e.Type {
		case event.TypeAPIAccess:
			for _, v := range e.APIAccess.Vehicles {
				out[v] = true
			}
		default:
			out[e.Subject] = true
		}
	}
	return out
}

// evidence checks, per category, that a label's attack is in the stream.
var evidence = map[alert.Category]func(*testing.T, *stream, Label){
	alert.CredentialAttack: func(t *testing.T, st *stream, l Label) {
		fails := st.within(l, func(e *event.Event) bool {
			return e.Type == event.TypeLogin && e.Login.Result == event.ResultFailure && by(e.Login.Actor, l.Entities)
		})
		if len(fails) < 10 {
			t.Fatalf("%d login failures by %+v", len(fails), l.Entities)
		}
	},
	alert.AccountTakeover: func(t *testing.T, st *stream, l Label) {
		es := st.within(l, func(*event.Event) bool { return true })
		var unconfirmed, registered, command, effect bool
		for _, e := range es {
			switch {
			case e.Type == event.TypeAccountChange && e.AccountChange.Account == l.Entities.Account:
				unconfirmed = unconfirmed || e.AccountChange.ConfirmedByPreviousContact == event.False
				registered = registered || e.AccountChange.Change == event.ChangeDeviceRegistered
			case e.Type == event.TypeCommand && e.Subject == l.Entities.Vehicle:
				command = command || by(e.Command.Actor, l.Entities)
			case e.Type == event.TypeVehicleEvent && e.Subject == l.Entities.Vehicle:
				effect = effect || e.VehicleEvent.Origin == event.OriginRemote
			}
		}
		if !unconfirmed || !registered || !command || !effect {
			t.Fatalf("unconfirmed change %v, new device %v, command from it %v, vehicle reaction %v", unconfirmed, registered, command, effect)
		}
	},
	alert.UnauthorizedCommand: func(t *testing.T, st *stream, l Label) {
		if l.Entities.Account != "" { // a command from an account not linked to the vehicle
			for link := range st.sim.Links() {
				if link.Account == l.Entities.Account && link.Vehicle == l.Entities.Vehicle {
					t.Fatalf("%s is linked to %s", link.Account, link.Vehicle)
				}
			}
			if len(st.within(l, func(e *event.Event) bool { return e.Type == event.TypeCommand && by(e.Command.Actor, l.Entities) })) == 0 {
				t.Fatal("no command from the account")
			}
			return
		}
		changes := st.within(l, func(e *event.Event) bool {
			return e.Type == event.TypeVehicleEvent && e.Subject == l.Entities.Vehicle && e.VehicleEvent.CommandID == "" &&
				(e.VehicleEvent.Origin == event.OriginRemote || e.VehicleEvent.Origin == event.OriginUnknown)
		})
		if len(changes) == 0 {
			t.Fatal("no state change without a command")
		}
		for _, e := range st.events {
			if e.Type == event.TypeCommand && e.Subject == l.Entities.Vehicle && e.Time <= changes[0].Time && changes[0].Time-e.Time < int64(2*time.Minute) {
				t.Fatalf("command %s precedes the orphan state change", e.ID)
			}
		}
	},
	alert.UnsafeCommand: func(t *testing.T, st *stream, l Label) {
		cmds := st.within(l, func(e *event.Event) bool {
			return e.Type == event.TypeCommand && e.Subject == l.Entities.Vehicle && e.Command.Stage == event.StageRequested &&
				(e.Command.Command == event.CmdEngineStop || e.Command.Command == event.CmdImmobilize)
		})
		if len(cmds) == 0 {
			t.Fatal("no engine stop or immobilize command")
		}
		near := int64(15 * time.Second)
		for _, f := range st.fixes()[l.Entities.Vehicle] {
			if d := f.Time - cmds[0].Time; d > -near && d < near && f.Telemetry.Speed > 30 {
				return
			}
		}
		t.Fatal("no telemetry around the command shows the vehicle moving faster than 30 km/h")
	},
	alert.MassCommand: func(t *testing.T, st *stream, l Label) {
		cmds := st.within(l, func(e *event.Event) bool {
			return e.Type == event.TypeCommand && e.Command.Stage == event.StageRequested && by(e.Command.Actor, l.Entities)
		})
		if vs := distinctVehicles(cmds); len(vs) < 50 || len(vs) != len(l.Entities.Vehicles) {
			t.Fatalf("%d vehicles commanded, %d labelled, want 50+", len(vs), len(l.Entities.Vehicles))
		}
		if l.End.Sub(l.Start) > 15*time.Minute {
			t.Fatalf("spread over %s, want minutes", l.End.Sub(l.Start))
		}
	},
	alert.DataExfiltration: func(t *testing.T, st *stream, l Label) {
		reads := st.within(l, func(e *event.Event) bool { return e.Type == event.TypeAPIAccess && by(e.APIAccess.Actor, l.Entities) })
		missing := 0
		for _, e := range reads {
			if e.APIAccess.Status == 404 {
				missing++
			}
		}
		if enumerated := len(reads) >= 300 && missing > len(reads)/2; !enumerated && len(distinctVehicles(reads)) < 50 {
			t.Fatalf("%d reads of %d vehicles, %d not found", len(reads), len(distinctVehicles(reads)), missing)
		}
	},
	alert.PrivilegedMisuse: func(t *testing.T, st *stream, l Label) {
		reads := st.within(l, func(e *event.Event) bool { return e.Type == event.TypeAPIAccess && by(e.APIAccess.Actor, l.Entities) })
		vs := distinctVehicles(reads)
		if len(vs) < 30 {
			t.Fatalf("%d vehicles read", len(vs))
		}
		role := reads[0].APIAccess.Actor.Role
		switch {
		case role == event.RoleDealer: // its usual inventory lookups go on meanwhile
			for link := range st.sim.Links() {
				if link.Account == l.Entities.Account {
					delete(vs, link.Vehicle)
				}
			}
			if len(vs) < 30 {
				t.Fatalf("the dealer read %d vehicles outside its inventory", len(vs))
			}
		case role == event.RoleStaff && localHour(l.Start.UnixNano()) >= 5:
			t.Fatalf("staff reads at local hour %.1f, want the night", localHour(l.Start.UnixNano()))
		case role != event.RoleStaff:
			t.Fatalf("misuse by role %s", role)
		}
	},
	alert.FirmwareTampering: func(t *testing.T, st *stream, l Label) {
		known := map[[32]byte]bool{}
		for _, h := range st.sim.ReleaseHashes() {
			known[h] = true
		}
		keys := st.sim.TrustedKeys()
		fws := st.within(l, func(e *event.Event) bool { return e.Type == event.TypeFirmware && e.Subject == l.Entities.Vehicle })
		if len(fws) == 0 {
			t.Fatal("no install")
		}
		f := fws[0].Firmware
		signed := f.Signature != nil && ed25519.Verify(keys[f.Signature.KeyID], f.SHA256[:], f.Signature.Value)
		if signed && known[f.SHA256] && f.Channel == event.FWChannelOTA {
			t.Fatalf("install %s looks genuine", fws[0].ID)
		}
		if f.Campaign != "" {
			t.Fatalf("install %s is part of campaign %s", fws[0].ID, f.Campaign)
		}
	},
	alert.SMSSpoofing: func(t *testing.T, st *stream, l Label) {
		nonces := map[string]int64{} // nonce → first time seen
		for _, e := range st.events {
			if e.Type == event.TypeSMS && e.SMS.Nonce != "" {
				if at, ok := nonces[e.SMS.Nonce]; !ok || e.Time < at {
					nonces[e.SMS.Nonce] = e.Time
				}
			}
		}
		msgs := st.within(l, func(e *event.Event) bool {
			return e.Type == event.TypeSMS && e.Subject == l.Entities.Vehicle && e.SMS.Originator == l.Entities.MSISDN
		})
		if len(msgs) == 0 {
			t.Fatal("no SMS from the labelled originator")
		}
		for _, e := range msgs {
			if e.SMS.Auth == event.AuthValid && nonces[e.SMS.Nonce] == e.Time {
				t.Fatalf("SMS %s is authenticated and its nonce is fresh", e.ID)
			}
		}
	},
	alert.TelemetrySpoofing: func(t *testing.T, st *stream, l Label) {
		fs := st.fixes()[l.Entities.Vehicle]
		lo, hi := l.Start.UnixNano(), l.End.UnixNano()
		for i, f := range fs {
			if f.Time < lo || f.Time > hi || f.Telemetry.Device.IMEI != l.Entities.Device {
				continue
			}
			switch l.Scenario {
			case "teleport", "cloned-device":
				if i > 0 {
					if kmh, d := impliedSpeed(fs[i-1], f); kmh > 250 && d > 100_000 {
						return
					}
				}
			case "gps-far-from-cell":
				lat, lon, _ := CellLocation(*f.Telemetry.Cell)
				if Distance(lat, lon, f.Telemetry.Position.Lat, f.Telemetry.Position.Lon) > 5000 {
					return
				}
			}
		}
		t.Fatalf("no spoofed fix of %s between %s and %s", l.Entities.Vehicle, l.Start, l.End)
	},
	alert.InVehicleIntrusion: func(t *testing.T, st *stream, l Label) {
		want := l.Entities.Vehicles
		if l.Entities.Vehicle != "" {
			want = []string{l.Entities.Vehicle}
		}
		reports := st.within(l, func(e *event.Event) bool { return e.Type == event.TypeIDS && e.IDS.Severity >= event.SeverityHigh })
		got := distinctVehicles(reports)
		for _, v := range want {
			if !got[v] {
				t.Fatalf("no high IDS report from %s", v)
			}
		}
	},
	alert.ServiceAnomaly: func(t *testing.T, st *stream, l Label) {
		vs := map[string]bool{}
		for _, v := range l.Entities.Vehicles {
			vs[v] = true
		}
		switch l.Scenario {
		case "telemetry-drop":
			before := l
			before.Start, before.End = l.Start.Add(-time.Hour), l.Start.Add(-time.Millisecond)
			if n := len(distinctVehicles(st.within(before, func(e *event.Event) bool { return is(event.TypeTelemetry)(e) && vs[e.Subject] }))); n < len(vs)/2 {
				t.Fatalf("only %d of %d vehicles reported in the hour before", n, len(vs))
			}
			if got := st.within(l, func(e *event.Event) bool { return is(event.TypeTelemetry)(e) && vs[e.Subject] }); len(got) > 0 {
				t.Fatalf("%s reports during the outage (%s)", got[0].Subject, got[0].ID)
			}
		case "command-failure-burst":
			failed := 0
			for _, e := range st.within(l, func(e *event.Event) bool { return is(event.TypeCommand)(e) && vs[e.Subject] }) {
				switch e.Command.Stage {
				case event.StageFailed:
					failed++
				case event.StageExecuted:
					t.Fatalf("command %s executed during the outage", e.ID)
				}
			}
			if failed < 2*len(vs) {
				t.Fatalf("%d failures for %d vehicles", failed, len(vs))
			}
		default:
			t.Fatalf("no check for scenario %s", l.Scenario)
		}
	},
}
