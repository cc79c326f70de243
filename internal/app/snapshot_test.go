package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/rules"
	"github.com/vigil-project/vigil/internal/sim"
	"github.com/vigil-project/vigil/internal/snapshot"
)

// snapshotFleet simulates a fleet with every attack category and returns
// its events, one NDJSON line each, with a resent event now and then (the
// dedup set must know them across a restart), and its reference data.
func snapshotFleet(t *testing.T) ([][]byte, reference) {
	t.Helper()
	s, err := sim.New(sim.Config{Seed: 31, Vehicles: 500, Duration: 12 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 2})
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	err = s.Run(context.Background(), func(ev *event.Event) error {
		lines = append(lines, event.AppendJSON(nil, ev))
		if n := len(lines); n%997 == 0 {
			lines = append(lines, lines[n-400])
		}
		return nil
	}, func(sim.Label) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return lines, referenceFromSim(s)
}

// absenceRule waits for every requested command to execute: the simulated
// fleet keeps such windows open all the time (the rule pack's own absence
// rule waits for keys added in the vehicle, which it rarely sees).
var absenceRule = fstest.MapFS{"absent.yaml": {Data: []byte(`rules:
  - id: test.requested
    title: Command requested
    events: [vehicle.command]
    condition: data.stage == "requested"
  - id: test.executed
    title: Command executed
    events: [vehicle.command]
    condition: data.stage == "executed"
  - id: test.not-executed
    title: Command not executed within 10 minutes
    category: unauthorized-command
    severity: low
    correlation:
      type: absent
      rules: [test.requested, test.executed]
      group_by: [vehicle]
      timespan: 10m
`)}}

// snapRun is one engine with every detector and the rule pack, and its
// alert manager, as vigil replay and the processor run them.
type snapRun struct {
	eng *engine.Engine
	mgr *alert.Manager
	mu  sync.Mutex
	raw []string // every alert the engine raised
	out []string // what the manager passed on, with its incident
}

func newSnapRun(t *testing.T, shards int, ref reference) *snapRun {
	t.Helper()
	srcs, err := ruleSources("", false)
	if err != nil {
		t.Fatal(err)
	}
	srcs = append(srcs, rules.Source{Name: "test", FS: absenceRule})
	ds, err := newDetectorSet(nil, ref, srcs, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &snapRun{}
	r.mgr = alert.NewManager(alert.ManagerOptions{Out: func(a *alert.Alert, _ *alert.Incident) {
		r.out = append(r.out, string(alert.AppendJSON(nil, a)))
	}})
	r.eng, err = engine.New(engine.Options{Shards: shards, BatchSize: 64, Detectors: ds.all, Alerts: func(a *alert.Alert) {
		r.mu.Lock()
		r.raw = append(r.raw, string(alert.AppendJSON(nil, a)))
		r.mu.Unlock()
		r.mgr.Add(a)
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *snapRun) push(t *testing.T, lines [][]byte) {
	t.Helper()
	dec := event.NewDecoder(event.Limits{})
	for i, l := range lines {
		ev, err := dec.Decode(l)
		if err != nil {
			t.Fatalf("simulated event %d: %v", i, err)
		}
		r.eng.Push(ev)
	}
}

// snapshot writes the engine's and the manager's state and stops the run.
func (r *snapRun) snapshot(t *testing.T) (eng, mgr []byte) {
	t.Helper()
	var e, m bytes.Buffer
	if err := r.eng.Snapshot(&e); err != nil {
		t.Fatal(err)
	}
	if err := r.mgr.Snapshot(&m); err != nil {
		t.Fatal(err)
	}
	r.eng.Stop()
	return e.Bytes(), m.Bytes()
}

func (r *snapRun) restore(t *testing.T, eng, mgr []byte) {
	t.Helper()
	if err := r.eng.Restore(bytes.NewReader(eng)); err != nil {
		t.Fatal(err)
	}
	if err := r.mgr.Restore(bytes.NewReader(mgr)); err != nil {
		t.Fatal(err)
	}
}

// result is what a run produced, in an order-independent form.
type result struct {
	raw, out []string
	stats    string
}

func (r *snapRun) finish(withIncidents bool) result {
	var per [][]engine.DetectorStats // before Close: its shards are gone after
	var mu sync.Mutex
	r.eng.Query(func(v engine.ShardView) {
		mu.Lock()
		per = append(per, v.DetectorStats())
		mu.Unlock()
	})
	r.eng.Close()
	res := result{raw: slices.Sorted(slices.Values(r.raw)), out: slices.Clone(r.out)}
	st, ms := r.eng.Stats(), r.mgr.Stats()
	if !withIncidents {
		// Grouping follows the order alerts reach the manager, which
		// varies with more than one shard, with or without a restart.
		for i := range res.out {
			res.out[i] = incidentField.ReplaceAllString(res.out[i], "")
		}
		ms.Incidents = 0
	}
	slices.Sort(res.out)
	var dets []string
	for _, d := range engine.SumDetectorStats(per) {
		dets = append(dets, fmt.Sprintf("%s calls=%d alerts=%d last=%d", d.ID, d.Calls, d.Alerts, d.LastAlert))
	}
	res.stats = fmt.Sprintf("received=%d duplicates=%d late=%d future=%d routed=%d timers=%d evicted=%d alerts=%v\nmanager %+v\n%s",
		st.Received, st.Duplicates, st.Late, st.Future, st.Routed, st.Timers, st.Evicted, st.Alerts, ms, strings.Join(dets, "\n"))
	return res
}

// TestSnapshotResumesReplay is the proof of engine snapshots: a simulated
// fleet with every attack, replayed straight through, and again with a
// restart (snapshot, restore into a new engine and alert manager) at
// several points, gives the same alerts (ids, times, every field), the same
// incidents and the same counters. The cuts fall inside open absence
// windows of user rules and of built-in detectors, with timers pending.
// Every restored engine snapshots to the bytes it was restored from.
func TestSnapshotResumesReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a simulated fleet many times")
	}
	lines, ref := snapshotFleet(t)
	n := len(lines)
	cuts := []int{n / 100, n * 23 / 100, n / 2, n * 77 / 100, n * 99 / 100}
	// And right after a remote state change with no command behind it:
	// cmd.orphan-state-change waits for the command.
	dec := event.NewDecoder(event.Limits{})
	for i, l := range lines {
		ev, err := dec.Decode(l)
		if err != nil {
			t.Fatal(err)
		}
		if ve := ev.VehicleEvent; ev.Type == event.TypeVehicleEvent && ve.Origin == event.OriginRemote && ve.CommandID == "" {
			cuts = append(cuts, i+1)
			break
		}
	}
	slices.Sort(cuts)
	for _, shards := range []int{1, 3} {
		t.Run(fmt.Sprint("shards=", shards), func(t *testing.T) {
			whole := newSnapRun(t, shards, ref)
			whole.push(t, lines)
			want := whole.finish(shards == 1)
			if len(want.raw) < 50 {
				t.Fatalf("only %d alerts: the fleet does not exercise the detectors", len(want.raw))
			}
			pending := map[string]int{} // timers pending at the cuts, by detector
			check := func(t *testing.T, got result) {
				t.Helper()
				if !slices.Equal(got.raw, want.raw) {
					t.Errorf("engine alerts: %d, want %d; first difference:\n%s", len(got.raw), len(want.raw), firstDiff(got.raw, want.raw))
				}
				if !slices.Equal(got.out, want.out) {
					t.Errorf("manager output: %d, want %d; first difference:\n%s", len(got.out), len(want.out), firstDiff(got.out, want.out))
				}
				if got.stats != want.stats {
					t.Errorf("counters:\n%s\nwant:\n%s", got.stats, want.stats)
				}
			}
			// restart moves run's state into a new run, checking that the
			// restored engine snapshots to the same bytes.
			restart := func(t *testing.T, run *snapRun) *snapRun {
				eng, mgr := run.snapshot(t)
				next := newSnapRun(t, shards, ref)
				next.restore(t, eng, mgr)
				next.eng.Query(func(v engine.ShardView) {
					for id, k := range v.Timers() {
						run.mu.Lock()
						pending[id] += k
						run.mu.Unlock()
					}
				})
				again := newSnapRun(t, shards, ref)
				again.restore(t, eng, mgr)
				e2, m2 := again.snapshot(t)
				if !bytes.Equal(e2, eng) || !bytes.Equal(m2, mgr) {
					t.Errorf("snapshot → restore → snapshot changed the bytes: engine %d → %d, manager %d → %d", len(eng), len(e2), len(mgr), len(m2))
				}
				return next
			}
			for _, cut := range cuts {
				t.Run(fmt.Sprint("cut=", cut), func(t *testing.T) {
					first := newSnapRun(t, shards, ref)
					first.push(t, lines[:cut])
					second := restart(t, first)
					second.raw, second.out = first.raw, first.out
					second.push(t, lines[cut:])
					check(t, second.finish(shards == 1))
				})
			}
			t.Run("restart at every cut", func(t *testing.T) {
				run := newSnapRun(t, shards, ref)
				from := 0
				for _, cut := range cuts {
					run.push(t, lines[from:cut])
					next := restart(t, run)
					next.raw, next.out = run.raw, run.out
					run, from = next, cut
				}
				run.push(t, lines[from:])
				check(t, run.finish(shards == 1))
			})
			if pending[rules.DetectorID] == 0 || pending["cmd.orphan-state-change"] == 0 {
				t.Errorf("timers pending at the cuts %v: no absence window of the rules or of cmd.orphan-state-change was open at any cut", pending)
			}
			t.Logf("%d events, %d alerts; timers pending at the cuts: %v", n, len(want.raw), pending)
		})
	}
}

// mutationSnapshot is a snapshot of an engine with every detector and the
// rule pack part-way through a simulated fleet, and the detectors to
// restore it with (shared by the engines of a test: they only read them).
func mutationSnapshot(t testing.TB) ([]byte, []detect.Detector) {
	s, err := sim.New(sim.Config{Seed: 3, Vehicles: 60, Duration: 3 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 1})
	if err != nil {
		t.Fatal(err)
	}
	ref := referenceFromSim(s)
	srcs, err := ruleSources("", false)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := newDetectorSet(nil, ref, append(srcs, rules.Source{Name: "test", FS: absenceRule}), nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Options{Shards: 2, Detectors: ds.all})
	if err != nil {
		t.Fatal(err)
	}
	dec := event.NewDecoder(event.Limits{})
	err = s.Run(context.Background(), func(ev *event.Event) error {
		c, err := dec.Decode(event.AppendJSON(nil, ev))
		if err == nil {
			e.Push(c)
		}
		return err
	}, func(sim.Label) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	return buf.Bytes(), ds.all
}

// restoreMutated restores body behind a valid checksum (so changes reach
// the decoders), then pushes events: nothing may panic, and a refusal must
// be one of the snapshot errors.
func restoreMutated(t testing.TB, good, body []byte, dets []detect.Detector) {
	var b bytes.Buffer
	snapshot.Write(&b, snapshot.Magic(good[:4]), binary.BigEndian.Uint16(good[4:]), body)
	e, err := engine.New(engine.Options{Shards: 2, Detectors: dets})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Restore(&b); err != nil && !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrIncompatible) {
		t.Fatalf("error %v is neither corrupt nor incompatible", err)
	}
	at := time.Date(2026, 3, 2, 4, 0, 0, 0, time.UTC).UnixNano()
	for i, ev := range []*event.Event{
		{Type: event.TypeCommand, Subject: "V1", Command: &event.Command{CommandID: "c1", Command: event.CmdUnlock, Stage: event.StageRequested, Actor: event.Actor{Account: "acc-1", IP: "192.0.2.1"}}},
		{Type: event.TypeLogin, Login: &event.Login{Actor: event.Actor{Account: "acc-1", IP: "192.0.2.1", Device: "d1"}, Result: event.ResultFailure, Method: event.MethodPassword}},
		{Type: event.TypeVehicleEvent, Subject: "V1", VehicleEvent: &event.VehicleEvent{Name: event.NameUnlocked, Origin: event.OriginRemote}},
		{Type: event.TypeTelemetry, Subject: "V1", Telemetry: &event.Telemetry{Position: event.Position{Lat: 48, Lon: 11}}},
	} {
		ev.ID, ev.Source, ev.Tenant, ev.Time = fmt.Sprint("m", i), "test", "fleet-a", at+int64(i)*1e9
		e.Push(ev)
	}
}

// TestSnapshotMutatedBodies changes and cuts a snapshot of every detector's
// state all along its body: every result is an error or a restore, never
// a panic.
func TestSnapshotMutatedBodies(t *testing.T) {
	good, dets := mutationSnapshot(t)
	body := good[snapshot.HeaderLen:]
	step := max(1, len(body)/300)
	for i := 0; i < len(body); i += step {
		for _, v := range []byte{0, 0xff, body[i] ^ 0x80} {
			b := slices.Clone(body)
			b[i] = v
			restoreMutated(t, good, b, dets)
		}
		restoreMutated(t, good, body[:i], dets)
	}
}

// FuzzSnapshotRestore: any body behind a valid checksum is refused or
// restored, never a panic.
func FuzzSnapshotRestore(f *testing.F) {
	good, dets := mutationSnapshot(f)
	f.Add(good[snapshot.HeaderLen:])
	f.Fuzz(func(t *testing.T, body []byte) { restoreMutated(t, good, body, dets) })
}
