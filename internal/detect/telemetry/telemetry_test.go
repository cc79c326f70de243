package telemetry

import (
	"os"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// testCells is the cell database the cases run with.
func testCells(t testing.TB) *CellDB {
	f, err := os.Open("testdata/cells.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	db, err := LoadCells(f)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestCases(t *testing.T) {
	cells := testCells(t)
	detecttest.Cases(t, func() []detect.Detector {
		return []detect.Detector{
			NewMovement(MovementConfig{}),
			NewCell(CellConfig{Cells: cells}),
			NewIntegrity(IntegrityConfig{}),
		}
	})
}

func TestLoadCells(t *testing.T) {
	db := testCells(t)
	if db.Len() != 3 {
		t.Errorf("%d cells, want 3 (a duplicate keeps the better-measured row)", db.Len())
	}
	site, ok := db.Cell(&event.Cell{MCC: 262, MNC: 1, LAC: 100, CID: 1001})
	if !ok || site.Lat != 48.1372 || site.RangeM != 1500 {
		t.Errorf("cell 262-1-100-1001: %+v %v", site, ok)
	}
	if _, ok := db.Cell(&event.Cell{MCC: 262, MNC: 1, LAC: 100, CID: 9}); ok {
		t.Error("found a cell that is not in the database")
	}
	// Without a header the OpenCelliD column order is assumed.
	db, err := LoadCells(strings.NewReader("UMTS,208,10,31,77,0,2.35,48.85,2000,7,1,0,0,0\n"))
	if err != nil || db.Len() != 1 {
		t.Fatalf("headerless: %v, %d cells", err, db.Len())
	}
	for name, c := range map[string]struct{ in, want string }{
		"empty":          {"", "empty"},
		"bad latitude":   {"LTE,262,1,100,1,0,11.5,123,1000,1,1,0,0,0\n", `line 1: lat "123"`},
		"bad mcc":        {"radio,mcc,net,area,cell,unit,lon,lat,range\nLTE,x,1,100,1,0,11.5,48,1000\n", `line 2: mcc "x"`},
		"missing column": {"radio,mcc,net,area,cell,lon,lat\n", `lacks the column "range"`},
		"short row":      {"LTE,262,1,100\n", "line 1: no cell column"},
	} {
		_, err := LoadCells(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
}

// TestTwinRecoversFromFutureFix checks that a fix stamped in the future does
// not freeze the twin: the next message in the unit's counter replaces it.
func TestTwinRecoversFromFutureFix(t *testing.T) {
	v := &twin.Vehicle{}
	fix := func(id string, at int64, seq uint64) *event.Event {
		return &event.Event{ID: id, Type: event.TypeTelemetry, Time: at,
			Telemetry: &event.Telemetry{Position: event.Position{Lat: 48, Lon: 11}, Seq: seq, HasSeq: true}}
	}
	const s = int64(1e9)
	v.Apply(fix("t1", 0, 100))
	v.Apply(fix("t2", 3*3600*s, 101)) // three hours ahead
	v.Apply(fix("t0", -10*s, 99))     // a late delivery stays ignored
	if v.FixRef.ID != "t2" {
		t.Fatalf("late delivery replaced the newest fix: %s", v.FixRef.ID)
	}
	v.Apply(fix("t3", 20*s, 102))
	if v.FixRef.ID != "t3" || v.FixTime != 20*s {
		t.Fatalf("the twin kept the future fix: %s at %d", v.FixRef.ID, v.FixTime)
	}
}

func BenchmarkMovement(b *testing.B) {
	m := NewMovement(MovementConfig{})
	c := detecttest.Context(m, detect.KindVehicle, "V1")
	v := &twin.Vehicle{}
	ev := &event.Event{ID: "f", Source: "gw", Type: event.TypeTelemetry, Subject: "V1",
		Telemetry: &event.Telemetry{Position: event.Position{Lat: 48.1, Lon: 11.5}}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 1e10
		ev.Telemetry.Position.Lat = 48.1 + float64(i%100)*0.001
		m.OnEvent(c, detect.State{Vehicle: v}, ev)
		v.Apply(ev)
	}
}

// drivingFix is a realistic fix: position, speed, counter, odometer, device
// and serving cell, as the simulator and real gateways send them.
func drivingFix() *event.Event {
	return &event.Event{ID: "f", Source: "gw", Type: event.TypeTelemetry, Subject: "V1",
		Telemetry: &event.Telemetry{Position: event.Position{Lat: 48.1372, Lon: 11.5756, Accuracy: 4, HasAcc: true},
			Speed: 50, HasSpeed: true, Seq: 1, HasSeq: true,
			Signals: event.Signals{TraveledDistance: 48211000, HasTraveledDistance: true},
			Device:  &event.Device{IMEI: "356938035643809", ICCID: "8949022000001234567"},
			Cell:    &event.Cell{MCC: 262, MNC: 1, LAC: 100, CID: 1001}}}
}

// benchFixes runs d over a vehicle driving north through one cell: every
// fix consistent with the last (the common path).
func benchFixes(b *testing.B, d detect.Detector) {
	c := detecttest.Context(d, detect.KindVehicle, "V1")
	v := &twin.Vehicle{}
	ev := drivingFix()
	t := ev.Telemetry
	// The device strings of each fix are copies, as a decoder makes them.
	imeis := []string{strings.Clone(t.Device.IMEI), strings.Clone(t.Device.IMEI)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 1e10
		t.Seq++
		t.Signals.TraveledDistance += 140
		t.Position.Lat = 48.1372 + float64(i%20)*0.001
		t.Device.IMEI = imeis[i&1]
		d.OnEvent(c, detect.State{Vehicle: v}, ev)
		v.Apply(ev)
	}
}

func BenchmarkCell(b *testing.B) { benchFixes(b, NewCell(CellConfig{Cells: testCells(b)})) }

func BenchmarkIntegrity(b *testing.B) { benchFixes(b, NewIntegrity(IntegrityConfig{})) }

// FuzzLoadCells feeds LoadCells arbitrary files: it must return a database
// or an error, never panic, and every cell it keeps must have a valid site.
func FuzzLoadCells(f *testing.F) {
	b, err := os.ReadFile("testdata/cells.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add("UMTS,208,10,31,77,0,2.35,48.85,2000,7,1,0,0,0\n")
	f.Add("radio,mcc,net,area,cell,lon,lat,range\nLTE,262,1,1,1,11,48,1000\n")
	f.Add("\ufeffradio,lat\n\"")
	f.Fuzz(func(t *testing.T, in string) {
		db, err := LoadCells(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, s := range db.cells {
			if s.Lat < -90 || s.Lat > 90 || s.Lon < -180 || s.Lon > 180 || s.RangeM < 0 {
				t.Fatalf("invalid site %+v from %q", s, in)
			}
		}
	})
}
