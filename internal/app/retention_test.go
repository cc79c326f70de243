package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRetentionDeletesOldEvents: with a retention of a day, the simulated
// events (dated months ago) are deleted from the archive by the server.
func TestRetentionDeletesOldEvents(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfg, []byte("retention:\n  events: 24h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *testServer, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveOptions{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), ConfigPath: cfg,
			RetentionEvery: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), KeyOut: io.Discard,
			Ready: func(base string, srv *server) { ready <- &testServer{base: base, srv: srv} }})
	}()
	var ts *testServer
	select {
	case ts = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	admin := ts.key(t, "admin", "*")
	stream, _ := simStream(t, 23)
	part := stream[:bytes.LastIndexByte(stream[:len(stream)/10], '\n')+1]
	if acc, _ := ts.post(t, admin, part, 500); acc == 0 {
		t.Fatal("nothing accepted")
	}
	ts.waitCaughtUp(t)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var page struct {
			Events []map[string]any `json:"events"`
			Next   string           `json:"next"`
		}
		if code := ts.call(t, "GET", "/v1/events?limit=10", admin, nil, nil, &page); code == 200 && len(page.Events) == 0 {
			cancel()
			<-done
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("events older than the retention are still in the archive")
}
