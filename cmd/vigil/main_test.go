package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestStaticBinaryRunsMainJob builds vigil as the README says (pure Go,
// CGO_ENABLED=0) and runs its main job through a real pipe:
// vigil simulate | vigil replay.
func TestStaticBinaryRunsMainJob(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "vigil")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}

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
