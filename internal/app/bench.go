package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

// benchOptions configure vigil bench.
type benchOptions struct {
	Events      int           // events in the simulated stream
	Vehicles    int           // fleet size of the simulated stream
	Rate        int           // events/s offered in the latency run
	LatencyFor  time.Duration // length of the latency run
	MemVehicles int           // vehicles tracked in the memory run
	Seed        int64
}

func runBench(ctx context.Context, args []string, s stdio) error {
	fs := newFlags("bench",
		"Builds a simulated stream in memory and measures, in one run:\n"+
			"  - the decode-only ceiling: events/s of framing and decoding alone, on one core;\n"+
			"  - the whole engine (decode, routing, state, every detector, alert manager): events/s on one core\n"+
			"    and on all cores, and its ratio to the ceiling;\n"+
			"  - latency from an event's arrival to its alert, with events offered at --rate;\n"+
			"  - heap bytes per tracked vehicle with --mem-vehicles vehicles.\n\n"+
			"With --http URL it measures a running vigil serve instead: HTTP ingest throughput and latency\n"+
			"(NDJSON batches), the command gate's latency with --gate-rate, and detection's lag.\n\n"+
			"Example: vigil bench --events 2000000 --rate 100000 --mem-vehicles 1000000\n"+
			"         vigil bench --http http://127.0.0.1:8470 --key $KEY --gate-rate 5000 --ingest-rate 50000", s.err)
	o := benchOptions{}
	fs.IntVar(&o.Events, "events", 2_000_000, "events in the simulated stream")
	fs.IntVar(&o.Vehicles, "vehicles", 20_000, "fleet size of the simulated stream")
	fs.IntVar(&o.Rate, "rate", 100_000, "events per second offered in the latency run")
	fs.DurationVar(&o.LatencyFor, "latency-duration", 10*time.Second, "length of the latency run")
	fs.IntVar(&o.MemVehicles, "mem-vehicles", 1_000_000, "vehicles tracked in the memory run (0 skips it)")
	fs.Int64Var(&o.Seed, "seed", 1, "simulation seed")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the engine runs to this file")
	hf := addHTTPBenchFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if hf.URL != "" || hf.Prepare != "" {
		return hf.runHTTP(ctx, o, s.out)
	}
	if o.Events < 1000 || o.Vehicles < 1 || o.Rate < 1000 || o.LatencyFor <= 0 || o.MemVehicles < 0 {
		return fmt.Errorf("%w: need --events ≥ 1000, --vehicles ≥ 1, --rate ≥ 1000, --latency-duration > 0, --mem-vehicles ≥ 0", errUsage)
	}
	w := s.out
	cores := runtime.GOMAXPROCS(0)
	fmt.Fprintf(w, "vigil bench: %s, %d cores (GOMAXPROCS), %s\n", runtime.Version(), cores, time.Now().UTC().Format(time.RFC3339))

	stream, n, sm, err := buildStream(ctx, o)
	if err != nil {
		return err
	}
	// Every detector, as shipped: the built-in ones configured with the
	// simulated fleet's reference data, and the embedded rule pack.
	ref := referenceFromSim(sm)
	pack, err := ruleSources("", false)
	if err != nil {
		return err
	}
	run := replayOptions{Reference: &ref, Rules: pack}
	ds, err := newDetectorSet(nil, ref, pack, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "detectors: %d built-in and %d rules\n", len(ds.all)-1, len(ds.set.Rules()))
	fmt.Fprintf(w, "stream: %d events from %d simulated vehicles with every attack category, %.1f MiB NDJSON (%.0f bytes/event)\n",
		n, o.Vehicles, float64(len(stream))/(1<<20), float64(len(stream))/float64(n))

	machine0 := readMachineCPU()
	endProfile, err := recordTo(*cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile)
	if err != nil {
		return err
	}
	defer endProfile()

	// 1. Ceiling: framing and decoding alone, one core.
	prev := runtime.GOMAXPROCS(1)
	decodeRate, err := bestOf(3, func() (float64, error) { return decodeOnly(stream) })
	if err != nil {
		runtime.GOMAXPROCS(prev)
		return err
	}
	// 2. The whole engine on one core.
	one := run
	one.Shards = 1
	oneCore, alerts, err := bestOfAlerts(3, func() (float64, int64, error) { return engineRun(ctx, stream, one) })
	runtime.GOMAXPROCS(prev)
	if err != nil {
		return err
	}
	// 3. The whole engine on every core.
	allCores, _, err := bestOfAlerts(3, func() (float64, int64, error) { return engineRun(ctx, stream, run) })
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nthroughput (best of 3)\n")
	fmt.Fprintf(w, "  decode only, 1 core:           %10.0f events/s   (the ceiling)\n", decodeRate)
	fmt.Fprintf(w, "  whole engine, 1 core:          %10.0f events/s   = %.0f%% of the ceiling, %d alerts\n", oneCore, 100*oneCore/decodeRate, alerts)
	fmt.Fprintf(w, "  whole engine, %d cores:         %10.0f events/s   = %.0f events/s per core\n", cores, allCores, allCores/float64(cores))

	// 4. Latency at a fixed offered rate.
	lat, err := latencyRun(ctx, stream, o, ds.all)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nlatency, arrival to alert, %d events/s offered for %v (%d events, %d alerts)\n",
		o.Rate, o.LatencyFor, lat.events, len(lat.samples))
	if len(lat.samples) == 0 {
		fmt.Fprintf(w, "  no alert in the latency run: raise --latency-duration\n")
	} else {
		fmt.Fprintf(w, "  p50 %v   p99 %v   p99.9 %v   max %v\n", lat.pct(50), lat.pct(99), lat.pct(99.9), lat.pct(100))
	}
	fmt.Fprintf(w, "  achieved rate %.0f events/s\n", lat.achieved)
	io.WriteString(w, readMachineCPU().since(machine0).report("the throughput and latency runs", runtime.NumCPU()))

	// 5. Memory per tracked vehicle.
	if o.MemVehicles > 0 {
		// The memory run's own fleet: its owners are in the directory (as a
		// TSP's would be), built before the heap is measured: reference
		// data is not engine state.
		memRef := reference{Directory: directory.New()}
		for i := 0; i < o.MemVehicles; i += 3 {
			memRef.Directory.Link("fleet-a", directory.Account, "acc-"+strconv.Itoa(i), memoryVIN(i), event.RoleOwner)
		}
		mem, err := newDetectorSet(nil, memRef, pack, nil)
		if err != nil {
			return err
		}
		per, err := memoryRun(ctx, o.MemVehicles, mem.all)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\nmemory: %.0f heap bytes per tracked vehicle with %d vehicles (twin, keys, index; after GC)\n", per, o.MemVehicles)
	}
	return nil
}

// errEnough stops the simulator once the stream is long enough.
var errEnough = errors.New("enough events")

// buildStream runs the simulator into an in-memory NDJSON stream of at most
// o.Events events.
func buildStream(ctx context.Context, o benchOptions) ([]byte, int, *sim.Simulator, error) {
	sm, err := sim.New(simConfig(o))
	if err != nil {
		return nil, 0, nil, err
	}
	var buf bytes.Buffer
	buf.Grow(o.Events * 400)
	var b []byte
	n := 0
	err = sm.Run(ctx, func(ev *event.Event) error {
		b = event.AppendJSON(b[:0], ev)
		b = append(b, '\n')
		buf.Write(b)
		n++
		if n >= o.Events {
			return errEnough
		}
		return nil
	}, func(sim.Label) error { return nil })
	if err != nil && !errors.Is(err, errEnough) {
		return nil, 0, nil, err
	}
	return buf.Bytes(), n, sm, nil
}

// simConfig is the simulation of o's stream. A simulated vehicle sends
// about 277 events a day: simulate a little more than needed, with attacks
// dense enough that the latency run sees hundreds of alerts.
func simConfig(o benchOptions) sim.Config {
	days := float64(o.Events) / float64(o.Vehicles) / 150
	return sim.Config{Seed: o.Seed, Vehicles: o.Vehicles, Duration: time.Duration(days * float64(24*time.Hour)),
		Attacks: alert.Categories(), AttacksPerCategory: min(sim.MaxAttacksPerCategory, max(3, o.Events/20_000))}
}

func bestOf(runs int, f func() (float64, error)) (float64, error) {
	best := 0.0
	for range runs {
		r, err := f()
		if err != nil {
			return 0, err
		}
		best = max(best, r)
	}
	return best, nil
}

func bestOfAlerts(runs int, f func() (float64, int64, error)) (float64, int64, error) {
	best, alerts := 0.0, int64(0)
	for range runs {
		r, a, err := f()
		if err != nil {
			return 0, 0, err
		}
		if r > best {
			best, alerts = r, a
		}
	}
	return best, alerts, nil
}

// decodeOnly frames and decodes the whole stream and returns events/s.
func decodeOnly(stream []byte) (float64, error) {
	runtime.GC()
	start := time.Now()
	rd, err := event.NewReader(bytes.NewReader(stream), event.NewDecoder(event.Limits{}))
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		_, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("decoding the bench stream: %w", err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// engineRun replays the stream through the whole engine and returns events/s
// and the alerts written.
func engineRun(ctx context.Context, stream []byte, o replayOptions) (float64, int64, error) {
	runtime.GC()
	sum, err := replay(ctx, bytes.NewReader(stream), io.Discard, o)
	if err != nil {
		return 0, 0, err
	}
	if len(sum.Rejected) > 0 {
		return 0, 0, fmt.Errorf("the bench stream had rejected events: %v", sum.Samples)
	}
	return float64(sum.Read) / sum.Elapsed.Seconds(), sum.AlertsOut, nil
}

type latencies struct {
	samples  []time.Duration
	events   int
	achieved float64
}

func (l *latencies) pct(p float64) time.Duration {
	i := int(float64(len(l.samples)-1) * p / 100)
	return l.samples[i]
}

// latencyRun offers the stream at o.Rate events/s in 1 ms slices: each slice
// is decoded, stamped with its arrival time, pushed and flushed, as an ingest
// source would. Each alert's latency is the time from the arrival of the
// event that made it fire to its delivery by the alert manager.
func latencyRun(ctx context.Context, stream []byte, o benchOptions, dets []detect.Detector) (*latencies, error) {
	start := time.Now()
	res := &latencies{}
	var mu sync.Mutex
	stopped := false
	var clock engine.LateClock
	mgr := alert.NewManager(alert.ManagerOptions{Clock: &clock, Out: func(a *alert.Alert, _ *alert.Incident) {
		d := time.Duration(int64(time.Since(start)) - a.TriggerArrived)
		mu.Lock()
		if !stopped {
			res.samples = append(res.samples, d)
		}
		mu.Unlock()
	}})
	eng, err := engine.New(engine.Options{Detectors: dets, Alerts: func(a *alert.Alert) { mgr.Add(a) }})
	if err != nil {
		return nil, err
	}
	clock.Set(eng)
	rd, err := event.NewReader(bytes.NewReader(stream), event.NewDecoder(event.Limits{}))
	if err != nil {
		return nil, err
	}
	total := int(float64(o.Rate) * o.LatencyFor.Seconds())
	const slice = time.Millisecond
	perSlice := max(1, o.Rate/1000)
	next := time.Now()
	for res.events < total && ctx.Err() == nil {
		for range perSlice {
			ev, err := rd.Next()
			if err == io.EOF {
				total = res.events // the stream ran out
				break
			}
			if err != nil {
				return nil, err
			}
			ev.Arrived = int64(time.Since(start))
			eng.Push(ev)
			res.events++
		}
		eng.Flush()
		next = next.Add(slice)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	res.achieved = float64(res.events) / time.Since(start).Seconds()
	// Alerts that only the end of input releases (windows still open) are
	// not arrival latency: stop measuring before Close.
	mu.Lock()
	stopped = true
	mu.Unlock()
	eng.Close()
	slices.Sort(res.samples)
	return res, nil
}

// memoryRun tracks n vehicles, each with a full telemetry fix and a third of
// them with a command transaction, and returns heap bytes per vehicle.
func memoryRun(ctx context.Context, n int, dets []detect.Detector) (float64, error) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	eng, err := engine.New(engine.Options{Detectors: dets})
	if err != nil {
		return 0, err
	}
	dec := event.NewDecoder(event.Limits{})
	base := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).UnixNano()
	var b []byte
	for i := 0; i < n && ctx.Err() == nil; i++ {
		for j, ev := range memoryEvents(i, base) {
			b = event.AppendJSON(b[:0], ev)
			dev, err := dec.Decode(b)
			if err != nil {
				return 0, fmt.Errorf("memory run event %d.%d: %w", i, j, err)
			}
			eng.Push(dev)
		}
	}
	eng.Flush()
	size := eng.StateSize()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(eng)
	if size[0] != n {
		return 0, fmt.Errorf("memory run tracks %d vehicles, want %d", size[0], n)
	}
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	eng.Close()
	return per, nil
}

func memoryVIN(i int) string { return fmt.Sprintf("WVWZZZ1JZ%08d", i) }

// memoryEvents returns what vehicle i sends in the memory run: a telemetry
// fix with device, cell and signals, and for every third vehicle a command
// transaction with the vehicle's own echo.
func memoryEvents(i int, base int64) []*event.Event {
	vin := memoryVIN(i)
	t := base + int64(i)*int64(time.Millisecond)
	tel := &event.Event{ID: "t-" + strconv.Itoa(i), Source: "tsp/telematics-gw-eu1", Type: event.TypeTelemetry, Time: t,
		Subject: vin, Tenant: "fleet-a", Telemetry: &event.Telemetry{
			Position: event.Position{Lat: 48 + float64(i%1000)/1000, Lon: 11 + float64(i/1000%1000)/1000, Heading: 90, HasHeading: true, Accuracy: 4, HasAcc: true},
			Speed:    42, HasSpeed: true, Seq: uint64(i), HasSeq: true,
			Signals: event.Signals{TraveledDistance: 48211000, HasTraveledDistance: true, LowVoltageState: event.LVOn, DriverDoorLocked: event.True},
			Device:  &event.Device{IMEI: fmt.Sprintf("35693803%07d", i), ICCID: fmt.Sprintf("894902200%010d", i), Firmware: "4.2.1"},
			Cell:    &event.Cell{MCC: 262, MNC: 1, LAC: 40021, CID: 1234567},
		}}
	evs := []*event.Event{tel}
	if i%3 == 0 {
		actor := event.Actor{Account: "acc-" + strconv.Itoa(i), Device: "dev-" + strconv.Itoa(i), IP: "203.0.113.7", Role: event.RoleOwner}
		for k, st := range []event.Stage{event.StageRequested, event.StageSent, event.StageDelivered, event.StageExecuted} {
			evs = append(evs, &event.Event{ID: fmt.Sprintf("c-%d-%d", i, k), Source: "tsp/command-svc", Type: event.TypeCommand,
				Time: t + int64(k+1)*int64(time.Second), Subject: vin, Tenant: "fleet-a",
				Command: &event.Command{CommandID: "cmd-" + strconv.Itoa(i), Command: event.CmdUnlock, Stage: st, Channel: event.ChannelApp, Actor: actor}})
		}
		evs = append(evs, &event.Event{ID: "e-" + strconv.Itoa(i), Source: "tsp/telematics-gw-eu1", Type: event.TypeVehicleEvent,
			Time: t + 5*int64(time.Second), Subject: vin, Tenant: "fleet-a",
			VehicleEvent: &event.VehicleEvent{Name: event.NameUnlocked, Origin: event.OriginRemote, CommandID: "cmd-" + strconv.Itoa(i)}})
	}
	return evs
}
