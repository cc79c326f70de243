package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The tests of this package drive the real binary, built once.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	binErr    error

	dayOnce  sync.Once
	dayLines [][]byte
	dayErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// vigilBinary builds vigil with CGO_ENABLED=0, as released.
func vigilBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "vigil-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "vigil")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("CGO_ENABLED=0 go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// simulatedDay is 12 h of a 1,000-vehicle fleet with every attack, one
// event a line, from the binary's own simulator.
func simulatedDay(t *testing.T) [][]byte {
	t.Helper()
	bin := vigilBinary(t)
	dayOnce.Do(func() {
		stream, err := exec.Command(bin, "simulate", "--vehicles", "1000", "--duration", "12h", "--attacks", "all", "--seed", "9").Output()
		if err != nil {
			dayErr = err
			return
		}
		dayLines = bytes.SplitAfter(bytes.TrimSpace(stream), []byte("\n"))
	})
	if dayErr != nil {
		t.Fatal(dayErr)
	}
	return dayLines
}
