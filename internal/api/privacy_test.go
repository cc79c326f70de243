package api

import (
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

// TestPseudonymiseGate: the identities of a request the gate has read
// become the tenant's pseudonyms, whatever their characters; the rest is
// kept, and so is a kind the tenant keeps (devices here).
func TestPseudonymiseGate(t *testing.T) {
	p := testPseudonymiser(t)
	want := func(k pseudo.Kind, v string) string {
		s, _, _, _ := p.Stored("fleet-a", k, v)
		return s
	}
	for _, vin := range []string{"WVWZZZ1JZXW000001", "WVW\ufffdZZ1JZXW000001"} {
		req := gate.CommandRequest{Tenant: "fleet-a", Vehicle: vin, Command: "unlock", Channel: "app", CommandID: "c-1",
			Actor: gate.CommandActor{Account: "acc-\ufffd", Device: "dev-9", IP: "203.0.113.7", ClientID: "cl-1", Role: "owner"}}
		if err := pseudonymiseGate(p, &req); err != nil {
			t.Fatal(err)
		}
		a := req.Actor
		if req.Vehicle != want(pseudo.Vehicle, vin) || a.Account != want(pseudo.Account, "acc-\ufffd") || a.IP != want(pseudo.IP, "203.0.113.7") ||
			a.ClientID != want(pseudo.Client, "cl-1") || a.Device != "dev-9" || req.Command != "unlock" || req.CommandID != "c-1" || a.Role != "owner" ||
			req.Tenant != "fleet-a" || req.Channel != "app" {
			t.Errorf("rewritten %+v", req)
		}
		if req.Vehicle == vin || a.Account == "acc-\ufffd" {
			t.Errorf("an identity was kept: %+v", req)
		}
	}
}
