package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHTTPBench runs the load generator against an in-process server: a
// few thousand events and some gate decisions, and the report adds up.
func TestHTTPBench(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ingest, gate := ts.key(t, "ingest", "*"), ts.key(t, "gate", "*")
	var out bytes.Buffer
	o := httpBenchOptions{Stream: benchOptions{Events: 5000, Vehicles: 200, Seed: 3}, Batch: 500, Conns: 2,
		GateRate: 300, GateKey: gate, Drain: 30 * time.Second}
	rep, err := httpBench(context.Background(), ts.base, ingest, o, &out)
	if err != nil {
		t.Fatal(err)
	}
	rep.write(&out)
	t.Log("\n" + out.String())
	wantBatches := (rep.Events + o.Batch - 1) / o.Batch
	switch {
	case rep.Events < 4000:
		t.Errorf("the stream has %d events", rep.Events)
	case rep.SentEvents != int64(rep.Events) || rep.Accepted != int64(rep.Events):
		t.Errorf("%d events, %d sent, %d accepted", rep.Events, rep.SentEvents, rep.Accepted)
	case rep.Duplicates != 0 || rep.Rejected != 0 || rep.Errors != 0:
		t.Errorf("duplicates %d, rejected %d, failed %d (%s)", rep.Duplicates, rep.Rejected, rep.Errors, rep.FirstError)
	case len(rep.Ingest) != wantBatches || rep.Batches != wantBatches:
		t.Errorf("%d latencies, %d batches, want %d", len(rep.Ingest), rep.Batches, wantBatches)
	case !rep.drainedOK || rep.ReceivedEnd-rep.Received0 != int64(rep.Events):
		t.Errorf("detection: drained %v, received %d of %d", rep.drainedOK, rep.ReceivedEnd-rep.Received0, rep.Events)
	}
	decided := rep.Decisions["allow"] + rep.Decisions["deny"] + rep.Decisions["step_up"]
	if rep.GateErrors != 0 || decided == 0 || decided != int64(len(rep.Gate)) || len(rep.Gate) != len(rep.GateLate) {
		t.Errorf("gate: %d failed, decisions %v, %d latencies", rep.GateErrors, rep.Decisions, len(rep.Gate))
	}
	// The server's own count of answered decisions over the run is the
	// generator's.
	if want := fmt.Sprintf("server side, handler start to return (vigil_http_request_seconds, %d answers): p50 ≤ ", decided); !strings.Contains(out.String(), want) {
		t.Errorf("the report lacks %q:\n%s", want, out.String())
	}
	// The simulated fleet raises alerts, and the report says how long the
	// server took to store them.
	if rep.AlertsAtEnd == rep.AlertsAtStart || !regexp.MustCompile(`alert writes \(vigil_store_seconds, store_detections\): [1-9]\d*, taking p50 ≤ \S+   p99 ≤ `).MatchString(out.String()) {
		t.Errorf("alerts raised %d, and the report lacks the alert writes' latency:\n%s", rep.AlertsAtEnd-rep.AlertsAtStart, out.String())
	}
	if want := machineLine(); !strings.Contains(out.String(), want) {
		t.Errorf("the report lacks %q:\n%s", want, out.String())
	}
	// A rerun is new data: the run id makes new event ids. Offered at
	// 10,000 events/s it lasts half a second: progress lines come every
	// 100 ms, each with the count so far.
	out.Reset()
	rep2, err := httpBench(context.Background(), ts.base, ingest, httpBenchOptions{Stream: o.Stream, Batch: 1000, Conns: 1,
		Rate: 10_000, Progress: 100 * time.Millisecond}, &out)
	if err != nil {
		t.Fatal(err)
	}
	rep2.write(&out)
	t.Log("\n" + out.String())
	if rep2.Accepted != int64(rep2.Events) || rep2.Duplicates != 0 {
		t.Errorf("rerun: accepted %d of %d, duplicates %d", rep2.Accepted, rep2.Events, rep2.Duplicates)
	}
	if !strings.Contains(out.String(), "batch latency, request to acknowledgement: p50") {
		t.Errorf("the report lacks the latency line:\n%s", out.String())
	}
	progress := regexp.MustCompile(`(?m)^ +[0-9.]+s: +([0-9]+) events/s acknowledged over the last [0-9.]+m?s, ([0-9]+) in all(, server CPU [0-9.]+ µs an event)?, detection [0-9]+ events behind(, steal [0-9]+%)?$`)
	lines := progress.FindAllStringSubmatch(out.String(), -1)
	prev := int64(0)
	for _, l := range lines {
		n, _ := strconv.ParseInt(l[2], 10, 64)
		if runtime.GOOS == "linux" && !strings.Contains(l[0], ", steal ") {
			t.Errorf("a progress line without the machine's steal: %q", l[0])
		}
		if n < prev || n > int64(rep2.Events) {
			t.Errorf("progress counts %d after %d, of %d events", n, prev, rep2.Events)
		}
		prev = n
	}
	switch {
	case len(lines) < 2:
		t.Errorf("%d progress lines in a run of at least 0.4 s at 100 ms:\n%s", len(lines), out.String())
	case len(rep2.Intervals) != len(lines):
		t.Errorf("%d progress lines, %d intervals kept", len(lines), len(rep2.Intervals))
	case !strings.Contains(out.String(), fmt.Sprintf("over %d whole progress intervals: lowest", len(lines))):
		t.Errorf("the report lacks the intervals' line:\n%s", out.String())
	}
}

// TestHTTPBenchGateOnly runs the gate's load alone, as a client apart from
// ingest: decisions at the rate asked for the duration asked, every one
// counted by the server too, and not one event sent.
func TestHTTPBenchGateOnly(t *testing.T) {
	ts := startServerWith(t, serveOptions{DataDir: t.TempDir(), GateListen: "127.0.0.1:0"})
	gate := ts.key(t, "gate", "*")
	for _, c := range []struct {
		url, io, client string
	}{
		{ts.base, "poller", "Go's network poller"},
		{ts.srv.gate, "blocking", "blocking system calls, a thread per connection"}, // vigil serve --gate-listen
	} {
		var out bytes.Buffer
		o := httpBenchOptions{Stream: benchOptions{Events: 5000, Vehicles: 200, Seed: 3}, GateRate: 200, Duration: time.Second, GateOnly: true,
			GateURL: c.url, GateIO: c.io}
		rep, err := httpBench(context.Background(), ts.base, gate, o, &out)
		if err != nil {
			t.Fatal(err)
		}
		rep.write(&out)
		t.Log("\n" + out.String())
		decided := rep.Decisions["allow"] + rep.Decisions["deny"] + rep.Decisions["step_up"]
		switch {
		case rep.GateErrors != 0:
			t.Errorf("%s: %d decisions failed: %s", c.url, rep.GateErrors, rep.FirstError)
		case decided < 150 || decided > 210 || decided != int64(len(rep.Gate)):
			t.Errorf("%s: %d decisions (%d latencies) in 1 s at 200/s", c.url, decided, len(rep.Gate))
		case rep.SentEvents != 0 || rep.Events != 0 || rep.ReceivedEnd != rep.Received0:
			t.Errorf("events went out: %d sent of %d, the engine received %d", rep.SentEvents, rep.Events, rep.ReceivedEnd-rep.Received0)
		}
		for _, want := range []string{
			"command gate, no events sent, ",
			"; the client waits in " + c.client + "\n",
			// Both listeners' answers count in the server's histogram.
			fmt.Sprintf("server side, handler start to return (vigil_http_request_seconds, %d answers): p50 ≤ ", decided),
			" µs per decision if it did nothing else",
			machineLine(),
		} {
			if want == "" {
				continue
			}
			if !strings.Contains(out.String(), want) {
				t.Errorf("the report lacks %q:\n%s", want, out.String())
			}
		}
		if strings.Contains(out.String(), "ingest over HTTP") {
			t.Errorf("the report has an ingest part:\n%s", out.String())
		}
	}

	// The flags: a gate-only run needs its rate and its length.
	for _, args := range [][]string{
		{"--gate-only", "--duration", "1s"},
		{"--gate-only", "--gate-rate", "100"},
		{"--gate-only", "--gate-rate", "100", "--duration", "1s", "--ingest-rate", "5000"},
	} {
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		f := addHTTPBenchFlags(fs)
		if err := fs.Parse(append([]string{"--http", ts.base, "--key", gate}, args...)); err != nil {
			t.Fatal(err)
		}
		err := f.runHTTP(context.Background(), benchOptions{Events: 5000, Vehicles: 200, Seed: 3}, io.Discard)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--gate-only") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func TestHTTPBatches(t *testing.T) {
	stream := []byte(`{"specversion":"1.0","id":"a","source":"s"}` + "\n\n" + `{"specversion":"1.0","id":"b","source":"s"}` + "\n" + `{"id":"c"}`)
	bodies := httpBatches(stream, 2, "r1", false, false)
	want := []string{`{"specversion":"1.0","id":"r1-a","source":"s"}` + "\n" + `{"specversion":"1.0","id":"r1-b","source":"s"}` + "\n", `{"id":"c"}`}
	if len(bodies) != 2 || string(bodies[0]) != want[0] || string(bodies[1]) != want[1] {
		t.Errorf("got %q", bodies)
	}
	// As UUIDs: version 8, one per id and run, the rest of the line as it
	// was; an escaped quote in an id is part of the id.
	stream = append([]byte(`{"specversion":"1.0","id":"x\"a","source":"s"}`+"\n"+`{"specversion":"1.0","id":"x\"b","source":"s"}`+"\n"), stream...)
	bodies = httpBatches(stream, 2, "r1", false, true)
	uuid := regexp.MustCompile(`^\{"specversion":"1.0","id":"([0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})","source":"s"\}$`)
	var ids []string
	for _, body := range bodies[:2] {
		for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
			m := uuid.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("with UUIDs: line %q", line)
			}
			ids = append(ids, m[1])
		}
	}
	slices.Sort(ids)
	if len(bodies) != 3 || len(slices.Compact(ids)) != 4 || string(bodies[2]) != want[1] {
		t.Errorf("with UUIDs got %q", bodies)
	}
	if again := httpBatches(stream, 2, "r1", false, true); string(again[0]) != string(bodies[0]) {
		t.Errorf("the same run gave other UUIDs: %q and %q", again[0], bodies[0])
	}
	if other := httpBatches(stream, 2, "r2", false, true); string(other[0]) == string(bodies[0]) {
		t.Errorf("another run gave the same UUIDs: %q", other[0])
	}
}

func TestBucketQuantiles(t *testing.T) {
	inf := math.Inf(1)
	start := map[float64]float64{0.001: 5, 0.002: 5, 0.01: 5, inf: 5}
	end := map[float64]float64{0.001: 55, 0.002: 104, 0.01: 105, inf: 105} // 100 new: 50 ≤1ms, 49 ≤2ms, 1 ≤10ms
	got, n := bucketQuantiles(start, end, 50, 99, 99.9, 100)
	if want := []string{"≤ 1ms", "≤ 2ms", "≤ 10ms", "≤ 10ms"}; n != 100 || !slices.Equal(got, want) {
		t.Errorf("got %v of %v, want %v of 100", got, n, want)
	}
	end[inf] = 106 // one beyond the largest bound
	if got, _ := bucketQuantiles(start, end, 100); got[0] != "> 10ms" {
		t.Errorf("beyond the largest bound: %v", got)
	}
	if _, n := bucketQuantiles(end, end, 50); n != 0 {
		t.Errorf("no new observation: %v", n)
	}
}

// machineLine is what a report says of the machine where /proc/stat tells
// it, and nothing elsewhere.
func machineLine() string {
	if runtime.GOOS != "linux" {
		return ""
	}
	return "  machine over the run: "
}
