package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/command"
	"github.com/vigil-project/vigil/internal/detect/credential"
	"github.com/vigil-project/vigil/internal/detect/ids"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
	"github.com/vigil-project/vigil/internal/sim"
	"github.com/vigil-project/vigil/internal/snapshot"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/sqlite"
)

// simBatches is a simulated fleet with attacks, in ingest batches.
func simBatches(t *testing.T) [][]httpingest.Accepted {
	t.Helper()
	s, err := sim.New(sim.Config{Seed: 5, Vehicles: 200, Duration: 6 * time.Hour,
		Attacks: []alert.Category{alert.UnauthorizedCommand, alert.CredentialAttack, alert.InVehicleIntrusion}, AttacksPerCategory: 3})
	if err != nil {
		t.Fatal(err)
	}
	var all []httpingest.Accepted
	err = s.Run(context.Background(), func(ev *event.Event) error {
		c := *ev
		all = append(all, httpingest.Accepted{Event: &c, Raw: event.AppendJSON(nil, ev)})
		return nil
	}, func(sim.Label) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	// Decoded again from the raw bytes: the simulator reuses its payloads.
	dec := event.NewDecoder(event.Limits{})
	var out [][]httpingest.Accepted
	for i := 0; i < len(all); i += 250 {
		b := all[i:min(i+250, len(all))]
		for j := range b {
			if b[j].Event, err = dec.Decode(b[j].Raw); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, b)
	}
	return out
}

func testDetectors() []detect.Detector {
	return []detect.Detector{command.NewOrphan(command.OrphanConfig{}), command.NewUnrequested(command.UnrequestedConfig{}),
		credential.New(credential.Config{}), ids.NewCampaign(ids.CampaignConfig{MinVehicles: 3})}
}

// serving is a processor running on a store, as vigil serve runs it.
type serving struct {
	p    *Processor
	stop context.CancelFunc
	done chan error
}

func startProcessor(t *testing.T, st store.Store, interval time.Duration, dets []detect.Detector) *serving {
	t.Helper()
	return startWith(t, Options{Store: st, Engine: engine.Options{Shards: 1, Detectors: dets}, SnapshotInterval: interval})
}

// startWith runs a processor made with o.
func startWith(t *testing.T, o Options) *serving {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{p: p, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- p.Run(ctx) }()
	return s
}

// feed accepts batches and waits until detection has read them.
func (s *serving) feed(t *testing.T, batches [][]httpingest.Accepted) {
	t.Helper()
	for _, b := range batches {
		if _, err := s.p.Accept(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.p.Lag() > 0 || !s.p.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("detection is stuck: %s", s.p)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *serving) shutdown(t *testing.T) {
	t.Helper()
	s.stop()
	if err := <-s.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}

// listed pages through a store listing from its first cursor, formats each
// item and returns the lines sorted.
func listed[T any](t *testing.T, page func(cursor string) ([]T, string, error), format func(T) string) []string {
	t.Helper()
	var out []string
	for cursor := ""; ; {
		items, next, err := page(cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			out = append(out, format(it))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	slices.Sort(out)
	return out
}

// storedAlerts lists the store's alerts as "id time detector incident".
func storedAlerts(t *testing.T, st store.Store) []string {
	t.Helper()
	return listed(t, func(cursor string) ([]store.Alert, string, error) {
		p, err := st.ListAlerts(context.Background(), store.AllTenants(), store.AlertQuery{Limit: 500, Cursor: cursor})
		return p.Alerts, p.Next, err
	}, func(a store.Alert) string { return fmt.Sprintf("%s %d %s %s", a.ID, a.Time, a.Detector, a.Incident) })
}

// storedIncidents lists the store's incidents as "id alerts".
func storedIncidents(t *testing.T, st store.Store) []string {
	t.Helper()
	return listed(t, func(cursor string) ([]store.Incident, string, error) {
		p, err := st.ListIncidents(context.Background(), store.AllTenants(), store.IncidentQuery{Limit: 500, Cursor: cursor})
		return p.Incidents, p.Next, err
	}, func(in store.Incident) string { return fmt.Sprintf("%s %d", in.ID, in.AlertCount) })
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestCheckpointRestart: a server stopped half way resumes from its
// checkpoint (reading only the events after it) and stores the alerts and
// incidents of a server that ran through; a checkpoint it cannot use makes
// it read the archive from the start, with the same result.
func TestCheckpointRestart(t *testing.T) {
	batches := simBatches(t)
	half := len(batches) / 2

	straight := openStore(t)
	s := startProcessor(t, straight, -1, testDetectors())
	s.feed(t, batches)
	s.shutdown(t)
	want := storedAlerts(t, straight)
	if len(want) < 5 {
		t.Fatalf("only %d alerts: the fleet does not exercise the detectors", len(want))
	}
	if _, err := straight.LoadCheckpoint(context.Background(), ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a checkpoint was saved with checkpoints off: %v", err)
	}

	st := openStore(t)
	s = startProcessor(t, st, time.Hour, testDetectors())
	s.feed(t, batches[:half])
	covered := s.p.Stats().Processed
	s.shutdown(t)
	cp, err := st.LoadCheckpoint(context.Background(), "")
	if err != nil || cp.Seq != covered {
		t.Fatalf("checkpoint after a graceful stop: seq %d, %v; want seq %d", cp.Seq, err, covered)
	}
	s = startProcessor(t, st, time.Hour, testDetectors())
	s.feed(t, batches[half:])
	cs := s.p.CheckpointStats()
	if cs.Restored != covered || s.p.eng.Stats().Received != s.p.Stats().Processed {
		t.Errorf("restored from seq %d (want %d); the engine counts %d events of the %d processed", cs.Restored, covered,
			s.p.eng.Stats().Received, s.p.Stats().Processed)
	}
	s.shutdown(t)
	if got := storedAlerts(t, st); !slices.Equal(got, want) {
		t.Errorf("after a restart from the checkpoint: %d alerts, straight through %d:\n%s", len(got), len(want), listDiff(got, want))
	}

	// A checkpoint this vigil cannot use: the archive is read from the start.
	for _, c := range []struct {
		name string
		dets []detect.Detector
		save func(t *testing.T, st store.Store)
		says string
	}{
		{"corrupt", testDetectors(), func(t *testing.T, st store.Store) {
			cp, _ := st.LoadCheckpoint(context.Background(), "")
			cp.Snapshot[len(cp.Snapshot)/2] ^= 1
			if err := st.Checkpoint(context.Background(), cp); err != nil {
				t.Fatal(err)
			}
		}, "checksum"},
		{"other detectors", testDetectors()[1:], func(*testing.T, store.Store) {}, "the snapshot has cmd.orphan-state-change"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			s := startProcessor(t, st, time.Hour, testDetectors())
			s.feed(t, batches[:half])
			s.shutdown(t)
			c.save(t, st)
			var logs strings.Builder
			s = startWith(t, Options{Store: st, Engine: engine.Options{Shards: 1, Detectors: c.dets}, SnapshotInterval: time.Hour,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			p := s.p
			s.feed(t, batches[half:])
			s.shutdown(t)
			if cs := p.CheckpointStats(); cs.Fallbacks != 1 || cs.Restored != 0 || p.eng.Stats().Received != p.Stats().Processed {
				t.Errorf("checkpoint stats %+v, engine received %d of %d: want one fallback to the whole archive", cs, p.eng.Stats().Received, p.Stats().Processed)
			}
			if !strings.Contains(logs.String(), "cannot be used") || !strings.Contains(logs.String(), c.says) {
				t.Errorf("the warning does not say why the checkpoint was not used (%q):\n%s", c.says, logs.String())
			}
			if c.name == "corrupt" {
				if got := storedAlerts(t, st); !slices.Equal(got, want) {
					t.Errorf("after reading the archive again: %d alerts, want %d:\n%s", len(got), len(want), listDiff(got, want))
				}
			}
		})
	}
}

func listDiff(got, want []string) string {
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

// TestCheckpointWaitsForAlerts: a checkpoint is saved only once the alerts
// derived before it are stored, and not at all when some were lost.
func TestCheckpointWaitsForAlerts(t *testing.T) {
	st := openStore(t)
	p, err := New(Options{Store: st, SnapshotInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.writeAlerts()
	}()
	t0 := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()
	a := &alert.Alert{ID: "al-1", Time: t0, FirstSeen: t0, LastSeen: t0, Tenant: "fleet-a", Category: alert.CredentialAttack,
		Severity: event.SeverityHigh, Detector: "d", Title: "t", Explanation: "e", Entities: alert.Entities{Account: "acc"},
		Evidence: []event.Ref{{Source: "s", ID: "1"}}, Mappings: alert.DefaultMappings(alert.CredentialAttack), Incident: "inc-1"}
	p.alerts <- pending{a: a, inc: &alert.Incident{ID: "inc-1", FirstSeen: t0, LastSeen: t0, Severity: a.Severity}}
	fence := make(chan bool, 1)
	p.alerts <- pending{fence: fence}
	if !<-fence {
		t.Fatal("the fence reports a loss")
	}
	if _, err := st.GetAlert(context.Background(), store.AllTenants(), "al-1"); err != nil {
		t.Fatalf("the fence passed before the alert before it was stored: %v", err)
	}
	p.lost.Add(1)
	p.save(7, []byte("x"))
	if _, err := st.LoadCheckpoint(context.Background(), ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a checkpoint was saved although an alert was lost: %v", err)
	}
	close(p.alerts)
	p.wg.Wait()
}

// FuzzCheckpoint: no bytes make restoring a checkpoint panic; what is not a
// checkpoint of this engine is refused and leaves it new.
func FuzzCheckpoint(f *testing.F) {
	st, err := sqlite.Open(context.Background(), f.TempDir(), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	p, err := New(Options{Store: st, Engine: engine.Options{Shards: 1, Detectors: testDetectors()}})
	if err != nil {
		f.Fatal(err)
	}
	evs := []*event.Event{
		{ID: "c1", Source: "api", Type: event.TypeCommand, Tenant: "t", Subject: "V1", Time: 1e18,
			Command: &event.Command{CommandID: "c1", Command: event.CmdUnlock, Stage: event.StageRequested, Actor: event.Actor{Account: "a"}}},
		{ID: "u1", Source: "gw", Type: event.TypeVehicleEvent, Tenant: "t", Subject: "V2", Time: 1e18 + 1e9,
			VehicleEvent: &event.VehicleEvent{Name: event.NameUnlocked, Origin: event.OriginRemote}},
		{ID: "l1", Source: "api", Type: event.TypeLogin, Tenant: "t", Time: 1e18 + 2e9,
			Login: &event.Login{Actor: event.Actor{Account: "a", IP: "192.0.2.1"}, Result: event.ResultFailure, Method: event.MethodPassword}},
	}
	for _, ev := range evs {
		p.eng.Push(ev)
	}
	good, err := p.takeSnapshot(7)
	if err != nil {
		f.Fatal(err)
	}
	p.eng.Stop()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := New(Options{Store: st, Engine: engine.Options{Shards: 1, Detectors: testDetectors()}})
		if err != nil {
			t.Fatal(err)
		}
		defer q.eng.Close()
		if _, err := q.restore(data); err != nil {
			if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrVersion) && !errors.Is(err, snapshot.ErrIncompatible) {
				t.Fatalf("error %v is none of the snapshot errors", err)
			}
			if q.eng.Stats().Received != 0 || len(q.mgr.Stats().Suppressed) != 0 {
				t.Fatal("a refused checkpoint left state behind")
			}
		}
		for _, ev := range evs {
			c := *ev
			c.Time += 3600e9
			q.eng.Push(&c)
		}
	})
}

// TestCheckpointOlderThanTheStore is a crash after a checkpoint: the store
// holds alerts derived after it (and a later checkpoint is lost). The
// restart restores the older checkpoint, reads the events after it again
// and derives those alerts again with the same ids: they are upserted, not
// created again, and the store ends as after a run straight through.
func TestCheckpointOlderThanTheStore(t *testing.T) {
	batches := simBatches(t)
	third := len(batches) / 3

	straight := openStore(t)
	s := startProcessor(t, straight, -1, testDetectors())
	s.feed(t, batches)
	s.shutdown(t)
	want := storedAlerts(t, straight)

	st := openStore(t)
	s = startProcessor(t, st, time.Hour, testDetectors())
	s.feed(t, batches[:third])
	s.shutdown(t)
	old, err := st.LoadCheckpoint(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	s = startProcessor(t, st, time.Hour, testDetectors())
	s.feed(t, batches[third:])
	s.shutdown(t)
	if err := st.Checkpoint(context.Background(), old); err != nil { // the crash: back to the older one
		t.Fatal(err)
	}
	created := 0
	p, err := New(Options{Store: st, Engine: engine.Options{Shards: 1, Detectors: testDetectors()}, SnapshotInterval: time.Hour,
		OnAlert: func(store.Alert) { created++ }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s = &serving{p: p, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- p.Run(ctx) }()
	s.feed(t, nil)
	s.shutdown(t)
	if cs := p.CheckpointStats(); cs.Restored != old.Seq || p.eng.Stats().Received != p.Stats().Processed {
		t.Errorf("restored from %d, want %d; the engine counts %d events, %d processed", cs.Restored, old.Seq, p.eng.Stats().Received, p.Stats().Processed)
	}
	if created != 0 {
		t.Errorf("%d alerts derived again were created anew (and published again), want 0: they are in the store", created)
	}
	if got := storedAlerts(t, st); !slices.Equal(got, want) {
		t.Errorf("after the restart from the older checkpoint: %d alerts, straight through %d:\n%s", len(got), len(want), listDiff(got, want))
	}
}

// TestRestartResumesIncidents: a server that stored alerts after its last
// checkpoint and then stopped without another (a crash) reads those events
// again from the checkpoint. The alerts raised again take back the
// incidents they were stored with, and the store ends as after a run
// straight through: the same alerts in the same incidents, counted once.
func TestRestartResumesIncidents(t *testing.T) {
	batches := simBatches(t)
	a, b := len(batches)/3, 2*len(batches)/3

	straight := openStore(t)
	s := startProcessor(t, straight, -1, testDetectors())
	s.feed(t, batches)
	s.shutdown(t)
	wantAlerts, wantIncs := storedAlerts(t, straight), storedIncidents(t, straight)

	st := openStore(t)
	s = startProcessor(t, st, time.Hour, testDetectors())
	s.feed(t, batches[:a])
	s.shutdown(t)
	first, err := st.LoadCheckpoint(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	before := len(storedAlerts(t, st))
	s = startProcessor(t, st, time.Hour, testDetectors())
	s.feed(t, batches[a:b])
	s.shutdown(t)
	since := len(storedAlerts(t, st)) - before
	if since == 0 {
		t.Fatal("no alerts stored after the first checkpoint: nothing to resume")
	}
	// The crash: the second checkpoint is lost, the alerts after the first stay.
	if err := st.Checkpoint(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	s = startWith(t, Options{Store: st, Engine: engine.Options{Shards: 1, Detectors: testDetectors()}, SnapshotInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	s.feed(t, batches[b:])
	s.shutdown(t)
	// At least those: alerts of events before the checkpoint that its
	// writer stored after the sequence number was read come too (their
	// ids are known to the restored manager: they are not raised again).
	var resumed int
	if _, after, ok := strings.Cut(logs.String(), `msg="alerts stored since the checkpoint resume their incidents" alerts=`); ok {
		fmt.Sscan(after, &resumed)
	}
	if resumed < since {
		t.Errorf("%d alerts resumed their incidents, want at least the %d stored after the checkpoint:\n%s", resumed, since, logs.String())
	}
	if got := storedAlerts(t, st); !slices.Equal(got, wantAlerts) {
		t.Errorf("alerts after the crash: %d, straight through %d:\n%s", len(got), len(wantAlerts), listDiff(got, wantAlerts))
	}
	if got := storedIncidents(t, st); !slices.Equal(got, wantIncs) {
		t.Errorf("incidents after the crash: %d, straight through %d:\n%s", len(got), len(wantIncs), listDiff(got, wantIncs))
	}
}

// TestCheckpointWhileCatchingUp: a checkpoint taken before detection has
// caught up records the alert sequence number restored, not the store's
// newer one: the alerts raised again keep their first, lower numbers, and
// a start from that checkpoint must still find them.
func TestCheckpointWhileCatchingUp(t *testing.T) {
	st := openStore(t)
	p, err := New(Options{Store: st, Engine: engine.Options{Shards: 1, Detectors: testDetectors()}, SnapshotInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.eng.Close()
	t0 := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()
	for _, id := range []string{"al-1", "al-2", "al-3"} {
		a := &alert.Alert{ID: id, Time: t0, FirstSeen: t0, LastSeen: t0, Tenant: "fleet-a", Category: alert.CredentialAttack,
			Severity: event.SeverityHigh, Detector: "d", Title: "t", Explanation: "e", Entities: alert.Entities{Account: "acc"},
			Evidence: []event.Ref{{Source: "s", ID: id}}, Mappings: alert.DefaultMappings(alert.CredentialAttack), Incident: "inc-1"}
		if _, err := st.UpsertAlerts(context.Background(), store.AllTenants(), []*alert.Alert{a}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		restored, want int64
	}{{1, 1}, {-1, -1}, {math.MaxInt64, 3}} { // caught up: the store's
		p.ckpt.resumeSeq.Store(c.restored)
		data, ok := p.snapshotAt(0)
		if !ok {
			t.Fatal("no snapshot")
		}
		if _, _, got, err := decodeCheckpoint(data); err != nil || got != c.want {
			t.Errorf("restored %d: the checkpoint records alert sequence %d (%v), want %d", c.restored, got, err, c.want)
		}
	}
}
