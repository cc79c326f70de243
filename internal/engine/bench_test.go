package engine_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/command"
	"github.com/vigil-project/vigil/internal/detect/credential"
	"github.com/vigil-project/vigil/internal/detect/telemetry"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
)

// benchEvents is a mix of fixes over 10,000 vehicles and logins over 1,000
// accounts, in event-time order.
func benchEvents(n int) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		if i%10 == 9 {
			evs[i] = failure(fmt.Sprint("l", i), float64(i)/100, fmt.Sprint("acc-", i%1000), "t")
			evs[i].Login.Result = event.ResultSuccess
			continue
		}
		evs[i] = fix(fmt.Sprint("f", i), float64(i)/100, fmt.Sprint("V", i%10000), "t")
	}
	return evs
}

// BenchmarkRoute measures the router and shards with the twin but no
// detectors: dedup, watermark, key hashing, hand-off, state lookup.
func BenchmarkRoute(b *testing.B) { benchEngine(b, nil) }

// BenchmarkEngine adds every detector of the engine issue.
func BenchmarkEngine(b *testing.B) {
	benchEngine(b, []detect.Detector{command.NewOrphan(command.OrphanConfig{}),
		telemetry.NewMovement(telemetry.MovementConfig{}), credential.New(credential.Config{})})
}

func benchEngine(b *testing.B, dets []detect.Detector) {
	for _, shards := range []int{1, 2} {
		b.Run(fmt.Sprint("shards=", shards), func(b *testing.B) {
			evs := benchEvents(1 << 16)
			e, err := engine.New(engine.Options{Shards: shards, Detectors: dets, Alerts: func(*alert.Alert) {}, DedupWindow: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			var base int64
			for b.Loop() {
				ev := evs[i&(len(evs)-1)]
				if i&(len(evs)-1) == 0 && i > 0 {
					base += 1e12 // later laps are later in event time
				}
				c := *ev
				c.Time += base
				e.Push(&c)
				i++
			}
			e.Close()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// snapshotFleet is an engine holding n vehicles, each with a full fix
// (device, cell, signals) and, for a third of them, a four-stage command
// by their owner and the vehicle's echo, as vigil bench's memory figure.
// Without the dedup set, as vigil serve runs it (with it, a snapshot holds
// 17 more bytes per event of the last dedup window).
func snapshotFleet(b *testing.B, n, shards int) (*engine.Engine, []detect.Detector) {
	b.Helper()
	dets := []detect.Detector{command.NewOrphan(command.OrphanConfig{}), command.NewUnrequested(command.UnrequestedConfig{}),
		telemetry.NewMovement(telemetry.MovementConfig{}), credential.New(credential.Config{})}
	e, err := engine.New(engine.Options{Shards: shards, Detectors: dets, NoDedup: true})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		vin := fmt.Sprintf("WVWZZZ1KZ%08d", i)
		sec := float64(i) / 100
		f := fix(fmt.Sprintf("f-%08d-0c1e-4f55-9a7e-52d7a1b0c3e9", i), sec, vin, "fleet-a")
		f.Telemetry.HasSpeed, f.Telemetry.Speed, f.Telemetry.HasSeq, f.Telemetry.Seq = true, 42, true, uint64(i)
		f.Telemetry.Signals = event.Signals{TraveledDistance: 12345, HasTraveledDistance: true, LowVoltageState: event.LVOn, DriverDoorLocked: event.True}
		f.Telemetry.Device = &event.Device{IMEI: fmt.Sprint(356938035643809 + i), ICCID: fmt.Sprint(8949020000000000000 + i), Firmware: "tcu-4.2.1"}
		f.Telemetry.Cell = &event.Cell{MCC: 262, MNC: 1, LAC: 4711, CID: int64(i)}
		e.Push(f)
		if i%3 != 0 {
			continue
		}
		acc := fmt.Sprint("acc-", i)
		id := fmt.Sprintf("cmd-%08d", i)
		for s, stage := range []event.Stage{event.StageRequested, event.StageSent, event.StageDelivered, event.StageExecuted} {
			e.Push(&event.Event{ID: fmt.Sprint(id, "-", s), Source: "api", Type: event.TypeCommand, Time: at(sec + float64(s)), Subject: vin, Tenant: "fleet-a",
				Command: &event.Command{CommandID: id, Command: event.CmdUnlock, Stage: stage, Actor: event.Actor{Account: acc, IP: "192.0.2.7", Device: "phone-" + acc}}})
		}
		e.Push(&event.Event{ID: id + "-echo", Source: "gw", Type: event.TypeVehicleEvent, Time: at(sec + 5), Subject: vin, Tenant: "fleet-a",
			VehicleEvent: &event.VehicleEvent{Name: event.NameUnlocked, Origin: event.OriginRemote, CommandID: id}})
	}
	e.Flush()
	return e, dets
}

// BenchmarkSnapshot writes the state of 100,000 vehicles (and their owners'
// principal state, timers and dedup set): the time detection is held up
// for one checkpoint, and its size per vehicle.
func BenchmarkSnapshot(b *testing.B) {
	const n = 100_000
	e, _ := snapshotFleet(b, n, 2)
	defer e.Close()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := e.Snapshot(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportMetric(float64(buf.Len())/n, "bytes/vehicle")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/vehicle")
}

// BenchmarkRestore builds a new engine from that snapshot.
func BenchmarkRestore(b *testing.B) {
	const n = 100_000
	e, dets := snapshotFleet(b, n, 2)
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		b.Fatal(err)
	}
	e.Stop()
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		r, err := engine.New(engine.Options{Shards: 2, Detectors: dets, NoDedup: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
		r.Stop()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/vehicle")
}
