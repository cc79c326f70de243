package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestKill9UnderLoad kills vigil serve with SIGKILL while producers are
// posting, restarts it on the same data directory, and checks that every
// acknowledged event is there exactly once (resending it is a duplicate)
// and that detection processes the whole archive once more without loss.
func TestKill9UnderLoad(t *testing.T) {
	dir := t.TempDir()
	bin := vigilBinary(t)
	lines := simulatedDay(t)
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	base := "http://" + addr

	srv, key, _ := startServe(t, bin, addr, data, "", true)
	var mu sync.Mutex
	acked := map[int]bool{} // batch index → acknowledged
	const batch = 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i*batch < len(lines); i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				if code, _ := post(base, key, lines[i*batch:min((i+1)*batch, len(lines))]); code == 200 {
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
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n == 0 {
		t.Fatal("no batch was acknowledged before the kill: nothing was tested")
	}

	srv2, _, _ := startServe(t, bin, addr, data, "", false)
	defer func() {
		srv2.Process.Signal(os.Interrupt)
		srv2.Wait()
	}()
	// Every acknowledged event survived the kill, exactly once.
	for i := range acked {
		code, res := post(base, key, lines[i*batch:min((i+1)*batch, len(lines))])
		want := min((i+1)*batch, len(lines)) - i*batch
		if code != 200 || res.Duplicates != want || res.Accepted != 0 {
			t.Fatalf("batch %d was acknowledged before the kill, resent after it: %d %+v, want %d duplicates", i, code, res, want)
		}
	}
	// Send the rest; then detection must have read the whole stream once.
	for i := 0; i*batch < len(lines); i++ {
		if !acked[i] {
			if code, _ := post(base, key, lines[i*batch:min((i+1)*batch, len(lines))]); code != 200 {
				t.Fatalf("batch %d: %d", i, code)
			}
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	var stats struct {
		EventsReceived int64 `json:"events_received"`
		ProcessingLag  int64 `json:"processing_lag"`
	}
	for time.Now().Before(deadline) {
		if get(base+"/v1/stats", key, &stats) == 200 && stats.ProcessingLag == 0 && stats.EventsReceived == int64(len(lines)) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if stats.EventsReceived != int64(len(lines)) {
		t.Fatalf("detection processed %d events after the restart, the archive holds %d", stats.EventsReceived, len(lines))
	}
	t.Logf("killed after %d acknowledged batches of %d; all %d events processed once after the restart", n, batch, len(lines))
}

var keyLine = regexp.MustCompile(`(?m)^\s+(vgl_[0-9a-f]{16}_\S+)$`)

type ingestResult struct {
	Accepted, Duplicates, Rejected int
}

func post(base, key string, lines [][]byte) (int, ingestResult) {
	req, _ := http.NewRequest("POST", base+"/v1/events", bytes.NewReader(bytes.Join(lines, nil)))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ingestResult{}
	}
	defer resp.Body.Close()
	var res ingestResult
	json.NewDecoder(resp.Body).Decode(&res)
	return resp.StatusCode, res
}

func get(url, key string, out any) int {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		json.NewDecoder(resp.Body).Decode(out)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
