package sqlstore

import (
	"fmt"
	"testing"

	"github.com/vigil-project/vigil/internal/store"
)

// keptRequest is a committed request of n events from seq base on, the
// one at dup (when ≥ 0) a duplicate.
func keptRequest(base int64, n, dup int) ([]store.ArchivedEvent, []store.Inserted) {
	evs := make([]store.ArchivedEvent, n)
	out := make([]store.Inserted, n)
	for i := range evs {
		seq := base + int64(i)
		evs[i] = store.ArchivedEvent{Tenant: "t1", Subject: fmt.Sprintf("VIN%d", seq), Time: seq * 10}
		out[i] = store.Inserted{Seq: seq}
		if i == dup {
			out[i] = store.Inserted{Duplicate: true}
		}
	}
	return evs, out
}

// keep adds keptRequest(base, n, dup) to ix as the commit loop does.
func keep(ix *indexer, base int64, n, dup int) {
	evs, out := keptRequest(base, n, dup)
	ix.kept.add(base, base+int64(n)-1, evs, out)
}

// TestKeptEventsRecycle checks that an indexing step's array, handed back,
// is filled again by the next requests, and only after the step is done
// with it: the step's events stay as they were taken until it recycles
// them, and are cleared then.
func TestKeptEventsRecycle(t *testing.T) {
	ix := &indexer{on: true}
	keep(ix, 1, 4, 2)
	taken, mark, before := ix.take(0, 100)
	if len(taken) != 3 || mark != 4 || before != 0 {
		t.Fatalf("take: %d events, mark %d, before %d; want 3, 4, 0", len(taken), mark, before)
	}
	// Requests committed while the step runs go to a new array.
	keep(ix, 5, 2, -1)
	if taken[0].values[1] != "VIN1" || taken[2].values[1] != "VIN4" {
		t.Fatalf("the step's events changed under it: %+v", taken)
	}
	second, _, _ := ix.take(4, 100)
	if len(second) != 2 || second[0].seq != 5 {
		t.Fatalf("second take: %+v", second)
	}

	first := &taken[:cap(taken)][0]
	ix.recycle(taken)
	for i, s := range taken[:cap(taken)] {
		if s != (entrySource{}) {
			t.Fatalf("recycled entry %d not cleared: %+v", i, s)
		}
	}
	ix.recycle(second) // the smaller array is not kept
	keep(ix, 7, 3, -1)
	if got := &ix.kept.srcs[:1][0]; got != first {
		t.Errorf("the next requests did not fill the recycled array")
	}
	third, mark, _ := ix.take(6, 100)
	if len(third) != 3 || third[0].seq != 7 || third[2].values[1] != "VIN9" || mark != 9 {
		t.Fatalf("third take: %+v, mark %d", third, mark)
	}

	// A restart (a gap in the sequence) reuses the array it drops.
	keep(ix, 20, 2, -1)
	keep(ix, 30, 2, -1)
	if ix.kept.from != 30 || len(ix.kept.srcs) != 2 || ix.kept.srcs[0].seq != 30 {
		t.Fatalf("after a gap: from %d, %+v", ix.kept.from, ix.kept.srcs)
	}
}
