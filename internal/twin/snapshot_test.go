package twin

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"testing"
	"unsafe"

	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/snapshot"
	"github.com/vigil-project/vigil/internal/snapshot/snapshottest"
)

// TestSnapshotSchema: every field of the twin and of principal state is
// in the snapshot encoding (see snapshottest).
func TestSnapshotSchema(t *testing.T) {
	snapshottest.Check(t, "testdata/snapshot-schema.golden", snapshottest.Schema(nil, Vehicle{}, Principal{}, Table[Vehicle]{}))
}

// TestSnapshotRoundTrip: a twin and a principal with every part set are
// read back as they were written.
func TestSnapshotRoundTrip(t *testing.T) {
	ref := event.Ref{Source: "gw", ID: "e-1"}
	v := Vehicle{Lat: 48.1, Lon: 11.5, FixTime: 900, FixRef: ref, Seq: 77, Odometer: 1234.5, LastEvent: 1000, LastSpoofAlert: 950,
		LastAlert: 990, Speed: 42.5, Lock: Locked, Ignition: IgnitionOn, flags: hasSeq | hasOdometer, CellMisses: 2,
		Firmware: "fw-1", IMEI: "3569", ICCID: "8949"}
	a := v.Activity()
	a.ECUs = []ECUVersion{{"tcu", "1.2"}}
	a.Commands = []CommandTx{{IDHash: 5, At: 10, Last: 20, Kind: event.CmdUnlock, Stages: 3}}
	a.Principals = []string{"acc-1", "acc-2"}
	m := v.More()
	m.Pending = []PendingChange{{Name: event.NameUnlocked, At: 30, Deadline: 150, CommandID: 9, Ref: ref}}
	m.Links = &Links{List: []Link{{Account: "acc-1", At: 5, By: event.ChangeVehicleLinked, Linked: true, Ref: ref}},
		Transfer: Transfer{At: 6, To: "acc-1", Ref: ref}}
	m.Awaiting = []Awaiting{{Kind: AwaitIDS, At: 40, Deadline: 400, ID: 8, Ref: ref, Who: "tcu", What: "E1"}}
	for i := range 10 {
		m.Nonces.Add(uint64(i + 1))
	}
	v.SetMark(MarkSIM, 777)
	p := Principal{FirstSeen: 1, LastSeen: 1000, LastAlert: 900, Timers: 2,
		Failures: &FailureWindow{List: []Failure{{At: 3, Ref: ref, Other: "ip"}}},
		Links:    &LinkSet{List: []LinkChange{{Vehicle: "V1", Linked: true}}},
		Logins:   &LoginWindow{List: []LoginAttempt{{At: 4, Who: 3, IP: "ip", Account: "a", Ref: ref, OK: true}}, LastAlert: 5, LastHit: 6, AlertFirst: 7},
		PIN:      &DeviceFailures{Fails: FailureWindow{List: []Failure{{At: 8, Ref: ref}}}, LastAlert: 9},
		Phone:    &DeviceFailures{LastAlert: 10},
		Takeover: &TakeoverTrail{Change: event.ChangeEmail, Confirmed: event.False, ChangeAt: 11, ChangeRef: ref, ChangeIP: "ip",
			Added: event.ChangeDeviceRegistered, AddedAt: 12, AddedRef: ref, AddedDevice: "d", LastAlert: 13},
		Devices: &KnownDevices{H: [4]uint32{1, 2}, N: 2, Pending: &NewDeviceLogin{At: 14, Device: "d", IP: "ip", Ref: ref}},
		Spread:  &Spread{Vehicles: HitWindow{List: []Hit{{At: 15, Key: 4, Name: "V2", Ref: ref}}}, Kinds: 6, LastAlert: 16},
		Reads: &ReadState{Unlinked: &HitWindow{List: []Hit{{At: 17, Key: 5, Name: "V3"}}}, IPs: &HitWindow{}, LastIP: "ip", LastAt: 18,
			Vehicle: "V4", Entitled: true, Caller: 99, CallerSeen: true, Callers: true, LastAlert: [4]int64{1, 2, 3, 4},
			Volume: ReadVolume{Hour: 19, Cur: [2]uint32{1, 2}, Base: [2]float32{0.5, 1.5}, Hours: 3, Slot: 600e9,
				Slots: [VolumeSlots][2]uint32{{1, 2}}, Evidence: []event.Ref{ref}, Since: 20, Told: 2.5}},
		Priv:   &PrivReads{Night: HitWindow{List: []Hit{{At: 21, Key: 6, Name: "V5", Ref: ref}}}, LastAlert: [3]int64{7, 8, 9}},
		Health: &TenantHealth{Minutes: 40, Last: 22, Low: 1, High: 2, Frozen: 3.5, Down: true, DownAt: 23, DownRate: 4.5, LowRefs: []event.Ref{ref}, ReqRate: 1.25, FailRate: 0.5, Failing: true},
	}
	p.Reads.Lookups = &LookupWindow{}
	p.Reads.Lookups.Add(Lookup{At: 24, Line: 1, VIN: 2, Serial: 100, NotFound: true, Ref: ref}, 1e12, 10, 5)
	p.Reads.Lookups.Add(Lookup{At: 25, Line: 1, VIN: 3, Serial: 101, Ref: ref}, 1e12, 10, 5)
	p.Health.Telemetry[3], p.Health.Refs[3], p.Health.Spiky[3], p.Health.Failed[3] = 5, ref, true, 2

	vt, pt := NewTable[Vehicle](), NewTable[Principal]()
	*first(vt.Get("V1")) = v
	vt.Get("gone")
	*first(vt.Get("V2")) = Vehicle{LastEvent: 5}
	vt.Delete("gone")
	*first(pt.Get("acc-1")) = p
	w := snapshot.NewWriter(nil)
	AppendTable(w, vt, AppendVehicle)
	AppendTable(w, pt, AppendPrincipal)
	r := snapshot.NewReader(w.Bytes())
	vt2, pt2 := LoadTable(r, LoadVehicle), LoadTable(r, LoadPrincipal)
	if err := r.End(); err != nil {
		t.Fatal(err)
	}
	w2 := snapshot.NewWriter(nil)
	AppendTable(w2, vt2, AppendVehicle)
	AppendTable(w2, pt2, AppendPrincipal)
	if string(w2.Bytes()) != string(w.Bytes()) {
		t.Fatal("written again, the tables differ")
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"vehicle", *vt2.Lookup("V1"), v},
		{"principal", *pt2.Lookup("acc-1"), p},
		{"free slots", vt2.free, vt.free},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s read back:\n%+v\nwant:\n%+v", c.name, c.got, c.want)
		}
	}
	if _, slot, _ := vt2.Get("new"); slot != 1 {
		t.Errorf("the restored table hands out slot %d, the old one would hand out 1", slot)
	}
}

func first[A, B, C any](a A, _ B, _ C) A { return a }

// allocated returns the bytes f allocates.
// TotalAlloc counts every goroutine's allocations (the runtime's, other
// tests'), so the least of a few runs is taken: f's own are in each.
func allocated(f func()) uint64 {
	least := uint64(math.MaxUint64)
	for range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// freeSlots is a table of n slots, all free.
func freeSlots(n int) []byte {
	w := snapshot.NewWriter(nil)
	w.Uvarint(uint64(n))
	w.Uvarint(uint64(n))
	for i := range n {
		w.Uvarint(uint64(i))
	}
	return w.Bytes()
}

// TestLoadTableAllocation: what a table only counts — free slots listed,
// live entries announced but absent — costs a few bytes of memory each,
// not the chunks entries would live in: a crafted checkpoint (its CRC is
// no MAC) must not make the server allocate far more than it read.
func TestLoadTableAllocation(t *testing.T) {
	announced := func(n int) []byte { // n entries, and bytes that are no key
		w := snapshot.NewWriter(nil)
		w.Uvarint(uint64(n))
		w.Uvarint(0)
		return append(w.Bytes(), bytes.Repeat([]byte{0xff}, n)...)
	}
	one := snapshot.NewWriter(nil) // one vehicle, every part unset
	one.Uvarint(1)
	one.Uvarint(0)
	one.Str("V")
	AppendVehicle(one, &Vehicle{})
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"one entry", one.Bytes()},
		{"one free slot", freeSlots(1)},
		{"100,000 free slots", freeSlots(100_000)},
		{"100,000 entries announced", announced(100_000)},
	} {
		t.Run(c.name, func(t *testing.T) {
			for name, load := range map[string]func(*snapshot.Reader){
				"vehicles":   func(r *snapshot.Reader) { LoadTable(r, LoadVehicle) },
				"principals": func(r *snapshot.Reader) { LoadTable(r, func(*snapshot.Reader, *Principal) {}) }, // entries of another size
			} {
				n := allocated(func() { load(snapshot.NewReader(c.in)) })
				if limit := 16*uint64(len(c.in)) + 4096; n > limit {
					t.Errorf("%s: %d bytes read allocate %d, more than %d", name, len(c.in), n, limit)
				}
			}
		})
	}
}

// TestLoadTableSparse: a restored table whose chunks hold few or no live
// entries hands out its free slots, then new ones, as the table it was
// written from would.
func TestLoadTableSparse(t *testing.T) {
	vt := NewTable[Vehicle]()
	for i := range 3000 {
		vt.Get(fmt.Sprint("V", i))
	}
	for i := range 3000 {
		if i != 2500 {
			vt.Delete(fmt.Sprint("V", i))
		}
	}
	vt.Lookup("V2500").LastEvent = 7
	w := snapshot.NewWriter(nil)
	AppendTable(w, vt, AppendVehicle)
	r := snapshot.NewReader(w.Bytes())
	got := LoadTable(r, LoadVehicle)
	if err := r.End(); err != nil {
		t.Fatal(err)
	}
	var chunks int
	for _, c := range got.chunks {
		if c != nil {
			chunks++
		}
	}
	if chunks != 1 || got.Lookup("V2500").LastEvent != 7 {
		t.Fatalf("%d chunks allocated for one live entry", chunks)
	}
	for i := range 3001 {
		key := fmt.Sprint("W", i)
		_, slot, _ := got.Get(key)
		_, want, _ := vt.Get(key)
		if slot != want {
			t.Fatalf("%s: slot %d, the table written would hand out %d", key, slot, want)
		}
		got.At(slot).LastEvent = int64(i)
	}
	if got.Len() != 3002 || got.Lookup("V2500").LastEvent != 7 || got.Lookup("W2999").LastEvent != 2999 {
		t.Errorf("%d entries after the free slots were handed out", got.Len())
	}
}

// FuzzLoadTable: any bytes give a table or an error, and memory in
// proportion to them: a few bytes per byte read, and chunks only where
// entries read live.
func FuzzLoadTable(f *testing.F) {
	vt := NewTable[Vehicle]()
	for i := range 1500 {
		vt.Get(fmt.Sprint("V", i)) // two chunks
	}
	for i := range 1400 {
		vt.Delete(fmt.Sprint("V", i))
	}
	w := snapshot.NewWriter(nil)
	AppendTable(w, vt, AppendVehicle)
	f.Add(w.Bytes())
	f.Add(freeSlots(1))
	f.Add(freeSlots(3000))
	f.Add([]byte{5, 0, 0, 0, 0})
	size := uint64(unsafe.Sizeof(Vehicle{}))
	f.Fuzz(func(t *testing.T, in []byte) {
		entries := 0
		get := func(r *snapshot.Reader, v *Vehicle) { entries++; LoadVehicle(r, v) }
		n := allocated(func() {
			r := snapshot.NewReader(in)
			LoadTable(r, get)
			r.End()
		})
		// Each slot below the last entry costs a byte at least, and the
		// chunks up to slot i hold fewer than 2i+1024 slots.
		limit := 64*uint64(len(in)) + 64<<10 + size*uint64(min(entries<<chunkBits, 2*len(in)+1<<chunkBits))
		if n > limit {
			t.Fatalf("%d bytes (%d entries) allocate %d, more than %d", len(in), entries, n, limit)
		}
	})
}
