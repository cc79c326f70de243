package event_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

// The archive may keep a canonical re-encoding of an event instead of the
// bytes received (pseudonymisation does), so AppendJSON must carry every
// member of the typed model: Decode(AppendJSON(e)) must equal e, field by
// field, not merely re-encode the same.

// roundTrip encodes ev, decodes it and reports the first difference.
func roundTrip(t *testing.T, dec *event.Decoder, ev *event.Event, what string) {
	t.Helper()
	enc := event.AppendJSON(nil, ev)
	got, err := dec.Decode(enc)
	if err != nil {
		t.Fatalf("%s: re-encoded event rejected: %v\n%s", what, err, enc)
	}
	want := *ev
	want.Arrived = 0 // never serialised
	if want.Tenant == "" {
		want.Tenant = event.DefaultTenant // what the simulator's events leave empty
	}
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("%s does not round-trip:\nencoded  %s\ndecoded  %s", what, enc, event.AppendJSON(nil, got))
	}
}

func TestEncodeRoundTripsSpecExamples(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.ndjson") // shared/spec/examples/valid.ndjson
	if err != nil {
		t.Fatal(err)
	}
	dec := event.NewDecoder(event.Limits{})
	for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		ev, err := dec.Decode(line)
		if err != nil {
			t.Fatalf("line %d rejected: %v", i+1, err)
		}
		roundTrip(t, dec, ev, fmt.Sprintf("spec example line %d", i+1))
	}
}

// TestEncodeRoundTripsSimulator covers what the simulator makes: every
// type, every attack.
func TestEncodeRoundTripsSimulator(t *testing.T) {
	s, err := sim.New(sim.Config{Seed: 7, Vehicles: 60, Duration: 3 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 1})
	if err != nil {
		t.Fatal(err)
	}
	dec := event.NewDecoder(event.Limits{})
	seen := map[event.Type]int{}
	err = s.Run(context.Background(), func(ev *event.Event) error {
		seen[ev.Type]++
		roundTrip(t, dec, ev, ev.Type.String()+" "+ev.ID)
		return nil
	}, func(sim.Label) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range event.Types() {
		if seen[typ] == 0 {
			t.Errorf("the simulator made no %s event: this test does not cover it", typ)
		}
	}
}

// full holds one event of every type with every member of its payload set.
func full() []*event.Event {
	env := func(typ event.Type) event.Event {
		return event.Event{ID: "id-\"1\"", Source: "tsp/x", Type: typ, Time: time.Date(2026, 3, 2, 7, 14, 5, 123456789, time.UTC).UnixNano(),
			Subject: "WVWZZZ1JZXW000001", Tenant: "fleet-a"}
	}
	tm := env(event.TypeTelemetry)
	tm.Telemetry = &event.Telemetry{
		Position: event.Position{Lat: 48.137154, Lon: -11.576124, Alt: 519.5, Heading: 87.5, Accuracy: 4.2, HasAlt: true, HasHeading: true, HasAcc: true},
		Speed:    42.5, HasSpeed: true, Seq: 1 << 40, HasSeq: true,
		Signals: event.Signals{TraveledDistance: 48211000.5, HasTraveledDistance: true, LowVoltageState: event.LVStart,
			DriverDoorLocked: event.True, DriverDoorOpen: event.False, EngineRunning: event.True, IsMoving: event.False,
			Speed: 41.25, HasSpeed: true, VIN: "WVWZZZ1JZXW000001"},
		Device: &event.Device{IMEI: "356938035643809", ICCID: "8949022000001234567", IP: "2001:db8::7", Firmware: "4.2.1"},
		Cell:   &event.Cell{MCC: 262, MNC: 1, LAC: 40021, CID: 1234567, DBM: -71, HasDBM: true},
	}
	ve := env(event.TypeVehicleEvent)
	ve.VehicleEvent = &event.VehicleEvent{Name: event.NameOther, NameText: "window_opened", Origin: event.OriginKeyless, CommandID: "cmd-7",
		Detail: []byte(`{"window":"rear-left","pct":[1,2.5,null,true,"\u00e9"]}`)}
	actor := event.Actor{Account: "acc-1", Device: "dev-9", IP: "203.0.113.7", ClientID: "partner-a", Role: event.RoleFleetManager,
		UserAgent: `MyCar/5.4 (Android 15) "quoted" \ é`}
	cm := env(event.TypeCommand)
	cm.Command = &event.Command{CommandID: "cmd-77", Command: event.CmdOther, CommandText: "seat_heat", Stage: event.StageRejected,
		Channel: event.ChannelDealer, Actor: actor}
	lg := env(event.TypeLogin)
	lg.Login = &event.Login{Actor: actor, UsernameHash: "6cc1fe8e26753957", Result: event.ResultFailure, Reason: event.ReasonMFAFailed,
		Method: event.MethodBiometric, MFA: event.True}
	ac := env(event.TypeAccountChange)
	ac.AccountChange = &event.AccountChange{Actor: actor, Account: "jane@example.com", Change: event.ChangeOwnershipTransfer,
		Vehicle: "WVWZZZ1JZXW000002", ConfirmedByPreviousContact: event.False}
	aa := env(event.TypeAPIAccess)
	aa.APIAccess = &event.APIAccess{Actor: actor, Method: event.HTTPOptions, Route: "/v1/vehicles/{vin}/location",
		Vehicles: []string{"WVWZZZ1JZXW000001", "WVWZZZ1JZXW000002"}, Status: 451, Records: 2, HasRecords: true, Bytes: 9000, HasBytes: true,
		Fields: event.FieldLocation | event.FieldPayment | event.FieldVIN}
	sm := env(event.TypeSMS)
	sm.SMS = &event.SMS{Direction: event.DirMO, Originator: "+4915550001000", Recipient: "+4917200000006", Kind: event.SMSConfig,
		Command: "apn", Auth: event.AuthInvalid, Nonce: "n-1"}
	fw := env(event.TypeFirmware)
	fw.Firmware = &event.Firmware{ECU: "tcu", Version: "4.2.1", PreviousVersion: "4.1.0", SHA256: [32]byte{1, 2, 3, 31: 0xff},
		Size: 1 << 30, HasSize: true, Signature: &event.Signature{Alg: event.AlgECDSAP256SHA256, KeyID: "oem-2026", Value: []byte{0, 1, 2, 0xfe}},
		Channel: event.FWChannelDealer, Campaign: "c-1", Result: event.FWFailed}
	id := env(event.TypeIDS)
	id.IDS = &event.IDSReport{ECU: "gw", Sensor: "can-ids", EventID: "0x1F", Severity: event.SeverityLow, Count: 3, HasCount: true,
		Product: "ACME IDS", Context: []byte(`{"bus":"can1"}`)}
	return []*event.Event{&tm, &ve, &cm, &lg, &ac, &aa, &sm, &fw, &id}
}

// TestEncodeCarriesEveryField round-trips events whose every payload field
// is set, and fails when the model gains a field this table does not set:
// the encoder must be taught the new field and this test extended.
func TestEncodeCarriesEveryField(t *testing.T) {
	dec := event.NewDecoder(event.Limits{})
	types := map[event.Type]bool{}
	for _, ev := range full() {
		types[ev.Type] = true
		roundTrip(t, dec, ev, ev.Type.String())
		payload := payloadOf(ev)
		for _, path := range zeroFields(payload, payload.Type().Name()) {
			t.Errorf("%s: %s is not set in this test's event: set it so the encoder is checked for it", ev.Type, path)
		}
	}
	for _, typ := range event.Types() {
		if !types[typ] {
			t.Errorf("no %s event in this test", typ)
		}
	}
}

// payloadOf returns the payload struct the event points to.
func payloadOf(ev *event.Event) reflect.Value {
	v := reflect.ValueOf(ev).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			return f.Elem()
		}
	}
	panic("event without payload")
}

// zeroFields lists the exported fields of v left at their zero value,
// through structs and pointers.
func zeroFields(v reflect.Value, at string) []string {
	var out []string
	for i := 0; i < v.NumField(); i++ {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		p := at + "." + sf.Name
		if f.IsZero() {
			out = append(out, p)
			continue
		}
		if f.Kind() == reflect.Pointer {
			f = f.Elem()
		}
		if f.Kind() == reflect.Struct {
			out = append(out, zeroFields(f, p)...)
		}
	}
	return out
}

// TestEncodeEscapes: strings that need escaping come back unchanged
// (control characters never get this far: the decoder rejects them).
func TestEncodeEscapes(t *testing.T) {
	dec := event.NewDecoder(event.Limits{})
	for _, s := range []string{"a\"b", `back\slash`, "é ü 漢字 😀", "</script>&<>", "\u2028\u2029", "\x7f", strings.Repeat("x", 200)} {
		ev := full()[2]
		ev.Command.Actor.UserAgent = s
		ev.ID = s
		roundTrip(t, dec, ev, "string "+s)
	}
}

// TestAppendTime matches time.RFC3339Nano over the years events may have.
func TestAppendTime(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	max := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	cases := []int64{0, 1, 999_999_999, 1e9, 951782400e9, 951868799e9 + 999, max - 1, -1, max, time.Date(2026, 3, 2, 7, 14, 5, 120e6, time.UTC).UnixNano()}
	for range 200_000 {
		ns := r.Int64N(max)
		switch r.IntN(3) {
		case 0:
			ns -= ns % 1e9 // whole seconds
		case 1:
			ns -= ns % 1e6 // milliseconds
		}
		cases = append(cases, ns)
	}
	for _, ns := range cases {
		want := time.Unix(0, ns).UTC().AppendFormat(nil, time.RFC3339Nano)
		if got := event.AppendTime(nil, ns); !bytes.Equal(got, want) {
			t.Fatalf("AppendTime(%d) = %s, want %s", ns, got, want)
		}
	}
}
