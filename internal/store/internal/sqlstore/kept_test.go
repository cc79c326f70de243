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
// with it: the events of a step that holds another array stay as they were
// taken while the handed-back one fills, and handed-back entries are
// cleared. An array above the limit is let go.
func TestKeptEventsRecycle(t *testing.T) {
	const limit = 100
	ix := &indexer{on: true}
	keep(ix, 1, 4, 2)
	a, mark, before := ix.take(0, limit)
	if len(a) != 3 || mark != 4 || before != 0 {
		t.Fatalf("take: %d events, mark %d, before %d; want 3, 4, 0", len(a), mark, before)
	}
	keep(ix, 5, 2, -1) // while step a runs: a new array
	first := &a[:cap(a)][0]
	ix.recycle(a, limit)
	for i, s := range a[:cap(a)] {
		if s != (entrySource{}) {
			t.Fatalf("recycled entry %d not cleared: %+v", i, s)
		}
	}
	b, _, _ := ix.take(4, limit)
	if len(b) != 2 || b[0].seq != 5 || b[1].values[1] != "VIN6" {
		t.Fatalf("second take: %+v", b)
	}
	// While step b runs, the next requests fill a's array, not b's.
	keep(ix, 7, 3, -1)
	if got := &ix.kept.srcs[:1][0]; got != first {
		t.Errorf("the next requests did not fill the recycled array")
	}
	if b[0].seq != 5 || b[0].values[1] != "VIN5" || b[1].seq != 6 || b[1].values[1] != "VIN6" {
		t.Fatalf("step b's events changed under it: %+v", b)
	}
	c, mark, _ := ix.take(6, limit)
	if len(c) != 3 || c[0].seq != 7 || c[2].values[1] != "VIN9" || mark != 9 {
		t.Fatalf("third take: %+v, mark %d", c, mark)
	}

	// Too large an array, or any while the store does not index on its
	// own, is not kept.
	ix.kept.spare = nil
	ix.recycle(make([]entrySource, 0, limit+1), limit)
	if ix.kept.spare != nil {
		t.Errorf("an array above the limit was kept")
	}
	off := &indexer{}
	off.recycle(make([]entrySource, 3), limit)
	if off.kept.spare != nil {
		t.Errorf("an indexer that is off kept an array")
	}

	// A gap in the sequence starts again from the new request.
	keep(ix, 20, 2, -1)
	keep(ix, 30, 2, -1)
	if ix.kept.from != 30 || len(ix.kept.srcs) != 2 || ix.kept.srcs[0].seq != 30 || ix.kept.srcs[1].values[1] != "VIN31" {
		t.Fatalf("after a gap: from %d, %+v", ix.kept.from, ix.kept.srcs)
	}
}
