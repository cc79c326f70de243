package pseudo

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/event"
)

// every holds one event of each type with every string the model has.
var every = []string{
	`{"specversion":"1.0","id":"t1","source":"tsp/gw","type":"vehicle.telemetry","time":"2026-03-02T07:14:05.120Z","subject":"WVWZZZ1JZXW000001","tenant":"fleet-a","data":{"position":{"lat":48.137154,"lon":-11.576124,"heading":87.5},"speed":42.5,"signals":{"Vehicle.VehicleIdentification.VIN":"WVWZZZ1JZXW000001","Vehicle.Speed":3},"device":{"imei":"356938035643809","iccid":"8949022000001234567","ip":"10.64.1.9","firmware":"4.2.1"}}}`,
	`{"specversion":"1.0","id":"e1","source":"tsp/gw","type":"vehicle.event","time":"2026-03-02T07:14:05.120Z","subject":"WVWZZZ1JZXW000001","tenant":"fleet-a","data":{"name":"window_opened","origin":"remote","command_id":"cmd-77","detail":{"by":"jane@example.com"}}}`,
	`{"specversion":"1.0","id":"c1","source":"tsp/api","type":"vehicle.command","time":"2026-03-02T07:14:05.120Z","subject":"WVWZZZ1JZXW000001","tenant":"fleet-a","data":{"command_id":"cmd-77","command":"seat_heat","stage":"requested","channel":"app","actor":{"account":"acc-1042","device":"dev-9","ip":"203.0.113.7","client_id":"partner-a","role":"owner","user_agent":"MyCar/5.4"}}}`,
	`{"specversion":"1.0","id":"l1","source":"tsp/auth","type":"auth.login","time":"2026-03-02T07:14:05.120Z","tenant":"fleet-a","data":{"actor":{"account":"jane@example.com","ip":"2001:db8::7"},"username_hash":"6cc1fe8e26753957","result":"failure","reason":"bad_password","method":"password"}}`,
	`{"specversion":"1.0","id":"a1","source":"tsp/api","type":"account.change","time":"2026-03-02T07:14:05.120Z","tenant":"fleet-a","data":{"actor":{"account":"acc-1"},"account":"acc-1042","change":"vehicle_linked","vehicle":"WVWZZZ1JZXW000002"}}`,
	`{"specversion":"1.0","id":"p1","source":"tsp/api","type":"api.access","time":"2026-03-02T07:14:05.120Z","tenant":"fleet-a","data":{"actor":{"client_id":"partner-a"},"method":"GET","route":"/v1/vehicles/{vin}","vehicles":["WVWZZZ1JZXW000001","WVWZZZ1JZXW000002"],"status":200}}`,
	`{"specversion":"1.0","id":"s1","source":"tsp/sms","type":"sms.message","time":"2026-03-02T07:14:05.120Z","subject":"WVWZZZ1JZXW000001","tenant":"fleet-a","data":{"direction":"mt","originator":"+4915550001000","recipient":"+4917200000006","kind":"command","command":"unlock","auth":"valid","nonce":"n-1"}}`,
	`{"specversion":"1.0","id":"f1","source":"tsp/ota","type":"firmware.install","time":"2026-03-02T07:14:05.120Z","subject":"WVWZZZ1JZXW000001","tenant":"fleet-a","data":{"ecu":"tcu","version":"4.2.1","previous_version":"4.1.0","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","signature":{"alg":"ed25519","key_id":"oem","value":"AAEC"},"channel":"ota","campaign":"c-1","result":"installed"}}`,
	`{"specversion":"1.0","id":"i1","source":"tsp/ids","type":"ids.report","time":"2026-03-02T07:14:05.120Z","subject":"WVWZZZ1JZXW000001","tenant":"fleet-a","data":{"ecu":"gw","sensor":"can","event_id":"0x1F","severity":"high","product":"ACME","context":{"k":1}}}`,
}

// personalAt classifies every string of the model: the kind it is
// pseudonymised as, or notPersonal for a string left as it is. A new string field
// fails TestEventEveryString until it is classified here (and, if
// personal, in Event).
const notPersonal = NumKinds

var personalAt = map[string]Kind{
	"ID": notPersonal, "Source": notPersonal, "Subject": Vehicle, "Tenant": notPersonal,
	"Telemetry.Signals.VIN": Vehicle, "Telemetry.Device.IMEI": Unit, "Telemetry.Device.ICCID": Unit, "Telemetry.Device.IP": IP,
	"Telemetry.Device.Firmware": notPersonal,
	"VehicleEvent.NameText":     notPersonal, "VehicleEvent.CommandID": notPersonal,
	"Command.CommandID": notPersonal, "Command.CommandText": notPersonal,
	"Login.UsernameHash":    Account,
	"AccountChange.Account": Account, "AccountChange.Vehicle": Vehicle,
	"APIAccess.Route": notPersonal, "APIAccess.Vehicles": Vehicle,
	"SMS.Originator": Phone, "SMS.Recipient": Phone, "SMS.Command": notPersonal, "SMS.Nonce": notPersonal,
	"Firmware.ECU": notPersonal, "Firmware.Version": notPersonal, "Firmware.PreviousVersion": notPersonal, "Firmware.Campaign": notPersonal, "Firmware.Signature.KeyID": notPersonal,
	"IDS.ECU": notPersonal, "IDS.Sensor": notPersonal, "IDS.EventID": notPersonal, "IDS.Product": notPersonal,
	"Actor.Account": Account, "Actor.Device": Device, "Actor.IP": IP, "Actor.ClientID": Client, "Actor.UserAgent": notPersonal,
}

// stringsOf calls f with the path and value of every string (and string
// list item) reachable from v.
func stringsOf(v reflect.Value, at string, f func(path string, s *string)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			stringsOf(v.Elem(), at, f)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			p := sf.Name
			switch {
			case sf.Type == reflect.TypeFor[event.Actor]():
				p = "Actor" // one classification for every type's actor
			case at != "":
				p = at + "." + sf.Name
			}
			stringsOf(v.Field(i), p, f)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.String {
			for i := 0; i < v.Len(); i++ {
				f(at, v.Index(i).Addr().Interface().(*string))
			}
		}
	case reflect.String:
		f(at, v.Addr().Interface().(*string))
	}
}

func decodeAll(t testing.TB, lines []string) []*event.Event {
	t.Helper()
	dec := event.NewDecoder(event.Limits{})
	var out []*event.Event
	for _, l := range lines {
		ev, err := dec.Decode([]byte(l))
		if err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		out = append(out, ev)
	}
	return out
}

func TestEventEveryString(t *testing.T) {
	p := newTest(t, Options{KeepPhones: []string{"+4915550001000"}})
	before, after := decodeAll(t, every), decodeAll(t, every)
	for i, ev := range after {
		if _, err := p.Event(ev, nil); err != nil {
			t.Fatal(err)
		}
		var was []string
		stringsOf(reflect.ValueOf(before[i]), "", func(_ string, s *string) { was = append(was, *s) })
		n := 0
		stringsOf(reflect.ValueOf(ev), "", func(path string, s *string) {
			orig := was[n]
			n++
			k, ok := personalAt[path]
			switch {
			case !ok:
				t.Errorf("%s: %s is not classified: is it personal?", ev.Type, path)
			case orig == "":
				if *s != "" {
					t.Errorf("%s: empty %s became %q", ev.Type, path, *s)
				}
			case k == notPersonal:
				if *s != orig {
					t.Errorf("%s: %s %q changed to %q", ev.Type, path, orig, *s)
				}
			default:
				want, _, _, err := p.Stored(ev.Tenant, k, orig)
				if err != nil {
					t.Fatal(err)
				}
				if *s != want {
					t.Errorf("%s: %s %q is %q, want %q", ev.Type, path, orig, *s, want)
				}
				if orig == "+4915550001000" && *s != orig {
					t.Errorf("the gateway number was pseudonymised")
				}
				if orig != "+4915550001000" && *s == orig {
					t.Errorf("%s: %s %q was not pseudonymised", ev.Type, path, orig)
				}
			}
		})
	}
	// Free text stays: documented as not covered.
	if !bytes.Contains(after[1].VehicleEvent.Detail, []byte("jane@example.com")) {
		t.Error("vehicle.event detail was changed")
	}
}

// TestEventFields: a kind switched off stays as it is, the others change.
func TestEventFields(t *testing.T) {
	p := newTest(t, Options{Default: Settings{Fields: AllFields.Without(IP).Without(Email)}, Tenants: map[string]Settings{"off": {}}})
	evs := decodeAll(t, every)
	cmd, login := evs[2], evs[3]
	p.Event(cmd, nil)
	p.Event(login, nil)
	if cmd.Command.Actor.IP != "203.0.113.7" || cmd.Command.Actor.Account == "acc-1042" {
		t.Errorf("ips off, accounts on: got ip %s account %s", cmd.Command.Actor.IP, cmd.Command.Actor.Account)
	}
	if login.Login.Actor.Account != "jane@example.com" || login.Login.UsernameHash == "6cc1fe8e26753957" {
		t.Errorf("emails off, accounts on: got %s %s", login.Login.Actor.Account, login.Login.UsernameHash)
	}
	off := decodeAll(t, every[2:3])[0]
	off.Tenant = "off"
	if p.Active("off") {
		t.Error("tenant without settings is active")
	}
	p.Event(off, nil)
	if off.Subject != "WVWZZZ1JZXW000001" || off.Command.Actor.Account != "acc-1042" {
		t.Error("a tenant with no fields was pseudonymised")
	}
}

// TestArchive: the archived JSON decodes to the rewritten event, with only
// the coordinates rounded.
func TestArchive(t *testing.T) {
	p := newTest(t, Options{Default: Settings{Fields: AllFields, LocationDecimals: 3}})
	dec := event.NewDecoder(event.Limits{})
	data, err := os.ReadFile("../event/testdata/valid.ndjson") // shared/spec/examples
	if err != nil {
		t.Fatal(err)
	}
	lines := append(strings.Split(strings.TrimSpace(string(data)), "\n"), every...)
	for _, ev := range decodeAll(t, lines) {
		p.Event(ev, nil)
		raw := p.AppendArchive(nil, ev)
		got, err := dec.Decode(raw)
		if err != nil {
			t.Fatalf("archived JSON rejected: %v\n%s", err, raw)
		}
		want := *ev
		if ev.Telemetry != nil {
			tm := *ev.Telemetry
			tm.Position.Lat, tm.Position.Lon = Round(tm.Position.Lat, 3), Round(tm.Position.Lon, 3)
			want.Telemetry = &tm
			if ev.Telemetry.Position.Lat == tm.Position.Lat && ev.Telemetry.Position.Lon == tm.Position.Lon {
				t.Errorf("%s: the event lost its precision: %v", ev.ID, ev.Telemetry.Position)
			}
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("archive of %s:\n%s\nwant\n%s", ev.ID, raw, event.AppendJSON(nil, &want))
		}
	}
	if got := string(p.AppendArchive(nil, decodeAll(t, every[:1])[0])); !strings.Contains(got, `"lat":48.137,"lon":-11.576`) {
		t.Errorf("rounded position: %s", got)
	}
}

func TestRound(t *testing.T) {
	for _, c := range []struct {
		v    float64
		d    int
		want float64
	}{{48.137154, 3, 48.137}, {48.1375, 3, 48.138}, {-11.5765, 3, -11.577}, {48.137154, 0, 48.137154}, {1.23456789, 7, 1.2345679}, {89.99999, 2, 90}} {
		if got := Round(c.v, c.d); got != c.want {
			t.Errorf("Round(%v, %d) = %v, want %v", c.v, c.d, got, c.want)
		}
	}
}

// FuzzEvent: whatever the decoder accepts is pseudonymised and archived
// into JSON the decoder accepts again, with nothing personal left.
func FuzzEvent(f *testing.F) {
	for _, l := range every {
		f.Add([]byte(l))
	}
	p := newTest(f, Options{Default: Settings{Fields: AllFields, LocationDecimals: 4}})
	dec := event.NewDecoder(event.Limits{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := dec.Decode(b)
		if err != nil {
			return
		}
		subject := ev.Subject
		if _, err := p.Event(ev, nil); err != nil {
			t.Fatal(err)
		}
		raw := p.AppendArchive(nil, ev)
		again, err := dec.Decode(raw)
		if err != nil {
			t.Fatalf("archive rejected: %v\n%s", err, raw)
		}
		if subject != "" && again.Subject == subject {
			t.Fatalf("subject %q kept", subject)
		}
	})
}
