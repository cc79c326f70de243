package directory

import (
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/event"
)

func TestLoad(t *testing.T) {
	d, err := Load(strings.NewReader("tenant,kind,principal,vehicle,role\n" +
		"fleet-a,account,acc-1,V1,owner\nfleet-a,account,acc-1,V2,\nfleet-a,client,partner-x,V1,third_party\n" +
		"fleet-a,account,staff-1,,staff\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Linked("fleet-a", Account, "acc-1", "V2") || d.Linked("fleet-b", Account, "acc-1", "V2") ||
		d.Linked("fleet-a", Client, "acc-1", "V1") || !d.Linked("fleet-a", Client, "partner-x", "V1") {
		t.Error("Linked answers wrong")
	}
	if d.Vehicles("fleet-a", Account, "acc-1") != 2 || d.Role("fleet-a", Account, "staff-1") != event.RoleStaff ||
		!d.Known("fleet-a", Account, "staff-1") || d.Known("fleet-a", Account, "nobody") {
		t.Error("Vehicles, Role or Known answers wrong")
	}
	var nilDir *Directory
	if nilDir.Linked("t", Account, "a", "v") || nilDir.Vehicles("t", Account, "a") != 0 {
		t.Error("a nil directory must know nothing")
	}
}

func TestLoadErrors(t *testing.T) {
	for _, in := range []string{
		"", "a,b,c,d,e\n", "tenant,kind,principal,vehicle,role\nt,robot,p,v,\n",
		"tenant,kind,principal,vehicle,role\nt,account,p,v,king\n", "tenant,kind,principal,vehicle,role\nt,account,,v,\n",
		"tenant,kind,principal,vehicle,role\nt,account,p\n",
	} {
		if _, err := Load(strings.NewReader(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
