package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/gate"
	"github.com/vigil-project/vigil/internal/pseudo"
)

func testPseudonymiser(t testing.TB) *pseudo.Pseudonymiser {
	p, err := pseudo.New(pseudo.Options{Secret: []byte(strings.Repeat("s", 32)), Default: pseudo.Settings{Fields: pseudo.AllFields.Without(pseudo.Device)}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPseudonymiseGate(t *testing.T) {
	p := testPseudonymiser(t)
	in := `{"tenant":"fleet-a","vehicle":"WVWZZZ1JZXW000001","command":"unlock","channel":"app","command_id":"c-1",` +
		`"actor":{"account":"acc-1","device":"dev-9","ip":"203.0.113.7","client_id":"cl-1","role":"owner"}}`
	out, ok := pseudonymiseGate(p, []byte(in))
	if !ok {
		t.Fatal("a well-formed request was not rewritten")
	}
	var got gate.CommandRequest
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := func(k pseudo.Kind, v string) string {
		s, _, _, _ := p.Stored("fleet-a", k, v)
		return s
	}
	a := got.Actor
	if got.Vehicle != want(pseudo.Vehicle, "WVWZZZ1JZXW000001") || a.Account != want(pseudo.Account, "acc-1") || a.IP != want(pseudo.IP, "203.0.113.7") ||
		a.ClientID != want(pseudo.Client, "cl-1") || a.Device != "dev-9" || got.Command != "unlock" || got.CommandID != "c-1" || a.Role != "owner" {
		t.Errorf("rewritten %s", out)
	}
	// What the gate would refuse goes on as sent, for the gate to say why.
	for _, bad := range []string{
		`{"vehicle":"a","vehicle":"b","command":"lock","actor":{"account":"x"}}`,
		`{"Vehicle":"a","command":"lock","actor":{"account":"x"}}`,
		`{"vehicle":"a","command":"lock","actor":{"account":"x","account":"y"}}`,
		`{"vehicle":"a","command":"lock","actor":{"name":"x"}}`,
		`{"vehicle":null,"command":"lock","actor":{"account":"x"}}`,
		`{"vehicle":"a","command":"lock","actor":{"account":"x"}} {}`,
		`{"vehicle":"a","command":"lock","actor":"x"}`,
		"{\"vehicle\":\"\xff\",\"command\":\"lock\",\"actor\":{\"account\":\"x\"}}",
		`{"vehicle":"\ud800","command":"lock","actor":{"account":"x"}}`,
		`[1]`, ``, `{`,
	} {
		if _, ok := pseudonymiseGate(p, []byte(bad)); ok {
			t.Errorf("%q was rewritten", bad)
		}
	}
	// An address that is not one stays, for the gate to refuse.
	out, _ = pseudonymiseGate(p, []byte(`{"vehicle":"v","command":"lock","actor":{"account":"x","ip":"not-an-ip"}}`))
	if !strings.Contains(string(out), `"ip":"not-an-ip"`) {
		t.Errorf("invalid ip rewritten: %s", out)
	}
}

// FuzzPseudonymiseGate: any body either goes on as sent or becomes one
// request object the gate's own decoder could read.
func FuzzPseudonymiseGate(f *testing.F) {
	f.Add([]byte(`{"tenant":"t","vehicle":"v","command":"lock","actor":{"account":"a","ip":"::1"}}`))
	f.Add([]byte(`{"vehicle":"a","vehicle":"b"}`))
	p := testPseudonymiser(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		out, ok := pseudonymiseGate(p, b)
		if !ok {
			return
		}
		if !strictObject(out) {
			t.Fatalf("%q became %q", b, out)
		}
	})
}
