package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/store"
)

// The crash test re-runs this test binary as a child that inserts batches
// until it is killed.
const (
	crashDirEnv   = "VIGIL_STORE_CRASH_DIR"
	crashRoundEnv = "VIGIL_STORE_CRASH_ROUND"
	crashSyncEnv  = "VIGIL_STORE_CRASH_SYNC"
	crashWriters  = 4
	crashBatch    = 250
)

func crashEvent(round, writer, batch, i int) store.ArchivedEvent {
	id := fmt.Sprintf("r%d-w%d-b%d-%d", round, writer, batch, i)
	return store.ArchivedEvent{Tenant: "fleet-a", Source: "tsp/crash", ID: id, Type: "vehicle.telemetry",
		Time: int64(1e18) + int64(batch*crashBatch+i), Subject: fmt.Sprintf("VIN%d", i%50),
		Raw: []byte(`{"id":"` + id + `","padding":"` + strings.Repeat("x", 200) + `"}`), Arrived: time.Now().UnixNano()}
}

// TestCrashChild is the child's side: it prints "ack round writer batch"
// after each InsertEvents returns, never before.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper of TestCrashKeepsAcknowledged")
	}
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	s, err := Open(context.Background(), dir, Options{Synchronous: os.Getenv(crashSyncEnv)})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex // one line per Write
	for w := range crashWriters {
		go func() {
			for b := 0; ; b++ {
				batch := make([]store.ArchivedEvent, crashBatch)
				for i := range batch {
					batch[i] = crashEvent(round, w, b, i)
				}
				if b > 0 && b%3 == 0 {
					// A client retrying its previous batch alongside new events.
					batch = append(batch, crashEvent(round, w, b-1, 0), crashEvent(round, w, b-1, 1))
				}
				if _, err := s.InsertEvents(context.Background(), store.AllTenants(), batch); err != nil {
					fmt.Println("insert:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %d %d\n", round, w, b)
				mu.Unlock()
			}
		}()
	}
	select {} // until killed
}

// TestCrashKeepsAcknowledged kills the writing child with SIGKILL at a
// random moment, reopens the store and checks that every event of every
// acknowledged batch is archived exactly once; then does it again on the
// same database, with each synchronous setting.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	acked := map[[3]int]bool{} // round, writer, batch
	for round, sync := range []string{"full", "normal", "full"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.v=false")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round), crashSyncEnv+"="+sync)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of acknowledged batches, mid-stream.
		killAfter := 5 + rand.IntN(40)
		lines := bufio.NewScanner(out)
		n := 0
		killed := false
		for lines.Scan() {
			var r, w, b int
			if _, err := fmt.Sscanf(lines.Text(), "ack %d %d %d", &r, &w, &b); err != nil {
				t.Fatalf("child: %s", lines.Text())
			}
			acked[[3]int{r, w, b}] = true
			if n++; n == killAfter && !killed {
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
				killed = true
			}
		}
		// Lines the child wrote before it died are still in the pipe: they
		// count as acknowledged too.
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d: the child ended before it was killed", round)
		}
		t.Logf("round %d (synchronous=%s): killed after %d acknowledged batches", round, sync, n)
		checkArchive(t, dir, acked)
	}
}

// checkArchive reopens the store and checks every acknowledged event is
// there exactly once, in sequence order, and that resending it is a
// duplicate.
func checkArchive(t *testing.T, dir string, acked map[[3]int]bool) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	defer s.Close()
	seen := map[string]int{}
	var last int64
	for {
		evs, err := s.ReadEvents(ctx, store.AllTenants(), last, store.MaxReadBatch)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Seq <= last {
				t.Fatalf("sequence %d after %d", e.Seq, last)
			}
			last = e.Seq
			seen[e.ID]++
		}
	}
	var resend []store.ArchivedEvent
	for k := range acked {
		for i := range crashBatch {
			e := crashEvent(k[0], k[1], k[2], i)
			if c := seen[e.ID]; c != 1 {
				t.Fatalf("acknowledged event %s archived %d times, want exactly once", e.ID, c)
			}
			if len(resend) < store.MaxInsertBatch {
				resend = append(resend, e)
			}
		}
	}
	res, err := s.InsertEvents(ctx, store.AllTenants(), resend)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Duplicate {
			t.Fatalf("resent acknowledged event %s was not a duplicate", resend[i].ID)
		}
	}
}
