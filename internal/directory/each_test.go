package directory

import (
	"slices"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/event"
)

func TestEach(t *testing.T) {
	d, err := Load(strings.NewReader("tenant,kind,principal,vehicle,role\n" +
		"fleet-a,account,acc-1,V1,owner\nfleet-a,account,acc-1,V2,\nfleet-a,client,cl-1,V1,third_party\nfleet-b,account,staff-1,,staff\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	d.Each(func(tenant string, k Kind, id, vehicle string, role event.Role) {
		got = append(got, strings.Join([]string{tenant, []string{"account", "client"}[k], id, vehicle, role.String()}, ","))
	})
	slices.Sort(got)
	want := []string{"fleet-a,account,acc-1,V1,owner", "fleet-a,account,acc-1,V2,owner", "fleet-a,client,cl-1,V1,third_party", "fleet-b,account,staff-1,,staff"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	var nilDir *Directory
	nilDir.Each(func(string, Kind, string, string, event.Role) { t.Error("a nil directory has links") })
}
