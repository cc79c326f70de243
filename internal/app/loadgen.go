package app

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/blockio"
	"github.com/vigil-project/vigil/internal/processor"
	"github.com/vigil-project/vigil/internal/sim"
)

// httpBenchOptions configure the HTTP load generator (vigil bench --http).
type httpBenchOptions struct {
	Stream   benchOptions  // the simulated stream: Events, Vehicles, Seed
	Batch    int           // events per POST /v1/events (NDJSON)
	Conns    int           // concurrent ingest connections
	Rate     int           // events/s offered; 0: as fast as the server acknowledges
	Gzip     bool          // gzip each batch
	Duration time.Duration // stop sending after this; 0: when the stream is sent
	GateRate int           // gate decisions/s offered alongside; 0: none
	GateKey  string        // key for POST /v1/gate; "" uses the ingest key
	GateURL  string        // base URL of the gate's decisions; "": the server's (vigil serve --gate-listen serves it apart)
	// GateIO is how the gate's client waits for answers: "poller" (Go's
	// network poller) or "blocking" (in system calls, a thread per
	// connection, internal/blockio).
	GateIO   string
	Drain    time.Duration // after sending, wait this long at most for detection to catch up
	RunID    string        // prefix of event ids (a fresh one per run by default)
	UUIDs    bool          // event ids as random-looking UUIDs instead of counted ones
	Progress time.Duration // print the rate every so often while sending; 0: never
	GateOnly bool          // no events: GateRate decisions/s for Duration, as a client apart from ingest sees them
}

// httpBenchFlags are the flags vigil bench takes for the HTTP load
// generator; runBench registers them next to its own.
type httpBenchFlags struct {
	URL, Key, GateKey string
	GateURL, GateIO   string
	Batch, Conns      int
	Rate, GateRate    int
	GateOnly          bool
	Gzip              bool
	IDs               string
	Duration, Drain   time.Duration
	Progress          time.Duration
	Prepare           string
}

func addHTTPBenchFlags(fs *flag.FlagSet) *httpBenchFlags {
	f := &httpBenchFlags{}
	fs.StringVar(&f.URL, "http", "", "measure a running vigil serve at this base URL over HTTP (e.g. http://127.0.0.1:8470) instead of the engine in-process")
	fs.StringVar(&f.Key, "key", "", "API key for --http: an ingest key (a gate key too with --gate-rate; admin works for both); default $VIGIL_KEY")
	fs.StringVar(&f.GateKey, "gate-key", "", "API key for the gate decisions of --gate-rate, when not --key")
	fs.StringVar(&f.GateURL, "gate-url", "", "--http: base URL for the gate's decisions when it is served apart (vigil serve --gate-listen); default the --http URL")
	fs.StringVar(&f.GateIO, "gate-client", defaultGateIO(), "--http: how the gate's client waits for its answers: blocking (in system calls, a thread per connection, as a thread-per-request back-end; Linux) or poller (Go's network poller, whose wake-ups wait on the generator's own scheduler)")
	fs.IntVar(&f.Batch, "batch", 1000, "--http: events per NDJSON batch")
	fs.IntVar(&f.Conns, "conns", 4, "--http: concurrent ingest connections")
	fs.IntVar(&f.Rate, "ingest-rate", 0, "--http: events per second offered (0: as fast as the server acknowledges)")
	fs.BoolVar(&f.Gzip, "gzip", false, "--http: gzip each batch")
	fs.StringVar(&f.IDs, "ids", "counted", "--http: event ids as the simulator counts them (counted) or as UUIDs (uuid), which many producers send and which cost the store more")
	fs.DurationVar(&f.Duration, "duration", 0, "--http: stop sending after this (0: when the stream is sent)")
	fs.IntVar(&f.GateRate, "gate-rate", 0, "--http: command gate decisions per second offered alongside ingest (0: none)")
	fs.BoolVar(&f.GateOnly, "gate-only", false, "--http: send no events, only --gate-rate decisions for --duration: the gate's latency as a client of its own sees it (a TSP back-end is not the process that streams events), e.g. beside a second vigil bench --http that ingests")
	fs.DurationVar(&f.Drain, "drain", 2*time.Minute, "--http: how long to wait, after sending, for detection to catch up")
	fs.DurationVar(&f.Progress, "progress", 5*time.Second, "--http: print the acknowledged rate, the server's CPU per event and detection's lag this often while sending (0: never); the report gives the lowest and highest")
	fs.StringVar(&f.Prepare, "prepare", "", "write the simulated fleet's reference data (directory.csv, vigil.yaml) for vigil serve --config into this directory, then exit")
	return f
}

// defaultGateIO is blocking where it is supported: the generator should
// add as little wait of its own as it can to the latency it measures.
func defaultGateIO() string {
	if blockio.Supported {
		return "blocking"
	}
	return "poller"
}

// runHTTP runs what the flags ask for, with the stream of o.
func (f *httpBenchFlags) runHTTP(ctx context.Context, o benchOptions, out io.Writer) error {
	if f.Prepare != "" {
		return prepareHTTPBench(ctx, f.Prepare, o, out)
	}
	key := f.Key
	if key == "" {
		key = os.Getenv("VIGIL_KEY")
	}
	if key == "" {
		return fmt.Errorf("%w: --http needs an API key: --key or $VIGIL_KEY", errUsage)
	}
	if f.Batch < 1 || f.Batch > 10_000 || f.Conns < 1 || f.Conns > 256 || f.Rate < 0 || f.GateRate < 0 || f.GateRate > 1_000_000 {
		return fmt.Errorf("%w: need 1 ≤ --batch ≤ 10000, 1 ≤ --conns ≤ 256, --ingest-rate ≥ 0, 0 ≤ --gate-rate ≤ 1000000", errUsage)
	}
	if f.Progress < 0 || (f.Progress > 0 && f.Progress < 100*time.Millisecond) {
		return fmt.Errorf("%w: --progress is 0 (never) or at least 100ms, not %v", errUsage, f.Progress)
	}
	if f.GateOnly && (f.GateRate == 0 || f.Duration <= 0) {
		return fmt.Errorf("%w: --gate-only needs --gate-rate and --duration (how many decisions a second, for how long)", errUsage)
	}
	if f.GateOnly && (f.Rate != 0 || f.Gzip || f.IDs != "counted" || f.Batch != 1000 || f.Conns != 4) {
		return fmt.Errorf("%w: --gate-only sends no events: --ingest-rate, --gzip, --ids, --batch and --conns do not apply", errUsage)
	}
	switch {
	case f.GateIO != "blocking" && f.GateIO != "poller":
		return fmt.Errorf("%w: --gate-client is blocking or poller, not %q", errUsage, f.GateIO)
	case f.GateIO == "blocking" && !blockio.Supported:
		return fmt.Errorf("%w: --gate-client blocking: %v", errUsage, blockio.ErrUnsupported)
	}
	if f.IDs != "counted" && f.IDs != "uuid" {
		return fmt.Errorf("%w: --ids is counted or uuid, not %q", errUsage, f.IDs)
	}
	return runHTTPBench(ctx, f.URL, key, httpBenchOptions{Stream: o, Batch: f.Batch, Conns: f.Conns, Rate: f.Rate, Gzip: f.Gzip,
		Duration: f.Duration, GateRate: f.GateRate, GateKey: f.GateKey, GateURL: f.GateURL, GateIO: f.GateIO, Drain: f.Drain, UUIDs: f.IDs == "uuid", Progress: f.Progress, GateOnly: f.GateOnly}, out)
}

// httpBenchReport is what one run measured.
type httpBenchReport struct {
	mu sync.Mutex // the load goroutines add their figures under it

	Events, Batches int
	// Ingest: events in acknowledged batches, what the server answered,
	// 429s (retried) and failed requests (not retried).
	SentEvents, Accepted, Duplicates, Rejected int64
	TooMany, Errors                            int64
	Elapsed                                    time.Duration
	Ingest                                     []time.Duration // per acknowledged batch, request to acknowledgement
	acked                                      atomic.Int64    // events in acknowledged batches so far, for the progress lines
	Intervals                                  []float64       // events/s acknowledged in each whole progress interval

	// Gate: decisions by outcome, failed requests, latency from the send
	// and from the time the decision was due; gateOnly: no events were sent.
	gateOn, gateOnly bool
	gateClient       string // how the gate's client waited, for the report
	Decisions        map[string]int64
	GateErrors       int64
	GateElapsed      time.Duration
	Gate, GateLate   []time.Duration

	// Detection, from /metrics: lag when sending ended (-1 unknown), lag
	// left after the drain, alerts and engine events over the run.
	metricsOK, drainedOK     bool
	LagAtEnd, Drained        int64
	DrainTime                time.Duration
	AlertsAtStart, Received0 int64
	AlertsAtEnd, ReceivedEnd int64
	// The server's CPU seconds (process_cpu_seconds_total) at the start and
	// after the drain, and this generator's CPU while sending: per event,
	// figures other load on the machine moves less than the rate.
	CPUAtStart, CPUAtEnd float64
	GenCPU               time.Duration
	// Machine is how the machine's cores spent the sending: busy, idle and
	// taken by a hypervisor (steal), which no process's CPU time shows.
	Machine machineShare
	// The gate route's and the alert writes' latency buckets at the start
	// and the end (serverMetrics.gate, alertWrites).
	gateAtStart, gateAtEnd               map[float64]float64
	alertWritesAtStart, alertWritesAtEnd map[float64]float64

	FirstError string
}

// runHTTPBench builds the simulated stream in memory, posts it to base in
// NDJSON batches from o.Conns connections at o.Rate (or as fast as it is
// acknowledged), with o.GateRate gate decisions a second alongside, and
// reports what it measured.
func runHTTPBench(ctx context.Context, base, key string, o httpBenchOptions, out io.Writer) error {
	rep, err := httpBench(ctx, base, key, o, out)
	if err != nil {
		return err
	}
	rep.write(out)
	if rep.Errors > 0 || rep.GateErrors > 0 {
		return fmt.Errorf("%d ingest and %d gate requests failed; the first: %s", rep.Errors, rep.GateErrors, rep.FirstError)
	}
	return nil
}

// httpBench runs the load and returns what it measured.
func httpBench(ctx context.Context, base, key string, o httpBenchOptions, out io.Writer) (*httpBenchReport, error) {
	base = strings.TrimRight(base, "/")
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Conns <= 0 {
		o.Conns = 4
	}
	if o.GateKey == "" {
		o.GateKey = key
	}
	o.GateURL = strings.TrimRight(cmp.Or(o.GateURL, base), "/")
	if o.RunID == "" {
		var b [4]byte
		rand.Read(b[:])
		o.RunID = "b" + hex.EncodeToString(b[:])
	}
	var bodies, gateBodies [][]byte
	var n int
	if o.GateOnly {
		if o.GateRate <= 0 || o.Duration <= 0 {
			return nil, fmt.Errorf("%w: a gate-only run needs a rate and a duration", errUsage)
		}
		fmt.Fprintf(out, "vigil bench --http %s: command gate decisions only, %d/s for %v, about the links of %d simulated vehicles\n",
			base, o.GateRate, o.Duration, o.Stream.Vehicles)
		sm, err := sim.New(simConfig(o.Stream))
		if err != nil {
			return nil, err
		}
		gateBodies = gateRequests(sm, 20_000, o.Stream.Seed)
		o.Progress = 0 // its lines are about events
	} else {
		fmt.Fprintf(out, "vigil bench --http %s: %d events of %d simulated vehicles in batches of %d from %d connections%s\n",
			base, o.Stream.Events, o.Stream.Vehicles, o.Batch, o.Conns, rateNote(o.Rate, "events"))
		stream, ns, sm, err := buildStream(ctx, o.Stream)
		if err != nil {
			return nil, err
		}
		n = ns
		bodies = httpBatches(stream, o.Batch, o.RunID, o.Gzip, o.UUIDs)
		if o.GateRate > 0 {
			gateBodies = gateRequests(sm, 20_000, o.Stream.Seed)
		}
		fmt.Fprintf(out, "stream: %d events, %d batches, %.1f MiB%s, run id %s%s\n", n, len(bodies), float64(len(stream))/(1<<20),
			map[bool]string{true: " (gzip)", false: ""}[o.Gzip], o.RunID, map[bool]string{true: ", ids as UUIDs", false: ""}[o.UUIDs])
	}
	if o.GateRate > 0 && len(gateBodies) == 0 {
		return nil, errors.New("the simulated fleet links no one to a vehicle: no gate requests to send")
	}

	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.Conns, DisableCompression: true}}
	gateClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	rep := &httpBenchReport{Events: n, Batches: len(bodies), Decisions: map[string]int64{}, LagAtEnd: -1, gateOn: o.GateRate > 0, gateOnly: o.GateOnly,
		gateClient: gateClientNote(o.GateURL, o.GateIO)}
	if m, err := scrapeMetrics(ctx, client, base); err == nil {
		rep.metricsOK, rep.AlertsAtStart, rep.Received0, rep.CPUAtStart = true, m.alerts, m.received, m.cpu
		rep.gateAtStart, rep.alertWritesAtStart = m.gate, m.alertWrites
	}

	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	if o.Duration > 0 {
		var cancel context.CancelFunc
		sendCtx, cancel = context.WithTimeout(sendCtx, o.Duration)
		defer cancel()
	}
	var gateWG sync.WaitGroup
	gateCtx, stopGate := context.WithCancel(sendCtx)
	defer stopGate()
	if o.GateRate > 0 {
		gateWG.Add(1)
		go func() {
			defer gateWG.Done()
			runGateLoad(gateCtx, gateClient, o.GateURL, o.GateKey, gateBodies, o.GateRate, o.GateIO, rep)
		}()
	}
	start, cpu0, machine0 := time.Now(), processCPU(), readMachineCPU()
	progressDone := make(chan struct{})
	progressCtx, stopProgress := context.WithCancel(sendCtx)
	go func() {
		defer close(progressDone)
		reportProgress(progressCtx, base, o.Progress, start, rep, out)
	}()
	if o.GateOnly {
		<-sendCtx.Done() // the gate's load runs for the duration
	} else {
		runIngestLoad(sendCtx, client, base, key, bodies, o, rep)
	}
	rep.Elapsed = time.Since(start)
	stopProgress()
	<-progressDone
	rep.GenCPU = processCPU() - cpu0
	rep.Machine = readMachineCPU().since(machine0)
	stopGate()
	gateWG.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	if o.GateOnly {
		// No events of ours to wait for: whatever else the server is
		// doing (another generator's ingest) is not this run's.
		if m, err := scrapeMetrics(ctx, client, base); err == nil {
			rep.AlertsAtEnd, rep.ReceivedEnd, rep.gateAtEnd, rep.CPUAtEnd = m.alerts, m.received, m.gate, m.cpu
			rep.alertWritesAtEnd = m.alertWrites
		}
		return rep, nil
	}
	// Detection follows the archive: how far behind is it, and how long
	// until it has caught up?
	if m, err := scrapeMetrics(ctx, client, base); err == nil {
		rep.LagAtEnd = m.lag
		drainStart := time.Now()
		for m.lag > 0 && time.Since(drainStart) < o.Drain && ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			if m2, err := scrapeMetrics(ctx, client, base); err == nil {
				m = m2
			}
		}
		rep.DrainTime, rep.drainedOK = time.Since(drainStart), m.lag == 0
		rep.AlertsAtEnd, rep.ReceivedEnd, rep.Drained = m.alerts, m.received, m.lag
		rep.gateAtEnd, rep.alertWritesAtEnd = m.gate, m.alertWrites
		rep.CPUAtEnd = settledCPU(ctx, client, base, m.cpu)
	}
	return rep, nil
}

// reportProgress prints, every interval while ctx lasts, the rate
// acknowledged over the interval, the server's CPU per event acknowledged
// in it and detection's lag, and keeps each whole interval's rate: a run
// whose rate falls as the archive grows shows it here, where the average
// hides it. The server's CPU of an interval includes work on earlier
// events (timeline entries, checkpoints).
func reportProgress(ctx context.Context, base string, every time.Duration, start time.Time, rep *httpBenchReport, out io.Writer) {
	if every <= 0 {
		return
	}
	c := &http.Client{Timeout: 10 * time.Second} // its own connection: none taken from the load's
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastAt, lastMachine := int64(0), start, readMachineCPU()
	lastCPU := math.NaN()
	if m, err := scrapeMetrics(ctx, c, base); err == nil {
		lastCPU = m.cpu
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ctx.Err() != nil { // sending ended with this tick: no whole interval
				return
			}
			now, acked := time.Now(), rep.acked.Load()
			rate := float64(acked-last) / now.Sub(lastAt).Seconds()
			line := fmt.Sprintf("  %6.1fs: %8.0f events/s acknowledged over the last %v, %d in all", now.Sub(start).Seconds(), rate, now.Sub(lastAt).Round(time.Millisecond), acked)
			if m, err := scrapeMetrics(ctx, c, base); err == nil {
				if acked > last && !math.IsNaN(lastCPU) {
					line += fmt.Sprintf(", server CPU %.1f µs an event", (m.cpu-lastCPU)*1e6/float64(acked-last))
				}
				line += fmt.Sprintf(", detection %d events behind", m.lag)
				lastCPU = m.cpu
			} else {
				lastCPU = math.NaN()
			}
			machine := readMachineCPU()
			if share := machine.since(lastMachine); share.ok {
				line += fmt.Sprintf(", steal %.0f%%", share.steal)
			}
			lastMachine = machine
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintln(out, line)
			rep.mu.Lock()
			rep.Intervals = append(rep.Intervals, rate)
			rep.mu.Unlock()
			last, lastAt = acked, now
		}
	}
}

// settledCPU waits (10s at most) until the server's CPU use falls below a
// tenth of a core, so that work it does after detection caught up (timeline
// entries, checkpoints, alerts) counts too, and returns its CPU seconds.
func settledCPU(ctx context.Context, c *http.Client, base string, cpu float64) float64 {
	const every = 250 * time.Millisecond
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && ctx.Err() == nil; {
		time.Sleep(every)
		m, err := scrapeMetrics(ctx, c, base)
		if err != nil {
			return cpu
		}
		busy := m.cpu-cpu > every.Seconds()/10
		cpu = m.cpu
		if !busy {
			break
		}
	}
	return cpu
}

func rateNote(rate int, what string) string {
	if rate <= 0 {
		return ", as fast as acknowledged"
	}
	return fmt.Sprintf(", %d %s/s offered", rate, what)
}

// httpBatches splits the NDJSON stream into request bodies of batch events,
// prefixing every event id with the run id so a rerun against the same
// server is new data, not duplicates. With uuids each id becomes a UUID
// drawn from the run id and the simulator's id: unique, in no order.
func httpBatches(stream []byte, batch int, runID string, gz, uuids bool) [][]byte {
	const idAttr = `{"specversion":"1.0","id":"`
	var bodies [][]byte
	var cur bytes.Buffer
	n := 0
	flush := func() {
		if n == 0 {
			return
		}
		b := bytes.Clone(cur.Bytes())
		if gz {
			var z bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
			zw.Write(b)
			zw.Close()
			b = z.Bytes()
		}
		bodies = append(bodies, b)
		cur.Reset()
		n = 0
	}
	for len(stream) > 0 {
		line := stream
		if i := bytes.IndexByte(stream, '\n'); i >= 0 {
			line, stream = stream[:i+1], stream[i+1:]
		} else {
			stream = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if rest, ok := bytes.CutPrefix(line, []byte(idAttr)); ok {
			cur.WriteString(idAttr)
			if end := stringEnd(rest); uuids && end >= 0 {
				cur.WriteString(uuidOf(runID, rest[:end]))
				rest = rest[end:]
			} else {
				cur.WriteString(runID)
				cur.WriteByte('-')
			}
			cur.Write(rest)
		} else {
			cur.Write(line) // not the encoder's layout: sent as it is
		}
		if n++; n == batch {
			flush()
		}
	}
	flush()
	return bodies
}

// stringEnd returns the index of the quote that ends the JSON string
// whose contents b begins with, or -1.
func stringEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// uuidOf is a UUID whose bits are a hash of the run id and id (version 8,
// RFC 9562's for custom layouts): unique, in no order, and the same for
// the same input, as a producer's resend would be.
func uuidOf(runID string, id []byte) string {
	h := sha256.New()
	h.Write([]byte(runID))
	h.Write([]byte{0})
	h.Write(id)
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	x := hex.EncodeToString(u[:])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// stuckAfter: a batch refused with 429 for this long means detection is
// stuck or hopelessly behind; the run stops.
const stuckAfter = time.Minute

// runIngestLoad posts the bodies from o.Conns goroutines, batch k at
// start + k·batch/rate when a rate is set; a 429 is retried after its
// Retry-After, for stuckAfter at most.
func runIngestLoad(ctx context.Context, c *http.Client, base, key string, bodies [][]byte, o httpBenchOptions, rep *httpBenchReport) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var next atomic.Int64
	start := time.Now()
	var interval time.Duration
	if o.Rate > 0 {
		interval = time.Duration(float64(o.Batch) / float64(o.Rate) * float64(time.Second))
	}
	var wg sync.WaitGroup
	for range o.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var acc, dup, rej, tooMany, errs, sent int64
			firstErr := ""
			defer func() {
				rep.mu.Lock()
				rep.Ingest = append(rep.Ingest, lat...)
				rep.Accepted += acc
				rep.Duplicates += dup
				rep.Rejected += rej
				rep.TooMany += tooMany
				rep.Errors += errs
				rep.SentEvents += sent
				if rep.FirstError == "" {
					rep.FirstError = firstErr
				}
				rep.mu.Unlock()
			}()
			for ctx.Err() == nil {
				k := next.Add(1) - 1
				if k >= int64(len(bodies)) {
					return
				}
				if interval > 0 {
					if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(d):
						}
					}
				}
				for first := time.Now(); ctx.Err() == nil; {
					t0 := time.Now()
					status, body, retry, err := postBatch(ctx, c, base, key, bodies[k], o.Gzip)
					took := time.Since(t0)
					if err != nil || (status != 200 && status != 429) {
						if ctx.Err() != nil {
							return
						}
						errs++
						if firstErr == "" {
							firstErr = fmt.Sprintf("status %d: %v %s", status, err, clipText(body))
						}
						break
					}
					if status == 429 {
						tooMany++
						if time.Since(first) > stuckAfter {
							errs++
							if firstErr == "" {
								firstErr = fmt.Sprintf("the server answered 429 for %v: detection is stuck or far behind; the run stops", stuckAfter)
							}
							stop()
							return
						}
						select {
						case <-ctx.Done():
							return
						case <-time.After(retry):
						}
						continue
					}
					var res struct{ Accepted, Duplicates, Rejected int64 }
					if err := json.Unmarshal(body, &res); err != nil {
						errs++
						break
					}
					lat = append(lat, took)
					rep.acked.Add(res.Accepted + res.Duplicates)
					acc, dup, rej = acc+res.Accepted, dup+res.Duplicates, rej+res.Rejected
					sent += res.Accepted + res.Duplicates + res.Rejected
					break
				}
			}
		}()
	}
	wg.Wait()
}

func postBatch(ctx context.Context, c *http.Client, base, key string, body []byte, gz bool) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/x-ndjson")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	retry := 100 * time.Millisecond
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retry = min(time.Duration(s)*time.Second, 5*time.Second)
	}
	return resp.StatusCode, b, retry, err
}

// gateRequests pre-encodes n gate requests over the simulated fleet: most
// from a principal the directory links to the vehicle, some from one it
// does not, with the contract's commands.
func gateRequests(sm *sim.Simulator, n int, seed int64) [][]byte {
	type link struct{ tenant, vehicle, account, client string }
	var links []link
	for l := range sm.Links() {
		links = append(links, link{l.Tenant, l.Vehicle, l.Account, l.ClientID})
	}
	if len(links) == 0 {
		return nil
	}
	r := mrand.New(mrand.NewPCG(uint64(seed), 7))
	commands := []string{"unlock", "lock", "lock", "climate", "locate", "horn_lights", "engine_start", "engine_stop", "immobilize"}
	out := make([][]byte, n)
	for i := range out {
		l := links[r.IntN(len(links))]
		if r.IntN(5) == 0 { // someone else's vehicle
			l.vehicle = links[r.IntN(len(links))].vehicle
		}
		actor := fmt.Sprintf(`{"account":%q,"device":"dev-%d","ip":"203.0.113.%d"}`, l.account, r.IntN(1000), r.IntN(250)+1)
		if l.account == "" {
			actor = fmt.Sprintf(`{"client_id":%q}`, l.client)
		}
		out[i] = fmt.Appendf(nil, `{"tenant":%q,"vehicle":%q,"command":%q,"channel":"app","command_id":"bench-%d","actor":%s}`,
			l.tenant, l.vehicle, commands[r.IntN(len(commands))], i, actor)
	}
	return out
}

// runGateLoad offers rate decisions a second: decision k is due at
// start + k/rate; enough goroutines send them that a slow answer does not
// hold the next one back. Latency is measured from the send and, to count
// the wait of a decision that could not go out on time, from when it was
// due.
func runGateLoad(ctx context.Context, c *http.Client, base, key string, bodies [][]byte, rate int, how string, rep *httpBenchReport) {
	blocking := how == "blocking"
	workers := min(256, max(8, rate/200))
	var next atomic.Int64
	start := time.Now()
	interval := float64(time.Second) / float64(rate)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, late := make([]time.Duration, 0, 1024), make([]time.Duration, 0, 1024)
			dec := map[string]int64{}
			var errs int64
			firstErr := ""
			defer func() {
				rep.mu.Lock()
				rep.Gate = append(rep.Gate, lat...)
				rep.GateLate = append(rep.GateLate, late...)
				for k, v := range dec {
					rep.Decisions[k] += v
				}
				rep.GateErrors += errs
				if rep.FirstError == "" {
					rep.FirstError = firstErr
				}
				rep.mu.Unlock()
			}()
			var buf []byte
			post := func(body []byte) (int, []byte, error) { return postGate(ctx, c, base, key, body, buf) }
			if u, err := url.Parse(base); err == nil && u.Scheme == "http" {
				addr := u.Host
				if u.Port() == "" {
					addr = net.JoinHostPort(u.Hostname(), "80")
				}
				gc := newGateConn(addr, u.Host, strings.TrimSuffix(u.EscapedPath(), "/")+"/v1/gate", key, 30*time.Second)
				gc.blocking = blocking
				defer gc.close()
				post = func(body []byte) (int, []byte, error) { return gc.post(body, buf) }
			}
			for {
				k := next.Add(1) - 1
				due := start.Add(time.Duration(float64(k) * interval))
				if d := time.Until(due); d > 0 && blocking {
					// The thread sleeps, in steps that let a cancel end it.
					for ; d > 0 && ctx.Err() == nil; d = time.Until(due) {
						blockio.Sleep(min(d, 50*time.Millisecond))
					}
				} else if d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				}
				if ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				status, body, err := post(bodies[k%int64(len(bodies))])
				t1 := time.Now()
				buf = body[:0]
				if err != nil || status != 200 {
					if ctx.Err() != nil {
						return
					}
					errs++
					if firstErr == "" {
						firstErr = fmt.Sprintf("gate status %d: %v %s", status, err, clipText(body))
					}
					continue
				}
				lat = append(lat, t1.Sub(t0))
				late = append(late, t1.Sub(due))
				dec[decisionOf(body)]++
			}
		}()
	}
	wg.Wait()
	rep.GateElapsed = time.Since(start)
}

func postGate(ctx context.Context, c *http.Client, base, key string, body, buf []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/gate", bytes.NewReader(body))
	if err != nil {
		return 0, buf, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, buf, err
	}
	defer resp.Body.Close()
	w := bytes.NewBuffer(buf[:0])
	_, err = w.ReadFrom(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, w.Bytes(), err
}

// gateClientNote says how the gate's client waits for answers.
func gateClientNote(base, how string) string {
	switch {
	case !strings.HasPrefix(base, "http://"):
		return "net/http's client (HTTPS)"
	case how == "blocking":
		return "blocking system calls, a thread per connection"
	}
	return "Go's network poller"
}

// decisionOf reads the decision of a gate answer without decoding it all.
func decisionOf(b []byte) string {
	const k = `"decision":"`
	i := bytes.Index(b, []byte(k))
	if i < 0 {
		return "?"
	}
	rest := b[i+len(k):]
	if j := bytes.IndexByte(rest, '"'); j >= 0 {
		return string(rest[:j])
	}
	return "?"
}

func clipText(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// serverMetrics are the few numbers the bench reads from /metrics (public,
// whatever the key's role).
type serverMetrics struct {
	lag, alerts, received int64
	cpu                   float64 // process_cpu_seconds_total
	// gate is the server's own latency of answered decisions: cumulative
	// counts by bucket bound (vigil_http_request_seconds, POST /v1/gate, 2xx).
	gate map[float64]float64
	// alertWrites is the latency of the alert writer's store calls, the
	// same way (vigil_store_seconds, store_detections).
	alertWrites map[float64]float64
}

// gateBucket and alertWriteBucket begin the lines of those histograms' buckets.
const (
	gateBucket       = `vigil_http_request_seconds_bucket{route="POST /v1/gate",status="2xx",le="`
	alertWriteBucket = `vigil_store_seconds_bucket{op="store_detections",le="`
)

// addBucket records a bucket line's count under its bound in *h.
func addBucket(h *map[float64]float64, le string, v float64) {
	bound, err := strconv.ParseFloat(strings.TrimSuffix(le, `"}`), 64)
	if err != nil {
		return
	}
	if *h == nil {
		*h = map[float64]float64{}
	}
	(*h)[bound] = v
}

func scrapeMetrics(ctx context.Context, c *http.Client, base string) (serverMetrics, error) {
	var m serverMetrics
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	if err != nil {
		return m, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return m, fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// The value follows the last space: label values may hold spaces.
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		name, val := line[:i], line[i+1:]
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch {
		case name == "vigil_processing_lag_events":
			m.lag, found = int64(v), true
		case strings.HasPrefix(name, "vigil_alerts_total{"):
			m.alerts += int64(v)
		case name == `vigil_engine_events_total{outcome="received"}`:
			m.received = int64(v)
		case name == "process_cpu_seconds_total":
			m.cpu = v
		case strings.HasPrefix(name, gateBucket):
			addBucket(&m.gate, name[len(gateBucket):], v)
		case strings.HasPrefix(name, alertWriteBucket):
			addBucket(&m.alertWrites, name[len(alertWriteBucket):], v)
		}
	}
	if !found {
		return m, errors.New("/metrics has no vigil_processing_lag_events")
	}
	return m, sc.Err()
}

// bucketQuantiles returns, for each percentile, the smallest bucket bound
// that holds it ("≤ 2ms"; "> 10s" beyond the largest) among the
// observations between two readings of a histogram's cumulative buckets,
// and how many observations there were.
func bucketQuantiles(start, end map[float64]float64, ps ...float64) ([]string, float64) {
	les := make([]float64, 0, len(end))
	for le := range end {
		les = append(les, le)
	}
	slices.Sort(les)
	if len(les) == 0 {
		return nil, 0
	}
	total := end[les[len(les)-1]] - start[les[len(les)-1]] // +Inf: every observation
	if total <= 0 {
		return nil, 0
	}
	secs := func(le float64) time.Duration { return time.Duration(le * float64(time.Second)) }
	out := make([]string, len(ps))
	for k, p := range ps {
		for i, le := range les {
			if end[le]-start[le] < p/100*total {
				continue
			}
			switch {
			case !math.IsInf(le, 1):
				out[k] = "≤ " + secs(le).String()
			case i > 0:
				out[k] = "> " + secs(les[i-1]).String()
			default:
				out[k] = "?"
			}
			break
		}
	}
	return out, total
}

func pctOf(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(math.Ceil(float64(len(s))*p/100))-1)]
}

func (r *httpBenchReport) write(w io.Writer) {
	r.writeFigures(w)
	io.WriteString(w, r.Machine.report("the run", runtime.NumCPU()))
}

func (r *httpBenchReport) writeFigures(w io.Writer) {
	slices.Sort(r.Ingest)
	slices.Sort(r.Gate)
	slices.Sort(r.GateLate)
	secs := r.Elapsed.Seconds()
	if r.gateOnly {
		r.writeGate(w, "command gate, no events sent")
		if r.metricsOK && r.CPUAtEnd > r.CPUAtStart && len(r.Gate) > 0 {
			cpu := r.CPUAtEnd - r.CPUAtStart
			fmt.Fprintf(w, "  server CPU over the run %.2f s (process_cpu_seconds_total): %.1f µs per decision if it did nothing else\n",
				cpu, cpu*1e6/float64(len(r.Gate)))
		}
		return
	}
	fmt.Fprintf(w, "\ningest over HTTP, %v\n", r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  sent %d of %d events in %d acknowledged batches: accepted %d, duplicates %d, rejected %d\n",
		r.SentEvents, r.Events, len(r.Ingest), r.Accepted, r.Duplicates, r.Rejected)
	fmt.Fprintf(w, "  acknowledged %.0f events/s   429s %d (retried)   failed requests %d\n", float64(r.Accepted+r.Duplicates)/secs, r.TooMany, r.Errors)
	fmt.Fprintf(w, "  batch latency, request to acknowledgement: p50 %v   p99 %v   p99.9 %v   max %v\n",
		pctOf(r.Ingest, 50), pctOf(r.Ingest, 99), pctOf(r.Ingest, 99.9), pctOf(r.Ingest, 100))
	if len(r.Intervals) > 0 {
		fmt.Fprintf(w, "  over %d whole progress intervals: lowest %.0f events/s, highest %.0f\n", len(r.Intervals), slices.Min(r.Intervals), slices.Max(r.Intervals))
	}
	if r.gateOn {
		r.writeGate(w, "command gate alongside")
	}
	fmt.Fprintf(w, "\ndetection (from /metrics)\n")
	if r.LagAtEnd < 0 {
		fmt.Fprintf(w, "  /metrics not readable: processing lag unknown\n")
		return
	}
	fmt.Fprintf(w, "  processing lag when sending ended: %d events\n", r.LagAtEnd)
	if r.drainedOK {
		total := r.Elapsed + r.DrainTime
		fmt.Fprintf(w, "  caught up %v later: %.0f events/s from the first request to the last event detected\n",
			r.DrainTime.Round(time.Millisecond), float64(r.Accepted)/total.Seconds())
	} else {
		fmt.Fprintf(w, "  still %d events behind after %v\n", r.Drained, r.DrainTime.Round(time.Millisecond))
	}
	if r.metricsOK {
		fmt.Fprintf(w, "  engine received %d events, alerts raised %d (before deduplication)\n", r.ReceivedEnd-r.Received0, r.AlertsAtEnd-r.AlertsAtStart)
		// A critical alert reaches the command gate once stored: this long
		// after the alert writer has gathered it with others.
		if bounds, n := bucketQuantiles(r.alertWritesAtStart, r.alertWritesAtEnd, 50, 99, 100); n > 0 {
			fmt.Fprintf(w, "  alert writes (vigil_store_seconds, store_detections): %.0f, taking p50 %s   p99 %s   max %s after the alert writer's %v of gathering\n",
				n, bounds[0], bounds[1], bounds[2], processor.AlertLinger)
		}
		if r.CPUAtEnd > r.CPUAtStart && r.Accepted > 0 {
			srv := (r.CPUAtEnd - r.CPUAtStart) * 1e6 / float64(r.Accepted)
			fmt.Fprintf(w, "  server CPU %.1f µs per event accepted (process_cpu_seconds_total over sending and draining)\n", srv)
			if r.GenCPU > 0 {
				gen := float64(r.GenCPU.Microseconds()) / float64(r.Accepted)
				fmt.Fprintf(w, "  load generator CPU %.1f µs per event: %d cores give server and generator CPU for at most %.0f events/s\n",
					gen, runtime.NumCPU(), float64(runtime.NumCPU())*1e6/(srv+gen))
			}
		}
	}
}

// writeGate writes the decisions' part of the report under title.
func (r *httpBenchReport) writeGate(w io.Writer, title string) {
	var total int64
	var parts []string
	for _, k := range []string{"allow", "deny", "step_up"} {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Decisions[k]))
		total += r.Decisions[k]
	}
	fmt.Fprintf(w, "\n%s, %v; the client waits in %s\n", title, r.GateElapsed.Round(time.Millisecond), r.gateClient)
	fmt.Fprintf(w, "  %d decisions, %.0f/s (%s), failed %d\n", total, float64(total)/r.GateElapsed.Seconds(), strings.Join(parts, ", "), r.GateErrors)
	fmt.Fprintf(w, "  latency, request to answer:  p50 %v   p99 %v   p99.9 %v   max %v\n",
		pctOf(r.Gate, 50), pctOf(r.Gate, 99), pctOf(r.Gate, 99.9), pctOf(r.Gate, 100))
	fmt.Fprintf(w, "  latency, due time to answer: p50 %v   p99 %v   p99.9 %v   max %v   (includes the generator's own delays)\n",
		pctOf(r.GateLate, 50), pctOf(r.GateLate, 99), pctOf(r.GateLate, 99.9), pctOf(r.GateLate, 100))
	if bounds, n := bucketQuantiles(r.gateAtStart, r.gateAtEnd, 50, 99, 99.9); n > 0 {
		fmt.Fprintf(w, "  server side, handler start to return (vigil_http_request_seconds, %.0f answers): p50 %s   p99 %s   p99.9 %s\n",
			n, bounds[0], bounds[1], bounds[2])
	}
}

// prepareHTTPBench writes the simulated fleet's reference data for the
// server under test: its directory of entitlements and its firmware keys
// and releases, and a configuration that names them.
func prepareHTTPBench(ctx context.Context, dir string, o benchOptions, out io.Writer) error {
	_, _, sm, err := buildStream(ctx, o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var csv bytes.Buffer
	csv.WriteString("tenant,kind,principal,vehicle,role\n")
	for l := range sm.Links() {
		kind, id := "account", l.Account
		if l.ClientID != "" {
			kind, id = "client", l.ClientID
		}
		fmt.Fprintf(&csv, "%s,%s,%s,%s,%s\n", l.Tenant, kind, id, l.Vehicle, l.Role)
	}
	var cfg bytes.Buffer
	fmt.Fprintf(&cfg, "# The simulated fleet of vigil bench --events %d --vehicles %d --seed %d.\ndirectory: directory.csv\nfirmware:\n  keys:\n",
		o.Events, o.Vehicles, o.Seed)
	for id, k := range sm.TrustedKeys() {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return err
		}
		fmt.Fprintf(&cfg, "    %q: %q\n", id, base64.StdEncoding.EncodeToString(der))
	}
	cfg.WriteString("  releases:\n")
	for _, h := range sm.ReleaseHashes() {
		fmt.Fprintf(&cfg, "    - %q\n", hex.EncodeToString(h[:]))
	}
	for name, data := range map[string][]byte{"directory.csv": csv.Bytes(), "vigil.yaml": cfg.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "wrote %s and %s: start the server with vigil serve --config %s\n",
		filepath.Join(dir, "directory.csv"), filepath.Join(dir, "vigil.yaml"), filepath.Join(dir, "vigil.yaml"))
	return nil
}
