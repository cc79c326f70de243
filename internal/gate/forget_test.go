package gate

import (
	"slices"
	"testing"

	"github.com/vigil-project/vigil/internal/twin"
)

// TestRingDrop: dropping decisions keeps the others, newest first, also
// when the ring has wrapped, and new ones go on after them.
func TestRingDrop(t *testing.T) {
	r := newRing(4)
	for _, v := range []string{"a", "x", "b", "x", "c", "d"} { // the ring keeps b, x, c, d
		r.add(&DecisionRecord{Tenant: "t", Vehicle: v})
	}
	r.drop(func(d *DecisionRecord) bool { return d.Vehicle == "x" })
	names := func() []string {
		var out []string
		for _, d := range r.newest(10, func(*DecisionRecord) bool { return true }) {
			out = append(out, d.Vehicle)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"d", "c", "b"}) {
		t.Fatalf("after the drop: %v", got)
	}
	r.add(&DecisionRecord{Tenant: "t", Vehicle: "e"})
	r.add(&DecisionRecord{Tenant: "t", Vehicle: "f"})
	if got := names(); !slices.Equal(got, []string{"f", "e", "d", "c"}) {
		t.Fatalf("after two more: %v", got)
	}
}

// TestViewForgetsAccountInLinks: an erased account leaves the links of
// every vehicle of its tenant (not another tenant's), as a new set.
func TestViewForgetsAccountInLinks(t *testing.T) {
	v := newView()
	old := &linkSet{List: []linkEntry{{Account: "gone", Linked: true}, {Account: "kept", Linked: true}}, TransferAt: 5, TransferTo: "gone"}
	v.setLinks(vkey{"t", "V1"}, old)
	other := &linkSet{List: []linkEntry{{Account: "gone", Linked: true}}}
	v.setLinks(vkey{"u", "V1"}, other)
	v.setTrail(vkey{"t", "gone"}, trail{ChangeAt: 1}, true)
	v.forget(vkey{"t", "gone"}, twin.SubjectAccount)
	l := v.links(vkey{"t", "V1"})
	if l == old || len(l.List) != 1 || l.List[0].Account != "kept" || l.TransferTo != "" || l.TransferAt != 5 {
		t.Errorf("links after the erasure: %+v", l)
	}
	if len(old.List) != 2 {
		t.Error("the set a reader may hold was changed in place")
	}
	if v.links(vkey{"u", "V1"}).find("gone") == nil {
		t.Error("another tenant's account of the same name was forgotten")
	}
	if _, ok := v.trail(vkey{"t", "gone"}); ok {
		t.Error("the account's trail stays")
	}
}
