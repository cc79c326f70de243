package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/config"
)

// threadNices reads the nice value of every thread of a process.
func threadNices(t *testing.T, pid int) map[int]int {
	t.Helper()
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue // the thread ended
		}
		// After "pid (comm) ", nice is the 17th field (stat's 19th).
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		nice, err := strconv.Atoi(f[16])
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		tid, _ := strconv.Atoi(e.Name())
		out[tid] = nice
	}
	return out
}

// vigil serve runs its bulk workers on threads of lower priority than the
// rest (engine.worker_nice), and not at all with 0.
func TestServeLowersBulkWorkerPriority(t *testing.T) {
	bin := vigilBinary(t)
	dir := t.TempDir()

	// The server inherits this process's nice value (nice go test).
	base := threadNices(t, os.Getpid())[os.Getpid()]
	lowered := min(19, base+config.DefaultWorkerNice)
	srv, _, _ := startServe(t, bin, freeAddr(t), filepath.Join(dir, "a"), "", true)
	nices := threadNices(t, srv.Process.Pid)
	srv.Process.Kill()
	srv.Wait()
	low := 0
	for _, n := range nices {
		if n == lowered {
			low++
		}
	}
	// The archive writer, timeline indexer, WAL checkpointer, event
	// follower, alert writer and at least one shard.
	if low < 6 {
		t.Errorf("%d threads at nice %d, want at least 6: %v", low, lowered, nices)
	}
	if n := nices[srv.Process.Pid]; n != base {
		t.Errorf("main thread at nice %d, want %d", n, base)
	}
	if low == len(nices) {
		t.Errorf("every thread lowered: %v", nices)
	}

	cfg := filepath.Join(dir, "off.yaml")
	if err := os.WriteFile(cfg, []byte("engine:\n  worker_nice: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, _, _ = startServe(t, bin, freeAddr(t), filepath.Join(dir, "b"), cfg, true)
	nices = threadNices(t, srv.Process.Pid)
	srv.Process.Kill()
	srv.Wait()
	for tid, n := range nices {
		if n != base {
			t.Errorf("worker_nice 0: thread %d at nice %d, want %d", tid, n, base)
		}
	}
}
