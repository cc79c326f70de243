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
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for si, s := range stores {
		for w := range writersPerStore {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					batch := make([]store.ArchivedEvent, size)
					for i := range batch {
						batch[i] = ev("fleet-a", fmt.Sprintf("s%d-w%d-b%d-%d", si, w, b, i), i, "V")
					}
					if _, err := s.InsertEvents(ctx, all, batch); err != nil {
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
			evs, err := stores[0].ReadEvents(ctx, all, last, 64)
			if err != nil {
				t.Fatalf("ReadEvents: %v", err)
			}
			if len(evs) == 0 {
				return
			}
			for _, e := range evs {
				seen[e.ID]++
				last = e.Seq
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
	want := len(stores) * writersPerStore * batches * size
	if len(seen) != want {
		t.Fatalf("the follower saw %d of %d events: sequence numbers became visible out of order", len(seen), want)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("the follower saw %s %d times", id, n)
		}
	}
}

func testFollow(t *testing.T, b Backend) { Follow(t, []store.Store{open(t, b)}) }
