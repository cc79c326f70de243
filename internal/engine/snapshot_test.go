package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/command"
	"github.com/vigil-project/vigil/internal/detect/credential"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/snapshot"
)

// lines collects alerts as sorted JSON lines.
type lines struct {
	mu  sync.Mutex
	out []string
}

func (l *lines) add(a *alert.Alert) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out = append(l.out, string(alert.AppendJSON(nil, a)))
}

func (l *lines) sorted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := slices.Clone(l.out)
	slices.Sort(s)
	return s
}

func snapDetectors() []detect.Detector {
	return []detect.Detector{command.NewOrphan(command.OrphanConfig{Window: 2 * time.Minute}), credential.New(credential.Config{})}
}

func snapEngine(t testing.TB, shards int, out *lines) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Options{Shards: shards, Detectors: snapDetectors(), Alerts: out.add})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// snapStream: unlocks with and without their command, failed logins, a
// duplicate, over two tenants and ten minutes.
func snapStream() []*event.Event {
	var evs []*event.Event
	for i := range 60 {
		sec := float64(i * 10)
		tenant := []string{"t", "u"}[i%2]
		vin := fmt.Sprint("V", i%7)
		u := unlocked(fmt.Sprint("u", i), sec, vin)
		u.Tenant = tenant
		if i%3 == 0 {
			u.VehicleEvent.CommandID = fmt.Sprint("c", i)
			evs = append(evs, &event.Event{ID: fmt.Sprint("c", i), Source: "api", Type: event.TypeCommand, Time: at(sec - 5), Subject: vin, Tenant: tenant,
				Command: &event.Command{CommandID: fmt.Sprint("c", i), Command: event.CmdUnlock, Stage: event.StageRequested, Actor: event.Actor{Account: "acc-1"}}})
		}
		evs = append(evs, u, failure(fmt.Sprint("l", i), sec+1, fmt.Sprint("acc-", i%3), tenant), fix(fmt.Sprint("f", i), sec+2, vin, tenant))
	}
	evs = append(evs, evs[10]) // a duplicate the dedup set must still know after a restore
	return evs
}

// TestSnapshotResumes: a snapshot at any point, restored into a new engine
// that gets the rest of the input, gives the alerts and counters of one
// engine that got it all.
func TestSnapshotResumes(t *testing.T) {
	evs := snapStream()
	var whole lines
	e := snapEngine(t, 2, &whole)
	for _, ev := range evs {
		e.Push(ev)
	}
	e.Close()
	want, wantStats := whole.sorted(), e.Stats()
	if len(want) < 5 || wantStats.Duplicates != 1 {
		t.Fatalf("%d alerts, %d duplicates: the stream does not exercise the engine", len(want), wantStats.Duplicates)
	}
	for _, cut := range []int{1, 17, len(evs) / 2, len(evs) - 1} {
		t.Run(fmt.Sprint("cut=", cut), func(t *testing.T) {
			var got lines
			first := snapEngine(t, 2, &got)
			for _, ev := range evs[:cut] {
				first.Push(ev)
			}
			var snap bytes.Buffer
			if err := first.Snapshot(&snap); err != nil {
				t.Fatal(err)
			}
			first.Stop()
			second := snapEngine(t, 2, &got)
			if err := second.Restore(bytes.NewReader(snap.Bytes())); err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs[cut:] {
				second.Push(ev)
			}
			second.Close()
			if g := got.sorted(); !slices.Equal(g, want) {
				t.Errorf("%d alerts, want %d:\n%s", len(g), len(want), diff(g, want))
			}
			if st := second.Stats(); !equalStats(st, wantStats) {
				t.Errorf("counters %+v, want %+v", st, wantStats)
			}
		})
	}
}

func equalStats(a, b engine.Stats) bool {
	return a.Received == b.Received && a.Duplicates == b.Duplicates && a.Late == b.Late && a.Future == b.Future &&
		a.Routed == b.Routed && a.Timers == b.Timers && a.Evicted == b.Evicted && fmt.Sprint(a.Alerts) == fmt.Sprint(b.Alerts)
}

func diff(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "+ %s\n", g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "- %s\n", w)
		}
	}
	return b.String()
}

// TestSnapshotRoundTrip: snapshot, restore, snapshot gives the same bytes.
func TestSnapshotRoundTrip(t *testing.T) {
	var out lines
	e := snapEngine(t, 3, &out)
	for _, ev := range snapStream()[:100] {
		e.Push(ev)
	}
	var a, b bytes.Buffer
	if err := e.Snapshot(&a); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	pending := 0
	r := snapEngine(t, 3, &out)
	defer r.Close()
	if err := r.Restore(bytes.NewReader(a.Bytes())); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	r.Query(func(v engine.ShardView) {
		mu.Lock()
		defer mu.Unlock()
		pending += v.Timers()["cmd.orphan-state-change"]
	})
	if pending == 0 {
		t.Error("no absence window is open at the cut: the test does not cover timers")
	}
	if err := r.Snapshot(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("the snapshot of the restored engine differs: %d bytes, first %d", b.Len(), a.Len())
	}
}

// TestRestoreRefuses: bytes that are not a snapshot of this engine are
// refused with an error saying why, and the engine stays usable.
func TestRestoreRefuses(t *testing.T) {
	var out lines
	e := snapEngine(t, 2, &out)
	for _, ev := range snapStream()[:50] {
		e.Push(ev)
	}
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	good := buf.Bytes()
	flip := slices.Clone(good)
	flip[len(flip)/2] ^= 0x40
	version := slices.Clone(good)
	version[5] = 99
	for _, c := range []struct {
		name   string
		data   []byte
		shards int
		dets   []detect.Detector
		want   error
		says   string
	}{
		{"empty", nil, 2, nil, snapshot.ErrCorrupt, "empty"},
		{"not a snapshot", []byte("{\"id\":\"x\"} and more bytes"), 2, nil, snapshot.ErrCorrupt, "magic"},
		{"truncated", good[:len(good)-7], 2, nil, snapshot.ErrCorrupt, "cut short"},
		{"flipped bit", flip, 2, nil, snapshot.ErrCorrupt, "checksum"},
		{"future version", version, 2, nil, snapshot.ErrVersion, "version 99"},
		{"other shard count", good, 3, nil, snapshot.ErrIncompatible, "2 shards"},
		{"other detectors", good, 2, []detect.Detector{credential.New(credential.Config{}), command.NewOrphan(command.OrphanConfig{Window: 2 * time.Minute})},
			snapshot.ErrIncompatible, "the snapshot has cmd.orphan-state-change"},
		{"other settings", good, 2, []detect.Detector{command.NewOrphan(command.OrphanConfig{Window: time.Minute}), credential.New(credential.Config{})},
			snapshot.ErrIncompatible, "configured differently"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dets := c.dets
			if dets == nil {
				dets = snapDetectors()
			}
			var got lines
			r, err := engine.New(engine.Options{Shards: c.shards, Detectors: dets, Alerts: got.add})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Restore(bytes.NewReader(c.data))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v, want %v saying %q", err, c.want, c.says)
			}
			// Still a new engine: the input can be read from the start.
			r.Push(unlocked("late-u", 0, "V1"))
			r.Close()
			if len(got.sorted()) != 1 {
				t.Errorf("after a refused restore the engine raised %d alerts for one orphan unlock", len(got.sorted()))
			}
		})
	}
	t.Run("used engine", func(t *testing.T) {
		r := snapEngine(t, 2, &out)
		defer r.Close()
		r.Push(fix("x", 0, "V1", "t"))
		if err := r.Restore(bytes.NewReader(good)); err == nil || !strings.Contains(err.Error(), "new engine") {
			t.Fatalf("restore into an engine that handled an event: %v", err)
		}
	})
}

// opaque keeps shard-local state the engine cannot snapshot.
type opaque struct{}

func (opaque) Info() detect.Info {
	return detect.Info{ID: "test.opaque", Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeTelemetry}}}}
}
func (opaque) OnEvent(*detect.Context, detect.State, *event.Event) {}
func (opaque) OnTimer(*detect.Context, detect.State, int64)        {}
func (opaque) NewShardState() any                                  { return map[string]int{} }

func TestSnapshotRefusesUnknownLocalState(t *testing.T) {
	e, err := engine.New(engine.Options{Shards: 2, Detectors: []detect.Detector{opaque{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var buf bytes.Buffer
	err = e.Snapshot(&buf)
	if err == nil || !strings.Contains(err.Error(), "test.opaque") || !strings.Contains(err.Error(), "Snapshotter") {
		t.Fatalf("snapshot with a detector whose state cannot be written: %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes written by a refused snapshot", buf.Len())
	}
}

// reseal makes body the body of a snapshot with the header of snap and a
// valid checksum: mutations then reach the decoders behind the checksum.
func reseal(snap, body []byte) []byte {
	var b bytes.Buffer
	snapshot.Write(&b, snapshot.Magic(snap[:4]), uint16(snap[4])<<8|uint16(snap[5]), body)
	return b.Bytes()
}

// TestRestoreMutatedBodies: bytes changed or cut anywhere behind a valid
// checksum are refused with an error (or make a valid snapshot), never a
// panic, and a refused restore leaves the engine new.
func TestRestoreMutatedBodies(t *testing.T) {
	var out lines
	e := snapEngine(t, 2, &out)
	for _, ev := range snapStream() {
		e.Push(ev)
	}
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	good := buf.Bytes()
	body := good[snapshot.HeaderLen:]
	try := func(b []byte) {
		var got lines
		r := snapEngine(t, 2, &got)
		defer r.Close()
		if err := r.Restore(bytes.NewReader(reseal(good, b))); err != nil {
			if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrIncompatible) {
				t.Fatalf("error %v is neither corrupt nor incompatible", err)
			}
			if st := r.Stats(); st.Received != 0 {
				t.Fatalf("a refused restore left %d events counted", st.Received)
			}
		}
		for _, ev := range snapStream()[:20] {
			c := *ev
			c.Time += 3600e9
			r.Push(&c)
		}
	}
	step := max(1, len(body)/500)
	for i := 0; i < len(body); i += step {
		for _, v := range []byte{0, 0xff, body[i] ^ 0x80, body[i] + 1} {
			b := slices.Clone(body)
			b[i] = v
			try(b)
		}
		try(body[:i])
	}
}

// FuzzRestore: a snapshot body of any bytes (behind a valid checksum, so
// the fuzzer reaches the decoders) is refused or restored, never a panic.
func FuzzRestore(f *testing.F) {
	var out lines
	e := snapEngine(f, 2, &out)
	for _, ev := range snapStream() {
		e.Push(ev)
	}
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		f.Fatal(err)
	}
	e.Stop()
	good := buf.Bytes()
	f.Add(good[snapshot.HeaderLen:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		var got lines
		r := snapEngine(t, 2, &got)
		defer r.Close()
		r.Restore(bytes.NewReader(reseal(good, body)))
		r.Push(fix("after", 7200, "V1", "t"))
	})
}
