package gate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeRequestErrors(t *testing.T) {
	names := newNames()
	for _, c := range []struct{ body, code, field string }{
		{`{"vehicle":"V","command":"unlock","actor":{"account":"a"}}`, "", ""},
		{`  {"vehicle":"V","command":"unlock","actor":{"client_id":"c"}}` + "\n", "", ""},
		{`{"vehicle":"V\u00e9","command":"x-custom.cmd_2","actor":{"account":"a\"b"}}`, "", ""},
		{``, "bad_request", ""},
		{`[]`, "bad_request", ""},
		{`{"vehicle":"V"`, "bad_request", ""},
		{`{"vehicle":"V",}`, "bad_request", ""},
		{`{"vehicle" "V"}`, "bad_request", ""},
		{`{"vehicle":"V\x01"}`, "bad_request", ""},
		{`{"vehicle":"\q"}`, "bad_request", ""},
		{`{"vehicle":"\u12"}`, "bad_request", ""},
		{`{"vehicle":"V","command":"unlock","actor":{"account":"a"}} {}`, "bad_request", ""},
		{"{\"vehicle\":\"V\",\"command\":\"unlock\",\"actor\":{\"account\":\"a\"}}\x00{\"tenant\":\"other\"}", "bad_request", ""},
		{"{\"vehicle\":\"V\",\"command\":\"unlock\",\"actor\":{\"account\":\"a\"}}\x00", "bad_request", ""},
		{`{"command":"unlock","actor":{"account":"a"}}`, "invalid_parameter", "vehicle"},
		{`{"vehicle":"V","actor":{"account":"a"}}`, "invalid_parameter", "command"},
		{`{"vehicle":"V","command":"unlock"}`, "invalid_parameter", "actor"},
		{`{"vehicle":"V","command":"unlock","actor":"a"}`, "invalid_parameter", "actor"},
		{`{"vehicle":null,"command":"unlock","actor":{"account":"a"}}`, "invalid_parameter", "vehicle"},
		{`{"vehicle":["V"],"command":"unlock","actor":{"account":"a"}}`, "invalid_parameter", "vehicle"},
		{`{"vehicle":"V","command":"unlock","actor":{"account":7}}`, "invalid_parameter", "actor.account"},
		{`{"vehicle":"V","vehicle":"W","command":"unlock","actor":{"account":"a"}}`, "invalid_parameter", "vehicle"},
		{`{"vehicle":"V","command":"unlock","actor":{"account":"a","account":"b"}}`, "invalid_parameter", "actor.account"},
		{`{"Vehicle":"V","command":"unlock","actor":{"account":"a"}}`, "invalid_parameter", "Vehicle"},
		{`{"vehicle":"V","command":"unlock","actor":{"account":"a"},"extra":1}`, "invalid_parameter", "extra"},
		{`{"vehicle":"V","command":"UNLOCK","actor":{"account":"a"}}`, "invalid_parameter", "command"},
		{`{"vehicle":"V","command":"unlock","channel":"fax","actor":{"account":"a"}}`, "invalid_parameter", "channel"},
		{`{"vehicle":"V","command":"unlock","actor":{"account":"a","ip":"1.2.3"}}`, "invalid_parameter", "actor.ip"},
		{`{"vehicle":"V","command":"unlock","actor":{"account":"a","role":"root"}}`, "invalid_parameter", "actor.role"},
		{`{"vehicle":"V\u0000","command":"unlock","actor":{"account":"a"}}`, "invalid_parameter", "vehicle"},
		{`{"vehicle":"` + strings.Repeat("x", 257) + `","command":"unlock","actor":{"account":"a"}}`, "invalid_parameter", "vehicle"},
		{`{"tenant":"","vehicle":"V","command":"unlock","actor":{"account":"a"}}`, "", ""},
		{"{\"vehicle\":\"V\xff\",\"command\":\"unlock\",\"actor\":{\"account\":\"a\"}}", "invalid_parameter", "vehicle"},
		{`{"vehicle":"V","command":"unlock","actor":{"account":"a"}}` + strings.Repeat(" ", maxBodyBytes), "body_too_large", ""},
	} {
		p, err := decodeRequest([]byte(c.body), names)
		switch {
		case c.code == "" && err != nil:
			t.Errorf("%.80s: %v", c.body, err)
		case c.code == "" && (p.Tenant != "default" && p.Tenant != "fleet-a"):
			t.Errorf("%.80s: tenant %q", c.body, p.Tenant)
		case c.code != "" && err == nil:
			t.Errorf("%.80s: accepted", c.body)
		case c.code != "" && (string(err.Code) != c.code || err.Field != c.field):
			t.Errorf("%.80s: %s field %q, want %s field %q (%s)", c.body, err.Code, err.Field, c.code, c.field, err.Message)
		}
	}
}

// FuzzDecodeRequest: the decoder never panics, and what it accepts
// encoding/json reads the same way.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"tenant":"fleet-a","vehicle":"V","command":"unlock","channel":"app","command_id":"c","actor":{"account":"a","device":"d","ip":"::1","client_id":"c","role":"owner"}}`,
		`{"vehicle":"\ud83d\ude97 \u00e9\n","command":"x.y","actor":{"client_id":"\\\/"}}`,
		`{"vehicle":"\ud800\u0041","command":"lock","actor":{"account":"\udc00"}}`,
		`{"vehicle":"V","vehicle":"W"}`, `{"a":1}`, `{`, `{}`,
	} {
		f.Add([]byte(s))
	}
	names := newNames()
	f.Fuzz(func(t *testing.T, body []byte) {
		p, perr := decodeRequest(body, names)
		if perr != nil {
			if perr.Status() != 400 && perr.Status() != 413 {
				t.Fatalf("status %d for %q", perr.Status(), body)
			}
			return
		}
		var std CommandRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&std); err != nil {
			t.Fatalf("accepted %q, encoding/json says %v", body, err)
		}
		if std.Tenant == "" {
			std.Tenant = "default"
		}
		if std != p.CommandRequest {
			t.Fatalf("%q: read %+v, encoding/json reads %+v", body, p.CommandRequest, std)
		}
	})
}

// FuzzEncode: the hand-written encoders write what encoding/json writes.
func FuzzEncode(f *testing.F) {
	f.Add("allow", "moving", "vehicle <V> is \"moving\" & fast\n\u2028", "acc-1", "\xff\x00é")
	f.Fuzz(func(t *testing.T, decision, code, message, account, device string) {
		d := Decision{Decision: decision, Reasons: []DecisionReason{{code, message}}, DecisionID: account, DecidedAt: device, RetryAfterMS: int64(len(message))}
		want, _ := json.Marshal(d)
		if got := appendDecision(nil, &d); !bytes.Equal(got, want) {
			t.Fatalf("decision:\n got %s\nwant %s", got, want)
		}
		r := DecisionRecord{DecisionID: decision, DecidedAt: code, Decision: message, Reasons: d.Reasons, Tenant: account, Vehicle: device,
			Command: message, Channel: code, CommandID: device, Actor: CommandActor{Account: account, Device: device, Role: code}, DecideMicros: 42}
		want, _ = json.Marshal(r)
		if got := appendRecord(nil, &r); !bytes.Equal(got, want) {
			t.Fatalf("record:\n got %s\nwant %s", got, want)
		}
	})
}
