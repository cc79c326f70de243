package main

import (
	"bufio"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestKill9AfterCheckpoint kills the server with SIGKILL under load after it
// has checkpointed its engine: the restart restores the checkpoint, reads
// only the archive after it, and every acknowledged event is there exactly
// once and counted once by detection.
func TestKill9AfterCheckpoint(t *testing.T) {
	dir := t.TempDir()
	bin := vigilBinary(t)
	lines := simulatedDay(t)
	const batch = 200
	nb := (len(lines) + batch - 1) / batch
	part := func(i int) [][]byte { return lines[i*batch : min((i+1)*batch, len(lines))] }
	cfg := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfg, []byte("engine:\n  snapshot_interval: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	base := "http://" + addr

	srv, key, _ := startServe(t, bin, addr, data, cfg, true)
	acked := map[int]bool{}
	first := nb * 4 / 10
	for i := range first {
		if code, _ := post(base, key, part(i)); code != 200 {
			t.Fatalf("batch %d: %d", i, code)
		}
		acked[i] = true
	}
	// A checkpoint covers part of it...
	var seq int64
	for deadline := time.Now().Add(60 * time.Second); seq == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		seq = metric(base, key, "vigil_checkpoint_seq")
	}
	if seq == 0 {
		t.Fatal("no checkpoint was saved within a minute at snapshot_interval 1s")
	}
	// ... and the rest comes under load, killed part way.
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := first + w; i < nb; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				if code, _ := post(base, key, part(i)); code == 200 {
					mu.Lock()
					acked[i] = true
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
	srv.Process.Signal(syscall.SIGKILL)
	srv.Wait()
	close(stop)
	wg.Wait()

	srv2, _, logs := startServe(t, bin, addr, data, cfg, false)
	defer func() {
		srv2.Process.Signal(os.Interrupt)
		srv2.Wait()
	}()
	for i := range acked {
		if code, res := post(base, key, part(i)); code != 200 || res.Duplicates != len(part(i)) || res.Accepted != 0 {
			t.Fatalf("batch %d was acknowledged before the kill, resent after it: %d %+v", i, code, res)
		}
	}
	for i := range nb {
		if !acked[i] {
			if code, _ := post(base, key, part(i)); code != 200 {
				t.Fatalf("batch %d: %d", i, code)
			}
		}
	}
	var stats struct {
		EventsReceived int64 `json:"events_received"`
		ProcessingLag  int64 `json:"processing_lag"`
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if get(base+"/v1/stats", key, &stats) == 200 && stats.ProcessingLag == 0 && stats.EventsReceived == int64(len(lines)) {
			break
		}
	}
	restored := regexp.MustCompile(`restored the engine from its checkpoint; reading the archive after it" seq=(\d+)`).FindStringSubmatch(logs.String())
	if restored == nil {
		t.Fatalf("the restart did not restore the checkpoint:\n%s", logs)
	}
	from, _ := strconv.ParseInt(restored[1], 10, 64)
	if from < seq {
		t.Errorf("restored the checkpoint of seq %d, one of seq %d was saved before the kill", from, seq)
	}
	if stats.EventsReceived != int64(len(lines)) {
		t.Fatalf("detection counts %d events after the restart from seq %d, the archive holds %d", stats.EventsReceived, from, len(lines))
	}
	t.Logf("killed after %d of %d batches acknowledged; restored from seq %d; all %d events processed once", len(acked), nb, from, len(lines))
}

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe starts vigil serve (with a configuration file unless cfg is
// "") and waits until it answers, keeping its log; on the first start it
// reads the admin key it prints.
func startServe(t *testing.T, bin, addr, data, cfg string, first bool) (*exec.Cmd, string, *logBuffer) {
	t.Helper()
	args := []string{"serve", "--listen", addr, "--data-dir", data}
	if cfg != "" {
		args = append(args, "--config", cfg)
	}
	cmd := exec.Command(bin, args...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	keyc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.mu.Lock()
			logs.b.WriteString(sc.Text() + "\n")
			logs.mu.Unlock()
			if m := keyLine.FindStringSubmatch(sc.Text()); m != nil {
				keyc <- m[1]
			}
		}
	}()
	var key string
	if first {
		select {
		case key = <-keyc:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatal("serve printed no admin key")
		}
	}
	for range 300 {
		if resp, err := http.Get("http://" + addr + "/v1/health"); err == nil {
			resp.Body.Close()
			return cmd, key, logs
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatalf("serve did not answer:\n%s", logs)
	return nil, "", nil
}

// metric reads one unlabelled metric from /metrics (0 when absent).
func metric(base, key, name string) int64 {
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int64(f)
		}
	}
	return 0
}
