package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/store"
)

// Follow checks what the processor relies on after a restart: a reader
// that keeps calling ReadEvents after the last sequence number it saw, while
// writers insert through every store in stores (one store, or several nodes
// sharing a database), sees every event exactly once. It would miss events
// if sequence numbers could become visible out of order.
func Follow(t *testing.T, stores []store.Store) {
	t.Helper()
	const writersPerStore, batches, size = 3, 15, 40
	seen, _ := followWhileWriting(t, stores, writersPerStore, batches,
		func(s store.Store, si, w, b int) error {
			batch := make([]store.ArchivedEvent, size)
			for i := range batch {
				batch[i] = ev("fleet-a", fmt.Sprintf("s%d-w%d-b%d-%d", si, w, b, i), i, "V")
			}
			_, err := s.InsertEvents(ctx, all, batch)
			return err
		},
		func(last int64) ([]followed, error) {
			evs, err := stores[0].ReadEvents(ctx, all, last, 64)
			out := make([]followed, len(evs))
			for i, e := range evs {
				out[i] = followed{e.ID, e.Seq}
			}
			return out, err
		}, false)
	want := len(stores) * writersPerStore * batches * size
	if len(seen) != want {
		t.Fatalf("the follower saw %d of %d events: sequence numbers became visible out of order", len(seen), want)
	}
}

// followed is one item a follower read: its id and sequence number.
type followed struct {
	id  string
	seq int64
}

// followWhileWriting runs writersPerStore writers on every store, each
// calling write batches times, while it reads after the last sequence
// number it saw until the writers are done and nothing is left. Every item
// must be seen once; with gapless, numbers must also come 1, 2, 3….
func followWhileWriting(t *testing.T, stores []store.Store, writersPerStore, batches int,
	write func(s store.Store, si, w, b int) error, read func(last int64) ([]followed, error), gapless bool) (map[string]int, int64) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*writersPerStore)
	for si, s := range stores {
		for w := range writersPerStore {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					if err := write(s, si, w, b); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[string]int{}
	var last int64
	follow := func() {
		for {
			items, err := read(last)
			if err != nil {
				t.Fatalf("reading after %d: %v", last, err)
			}
			if len(items) == 0 {
				return
			}
			for _, it := range items {
				if gapless && it.seq != last+1 {
					t.Fatalf("after %d the follower saw %s numbered %d: a number was skipped or became visible out of order", last, it.id, it.seq)
				}
				seen[it.id]++
				last = it.seq
			}
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		case err := <-errs:
			t.Fatal(err)
		default:
			time.Sleep(time.Millisecond)
		}
		follow()
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("the follower saw %s %d times", id, n)
		}
	}
	return seen, last
}

func testFollow(t *testing.T, b Backend) { Follow(t, []store.Store{open(t, b)}) }
