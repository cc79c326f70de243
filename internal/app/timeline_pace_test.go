package app

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestServeTimelinePace: store.timeline_batch and store.timeline_delay
// reach the store. With a minute's delay, events fewer than a batch wait
// (past the default delay of 2s); once a batch's worth waits, a step of
// one batch runs at once (the default batch, 200,000, would wait the
// minute) and the rest waits again.
func TestServeTimelinePace(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfg, []byte("store:\n  timeline_batch: 1000\n  timeline_delay: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServerWith(t, serveOptions{DataDir: filepath.Join(dir, "data"), ConfigPath: cfg})
	lagger, ok := ts.srv.store.(interface{ TimelineLag() int64 })
	if !ok {
		t.Fatalf("the store (%T) does not report its timeline lag", ts.srv.store)
	}
	stream, _ := simStream(t, 5)
	lines := bytes.SplitAfter(bytes.TrimSpace(stream), []byte("\n"))
	if len(lines) < 1100 {
		t.Fatalf("the stream has %d events", len(lines))
	}
	ingest := ts.key(t, "ingest", "*")
	if n, _ := ts.post(t, ingest, bytes.Join(lines[:500], nil), 500); n != 500 {
		t.Fatalf("accepted %d of 500", n)
	}
	time.Sleep(3 * time.Second) // past the default delay
	if lag := lagger.TimelineLag(); lag != 500 {
		t.Errorf("3s after 500 events, %d wait for the timeline; want all 500 (timeline_delay: 1m)", lag)
	}
	if n, _ := ts.post(t, ingest, bytes.Join(lines[500:1100], nil), 600); n != 600 {
		t.Fatalf("accepted %d of 600", n)
	}
	// One step of 1,000 runs; the 100 left wait for the delay again.
	deadline := time.Now().Add(30 * time.Second)
	for lagger.TimelineLag() > 100 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if lag := lagger.TimelineLag(); lag != 100 {
		t.Errorf("with 1,100 events waiting and timeline_batch 1000, %d wait after the step; want 100", lag)
	}
}
