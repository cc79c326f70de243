// Package detecttest runs detectors over data-driven cases: a file of
// events in, the alerts expected in a golden file next to it. Run the tests
// with -update to rewrite the golden files after a deliberate change.
package detecttest

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Run pushes the events of the NDJSON file through an engine with the given
// detectors and returns the alerts, one JSON line each, sorted.
func Run(t testing.TB, path string, opts engine.Options) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mu sync.Mutex
	var out []string
	opts.Alerts = func(a *alert.Alert) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, string(alert.AppendJSON(nil, a)))
	}
	eng, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := event.NewReader(f, event.NewDecoder(event.Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var re *event.RejectError
			if errors.As(err, &re) {
				t.Fatalf("%s: %v", path, err)
			}
			t.Fatal(err)
		}
		eng.Push(ev)
	}
	eng.Close()
	slices.Sort(out)
	return out
}

// RunRestarting is Run with a restart after every event: the engine's
// state is snapshotted and restored into a new engine with new detectors,
// which gets the next event. Its alerts must be Run's: a detector keeps
// nothing that a snapshot misses.
func RunRestarting(t testing.TB, path string, opts engine.Options, detectors func() []detect.Detector) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := event.NewReader(bytes.NewReader(data), event.NewDecoder(event.Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		evs = append(evs, ev)
	}
	var mu sync.Mutex
	var out []string
	opts.Alerts = func(a *alert.Alert) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, string(alert.AppendJSON(nil, a)))
	}
	start := func(snap []byte) *engine.Engine {
		o := opts
		o.Detectors = detectors()
		eng, err := engine.New(o)
		if err != nil {
			t.Fatal(err)
		}
		if snap != nil {
			if err := eng.Restore(bytes.NewReader(snap)); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		return eng
	}
	eng := start(nil)
	for _, ev := range evs {
		eng.Push(ev)
		var snap bytes.Buffer
		if err := eng.Snapshot(&snap); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		eng.Stop()
		eng = start(snap.Bytes())
	}
	eng.Close()
	slices.Sort(out)
	return out
}

// Cases runs every testdata/*.ndjson through a fresh set of detectors and
// compares the alerts with testdata/*.golden.
func Cases(t *testing.T, detectors func() []detect.Detector) {
	files, err := filepath.Glob("testdata/*.ndjson")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.ndjson cases (%v)", err)
	}
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), ".ndjson")
		t.Run(name, func(t *testing.T) {
			got := Run(t, in, engine.Options{Detectors: detectors()})
			Golden(t, strings.TrimSuffix(in, ".ndjson")+".golden", got)
			if again := RunRestarting(t, in, engine.Options{}, detectors); !slices.Equal(again, got) {
				t.Errorf("restarted from a snapshot after every event, the detectors raised:\n%s\nwithout restarts:\n%s",
					strings.Join(again, "\n"), strings.Join(got, "\n"))
			}
		})
	}
}

// Golden compares lines with a golden file (rewritten with -update). A case
// whose name starts with "quiet-" must produce no alert at all.
func Golden(t *testing.T, path string, got []string) {
	t.Helper()
	text := strings.Join(got, "\n")
	if len(got) > 0 {
		text += "\n"
	}
	if strings.HasPrefix(filepath.Base(path), "quiet-") && len(got) > 0 {
		t.Errorf("%s must raise no alert, got %d:\n%s", path, len(got), text)
	}
	if *update {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(want, []byte(text)) {
		t.Errorf("alerts differ from %s (run with -update after checking):\ngot:\n%s\nwant:\n%s", path, text, want)
	}
}
