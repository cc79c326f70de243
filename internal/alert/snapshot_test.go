package alert

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/vigil-project/vigil/internal/snapshot"
)

// TestManagerSnapshot: a manager restored from a snapshot suppresses the
// repeats and groups the alerts the first one would have, merged incidents
// included, and snapshots to the same bytes.
func TestManagerSnapshot(t *testing.T) {
	type out struct{ id, inc string }
	var got []out
	opts := ManagerOptions{Suppressions: []Suppression{{Tenant: "*", Detector: "noise", Reason: "benign"}},
		Out: func(a *Alert, inc *Incident) {
			got = append(got, out{a.ID, fmt.Sprint(inc.ID, "/", inc.Alerts, "/", inc.Duplicates)})
		}}
	before := []*Alert{
		mk("al-1", "d1", 0, Entities{Account: "acc-1"}),
		mk("al-2", "d2", 10, Entities{IP: "192.0.2.1"}),
		mk("al-3", "d3", 20, Entities{Account: "acc-1", IP: "192.0.2.1"}), // merges the two incidents
		mk("al-4", "noise", 25, Entities{Account: "acc-1"}),
	}
	after := []*Alert{
		mk("al-5", "d1", 30, Entities{Account: "acc-1"}),   // a repeat of al-1: a duplicate
		mk("al-3", "d3", 40, Entities{Account: "acc-1"}),   // re-delivered
		mk("al-6", "d4", 50, Entities{IP: "192.0.2.1"}),    // joins the merged incident
		mk("al-7", "d4", 60, Entities{Account: "acc-new"}), // a new incident
	}
	run := func(restart bool) ([]out, ManagerStats, []byte) {
		got = nil
		m := NewManager(opts)
		for _, a := range before {
			m.Add(a)
		}
		var snap []byte
		if restart {
			var buf bytes.Buffer
			if err := m.Snapshot(&buf); err != nil {
				t.Fatal(err)
			}
			snap = buf.Bytes()
			m = NewManager(opts)
			if err := m.Restore(bytes.NewReader(snap)); err != nil {
				t.Fatal(err)
			}
			var again bytes.Buffer
			if err := m.Snapshot(&again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), snap) {
				t.Error("snapshot → restore → snapshot changed the bytes")
			}
		}
		for _, a := range after {
			c := *a
			m.Add(&c)
		}
		return got, m.Stats(), snap
	}
	want, wantStats, _ := run(false)
	have, haveStats, snap := run(true)
	if fmt.Sprint(have) != fmt.Sprint(want) || fmt.Sprint(haveStats) != fmt.Sprint(wantStats) {
		t.Errorf("after a restore: %v %+v\nwant: %v %+v", have, haveStats, want, wantStats)
	}
	if wantStats.Duplicates != 2 || wantStats.Suppressed["benign"] != 1 {
		t.Errorf("the case does not exercise duplicates and suppressions: %+v", wantStats)
	}
	m := NewManager(opts)
	for _, bad := range [][]byte{snap[:len(snap)-3], append(bytes.Clone(snap[:snapshot.HeaderLen]), 1, 2, 3)} {
		if err := m.Restore(bytes.NewReader(bad)); !errors.Is(err, snapshot.ErrCorrupt) {
			t.Errorf("restore of bad bytes: %v", err)
		}
	}
}
