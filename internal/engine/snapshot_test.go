package engine_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
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
	var base uint64 // what restoring the snapshot as written allocates
	try := func(b []byte) {
		var got lines
		r := snapEngine(t, 2, &got)
		defer r.Close()
		var err error
		n := allocated(func() { err = r.Restore(bytes.NewReader(reseal(good, b))) })
		if base == 0 {
			base = n
		} else if n > 2*base {
			t.Fatalf("a restore allocated %d bytes, the snapshot as written %d", n, base)
		}
		if err != nil {
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
	try(body)
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
	_, crafted := craftedBodies(f, 2)
	for _, b := range crafted {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got lines
		r := snapEngine(t, 2, &got)
		defer r.Close()
		r.Restore(bytes.NewReader(reseal(good, body)))
		r.Push(fix("after", 7200, "V1", "t"))
	})
}

// allocated returns the bytes f allocates (the whole process's: the
// shards' goroutines too).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bodyParts splits an engine snapshot's body into its meta, router and
// counters sections (each behind its length) and its shard parts.
func bodyParts(t testing.TB, body []byte) (sections [3][]byte, shards [][]byte) {
	t.Helper()
	off := 0
	for i := range sections {
		n := int(binary.LittleEndian.Uint32(body[off:]))
		sections[i] = body[off : off+4+n]
		off += 4 + n
	}
	count, w := binary.Uvarint(body[off:])
	off += w
	for range count {
		n, w := binary.Uvarint(body[off:])
		off += w
		shards = append(shards, body[off:off+int(n)])
		off += int(n)
	}
	if off != len(body) {
		t.Fatalf("the body has %d bytes after its parts", len(body)-off)
	}
	return sections, shards
}

func joinParts(sections [3][]byte, shards [][]byte) []byte {
	b := slices.Concat(sections[:]...)
	b = binary.AppendUvarint(b, uint64(len(shards)))
	for _, s := range shards {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// craftedBodies returns an empty engine's snapshot and bodies crafted
// from it, to seal behind a valid CRC (which is no MAC): in shard 0 a
// tenant whose vehicle table lists 100,000 free slots, or 2,000 tenants
// with one twin and one principal of each kind.
func craftedBodies(t testing.TB, nshards int) (empty []byte, crafted map[string][]byte) {
	t.Helper()
	var out lines
	e := snapEngine(t, nshards, &out)
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	empty = buf.Bytes()
	sections, shards := bodyParts(t, empty[snapshot.HeaderLen:])

	// The shard part: seq, the detectors' counters, then the tenants.
	shard := shards[0]
	_, off := binary.Uvarint(shard)
	ndet, w := binary.Uvarint(shard[off:])
	off += w
	for range 7 * ndet {
		_, w := binary.Varint(shard[off:])
		off += w
	}
	if shard[off] != 0 {
		t.Fatalf("the empty shard has %d tenants", shard[off])
	}
	tw := snapshot.NewWriter(nil)
	tw.Uvarint(1) // one tenant
	tw.Sym("t")
	tw.Varint(0)
	tw.Varint(0)
	tw.Varint(0)
	tw.Uvarint(100_000) // vehicles: 100,000 slots, all free
	tw.Uvarint(100_000)
	for i := range 100_000 {
		tw.Uvarint(uint64(i))
	}
	for range detect.NumKinds - detect.KindAccount {
		tw.Uvarint(0) // no principals
		tw.Uvarint(0)
	}
	tw.Uvarint(0) // no timers
	freeSlots := slices.Concat(shard[:off], tw.Bytes(), shard[off+1:])

	tw = snapshot.NewWriter(nil)
	tw.Uvarint(2000)
	for i := range 2000 {
		tw.Sym(fmt.Sprint(i))
		tw.Varint(0)
		tw.Varint(0)
		tw.Varint(0)
		tw.Uvarint(1) // one twin, every part unset
		tw.Uvarint(0)
		tw.Str("")
		tw.Uvarint(0)
		tw.Varint(0)
		for range detect.NumKinds - detect.KindAccount {
			tw.Uvarint(1) // one principal, every part unset
			tw.Uvarint(0)
			tw.Str("")
			tw.Uvarint(0)
			tw.Varint(0)
			tw.Varint(0)
		}
		tw.Uvarint(0)
	}
	tenants := slices.Concat(shard[:off], tw.Bytes(), shard[off+1:])

	return empty, map[string][]byte{
		"100,000 free vehicle slots": joinParts(sections, append([][]byte{freeSlots}, shards[1:]...)),
		"2,000 tenants of one entry": joinParts(sections, append([][]byte{tenants}, shards[1:]...)),
	}
}

// TestRestoreAllocation: the crafted checkpoints make a restore allocate
// in proportion to them — a few bytes per slot, a tenant's state per
// tenant — not a chunk of 1024 twins per table.
func TestRestoreAllocation(t *testing.T) {
	empty, crafted := craftedBodies(t, 1)
	restore := func(body []byte) (uint64, error) {
		var got lines
		r := snapEngine(t, 1, &got)
		defer r.Close()
		var err error
		n := allocated(func() { err = r.Restore(bytes.NewReader(reseal(empty, body))) })
		return n, err
	}
	base, err := restore(empty[snapshot.HeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	perByte := map[string]uint64{"2,000 tenants of one entry": 100} // a tenant's state is some 4 KiB for 56 bytes
	for name, body := range crafted {
		t.Run(name, func(t *testing.T) {
			n, err := restore(body)
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			extra := len(body) - len(empty) + snapshot.HeaderLen
			if limit := base + max(perByte[name], 16)*uint64(max(extra, 0)) + 256<<10; n > limit {
				t.Errorf("%d bytes more than an empty snapshot allocate %d more, beyond %d", extra, n-base, limit-base)
			}
		})
	}
}
