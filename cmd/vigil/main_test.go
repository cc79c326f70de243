package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStaticBinaryRunsMainJob builds vigil as the README says (pure Go,
// CGO_ENABLED=0) and runs its main job through a real pipe:
// vigil simulate | vigil replay.
func TestStaticBinaryRunsMainJob(t *testing.T) {
	bin := vigilBinary(t)

	sim := exec.Command(bin, "simulate", "--vehicles", "300", "--duration", "6h", "--attacks", "all", "--seed", "3")
	rep := exec.Command(bin, "replay")
	pipe, err := sim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	rep.Stdin = pipe
	var alerts, simErr, repErr bytes.Buffer
	rep.Stdout, rep.Stderr, sim.Stderr = &alerts, &repErr, &simErr
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	if err := rep.Start(); err != nil {
		t.Fatal(err)
	}
	if err := sim.Wait(); err != nil {
		t.Fatalf("simulate: %v\n%s", err, simErr.String())
	}
	if err := rep.Wait(); err != nil {
		t.Fatalf("replay: %v\n%s", err, repErr.String())
	}
	if !strings.Contains(repErr.String(), "rejected:         0\n") {
		t.Errorf("replay summary:\n%s", repErr.String())
	}
	lines := strings.Split(strings.TrimSpace(alerts.String()), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], `{"id":"al-`) {
		t.Errorf("no alerts on stdout:\n%s\n%s", alerts.String(), repErr.String())
	}

	// The binary links no cgo: its build settings say so.
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(info), "CGO_ENABLED=0") {
		t.Errorf("binary not built with CGO_ENABLED=0:\n%s", info)
	}
}

// TestDemoShowsAlertsWithinAMinute runs the README's main command, vigil
// demo, as a user would: alerts must scroll by within a minute, and Ctrl-C
// must stop it cleanly.
func TestDemoShowsAlertsWithinAMinute(t *testing.T) {
	bin := vigilBinary(t)
	cmd := exec.Command(bin, "demo", "--listen", "127.0.0.1:0", "--vehicles", "1000", "--speed", "2400")
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && strings.Count(out.String(), "\n    ") < 3 {
		time.Sleep(250 * time.Millisecond)
	}
	// The console sign-in the demo prints works.
	if m := demoSignIn.FindStringSubmatch(out.String()); m == nil {
		t.Errorf("the demo prints no console user and password:\n%s", out.String())
	} else {
		resp, err := http.Post(m[1]+"/v1/session", "application/json", strings.NewReader(`{"user":"analyst","password":"`+m[2]+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Set-Cookie"), "vigil_session=") {
			t.Errorf("signing in with the printed password: %s", resp.Status)
		}
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo did not stop cleanly on interrupt: %v\n%s", err, errb.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("demo did not stop within 30 s of an interrupt")
	}
	text := out.String()
	if !strings.Contains(text, "admin API key") || strings.Count(text, "\n    ") < 3 {
		t.Fatalf("fewer than 3 alerts within a minute:\n%s\n%s", text, errb.String())
	}
}

var demoSignIn = regexp.MustCompile(`analyst console: (http://[^/]+)/console/\s+sign in as "analyst" with password (\S+)`)

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
