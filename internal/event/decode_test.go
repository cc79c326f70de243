package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestContractValidExamples(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	dec := NewDecoder(Limits{})
	for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		ev, err := dec.Decode(line)
		if err != nil {
			t.Errorf("line %d rejected: %v", i+1, err)
			continue
		}
		// Re-encoding and decoding gives the same event.
		again, err := dec.Decode(AppendJSON(nil, ev))
		if err != nil {
			t.Errorf("line %d: re-encoded event rejected: %v\n%s", i+1, err, AppendJSON(nil, ev))
			continue
		}
		if a, b := AppendJSON(nil, ev), AppendJSON(nil, again); !bytes.Equal(a, b) {
			t.Errorf("line %d does not round-trip:\n%s\n%s", i+1, a, b)
		}
	}
}

func TestContractInvalidExamples(t *testing.T) {
	data, err := os.ReadFile("testdata/invalid.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Why   string          `json:"why"`
		Field *string         `json:"field"`
		Raw   string          `json:"raw"`
		Event json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	dec := NewDecoder(Limits{})
	for _, c := range cases {
		t.Run(c.Why, func(t *testing.T) {
			in := []byte(c.Raw)
			if c.Event != nil {
				in = c.Event
			}
			_, err := dec.Decode(in)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("accepted or wrong error type: %v", err)
			}
			want := ""
			if c.Field != nil {
				want = *c.Field
			}
			if fe.Field != want {
				t.Errorf("error names field %q, want %q (%v)", fe.Field, want, err)
			}
		})
	}
}

const telemetryLine = `{"specversion":"1.0","id":"t1","source":"tsp/test","type":"vehicle.telemetry","time":"2026-03-02T07:14:05.120Z","subject":"V1","data":{"position":{"lat":48.1,"lon":11.5}}}`

func TestDecodeRules(t *testing.T) {
	withData := func(typ, data string) string {
		return `{"specversion":"1.0","id":"x","source":"s","type":"` + typ + `","time":"2026-03-02T07:14:05Z","subject":"V1","data":` + data + `}`
	}
	tests := []struct {
		name, in, field string
		code            Code
	}{
		{"duplicate attribute", `{"specversion":"1.0","id":"a","id":"b","source":"s","type":"auth.login","time":"2026-03-02T07:14:05Z","data":{}}`, "id", CodeDuplicate},
		{"trailing garbage", telemetryLine + `x`, "", CodeSyntax},
		{"empty", ``, "", CodeSyntax},
		{"bad tenant", strings.Replace(telemetryLine, `"subject"`, `"tenant":"a b","subject"`, 1), "tenant", CodeInvalid},
		{"data_base64", strings.Replace(telemetryLine, `"subject"`, `"data_base64":"AA==","subject"`, 1), "data_base64", CodeUnsupported},
		{"xml content type", strings.Replace(telemetryLine, `"subject"`, `"datacontenttype":"application/xml","subject"`, 1), "datacontenttype", CodeUnsupported},
		{"data not object", withData("vehicle.telemetry", `[1]`), "data", CodeWrongType},
		{"time 13th month", strings.Replace(telemetryLine, "2026-03-02", "2026-13-02", 1), "time", CodeInvalid},
		{"time 30 February", strings.Replace(telemetryLine, "2026-03-02", "2026-02-30", 1), "time", CodeInvalid},
		{"time before 1970", strings.Replace(telemetryLine, "2026-03-02", "1969-03-02", 1), "time", CodeInvalid},
		{"control character in id", strings.Replace(telemetryLine, `"id":"t1"`, `"id":"t\u0000"`, 1), "id", CodeInvalid},
		{"invalid UTF-8", strings.Replace(telemetryLine, `"id":"t1"`, "\"id\":\"t\xff\"", 1), "", CodeSyntax},
		{"too deep", strings.Replace(telemetryLine, `"subject"`, `"ext":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`,"subject"`, 1), "", CodeSyntax},
		{"heading out of range", withData("vehicle.telemetry", `{"position":{"lat":1,"lon":1,"heading":400}}`), "data.position.heading", CodeOutOfRange},
		{"seq not integer", withData("vehicle.telemetry", `{"position":{"lat":1,"lon":1},"seq":1.5}`), "data.seq", CodeWrongType},
		{"signal wrong type", withData("vehicle.telemetry", `{"position":{"lat":1,"lon":1},"signals":{"Vehicle.Cabin.Door.Row1.DriverSide.IsLocked":"yes"}}`), "data.signals.Vehicle.Cabin.Door.Row1.DriverSide.IsLocked", CodeWrongType},
		{"lat missing", withData("vehicle.telemetry", `{"position":{"lon":1}}`), "data.position.lat", CodeMissing},
		{"event without name", withData("vehicle.event", `{"origin":"remote"}`), "data.name", CodeMissing},
		{"unknown origin", withData("vehicle.event", `{"name":"unlocked","origin":"telepathy"}`), "data.origin", CodeInvalid},
		{"command without actor", withData("vehicle.command", `{"command_id":"c","command":"unlock","stage":"sent","channel":"app"}`), "data.actor", CodeMissing},
		{"bad role", withData("vehicle.command", `{"command_id":"c","command":"unlock","stage":"sent","channel":"app","actor":{"role":"king"}}`), "data.actor.role", CodeInvalid},
		{"bad signature base64", withData("firmware.install", `{"ecu":"tcu","version":"1","sha256":"`+strings.Repeat("a", 64)+`","channel":"ota","result":"installed","signature":{"alg":"ed25519","key_id":"k","value":"***"}}`), "data.signature.value", CodeInvalid},
		{"unknown personal field", withData("api.access", `{"actor":{},"method":"GET","route":"/r","status":200,"fields":["dna"]}`), "data.fields", CodeInvalid},
		{"sms without auth", withData("sms.message", `{"direction":"mt","originator":"+1","recipient":"+2","kind":"wakeup"}`), "data.auth", CodeMissing},
		{"ids without event_id", withData("ids.report", `{"ecu":"gw","severity":"low"}`), "data.event_id", CodeMissing},
		{"detail not object", withData("vehicle.event", `{"name":"alarm","detail":"x"}`), "data.detail", CodeWrongType},
	}
	dec := NewDecoder(Limits{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dec.Decode([]byte(tt.in))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
			if fe.Field != tt.field || fe.Code != tt.code {
				t.Errorf("got %s %q (%v), want %s %q", fe.Code, fe.Field, err, tt.code, tt.field)
			}
		})
	}
}

func TestDecodeFieldsOrderAndExtensions(t *testing.T) {
	// data before type, an extension attribute and an unknown data member.
	in := `{"data":{"name":"config_changed","origin":"inside","future":{"x":[1,2]}},"type":"vehicle.event","traceparent":"00-abc","specversion":"1.0","id":"e9","source":"s","time":"2026-03-02T07:14:05+01:00","subject":"V1","tenant":"fleet-a"}`
	ev, err := NewDecoder(Limits{}).Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if ev.VehicleEvent.Name != NameConfigChanged || ev.VehicleEvent.Origin != OriginInside || ev.Tenant != "fleet-a" {
		t.Errorf("decoded %+v %+v", ev, ev.VehicleEvent)
	}
	if want := time.Date(2026, 3, 2, 6, 14, 5, 0, time.UTC); !ev.When().Equal(want) {
		t.Errorf("time %v, want %v", ev.When(), want)
	}
}

func TestDecodeOpenLists(t *testing.T) {
	in := `{"specversion":"1.0","id":"c","source":"s","type":"vehicle.command","time":"2026-03-02T07:14:05Z","subject":"V","data":{"command_id":"c1","command":"seat_heating","stage":"requested","channel":"app","actor":{}}}`
	ev, err := NewDecoder(Limits{}).Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Command.Command != CmdOther || ev.Command.CommandText != "seat_heating" {
		t.Errorf("got %v %q", ev.Command.Command, ev.Command.CommandText)
	}
}

func TestParseTimeMatchesStdlib(t *testing.T) {
	for _, s := range []string{
		"2026-03-02T07:14:05Z", "2026-03-02T07:14:05.120Z", "2026-03-02T07:14:05.123456789Z",
		"2024-02-29T23:59:59.5-07:30", "1970-01-01T00:00:00Z", "2199-12-31T23:59:59.999999999+14:00",
		"2026-03-02T07:14:05.1234567891234Z", "2026-03-02t07:14:05z",
	} {
		got, reason := parseTime([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
		if err != nil {
			if reason == "" {
				t.Errorf("%s: accepted, stdlib says %v", s, err)
			}
			continue
		}
		if reason != "" || got != want.UnixNano() {
			t.Errorf("%s: got %d %q, want %d", s, got, reason, want.UnixNano())
		}
	}
}

func TestParseTimeRejects(t *testing.T) {
	for _, s := range []string{"2000-01-01T0:00:00Z", "2026-03-02T07:14:05", "2026-03-02 07:14:05Z", "2026-03-02T07:14:60Z",
		"2026-03-02T07:14:05.Z", "2026-03-02T07:14:05+0100", "2200-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2026-02-29T00:00:00Z"} {
		if _, reason := parseTime([]byte(s)); reason == "" {
			t.Errorf("%s accepted", s)
		}
	}
}

func TestNumbersMatchStdlib(t *testing.T) {
	for _, s := range []string{"0", "-0", "48.137154", "-33.8688", "151.2093", "1e3", "1.5E-7",
		"123456789012345678901234", "0.1", "0.30000000000000004", "9007199254740993", "4.2", "-181.5"} {
		sc := scanner{buf: []byte(s)}
		got, ok := sc.number()
		var want float64
		if err := json.Unmarshal([]byte(s), &want); err != nil || !ok || got != want {
			t.Errorf("%s: got %v %v, want %v (%v)", s, got, ok, want, err)
		}
	}
}
