package app

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

const simulateSynopsis = "Simulates a connected-car fleet — trips, telemetry, remote commands, logins, API reads, SMS,\n" +
	"firmware campaigns, IDS reports — and writes its events as NDJSON in arrival order (each event's\n" +
	"\"time\" is its event time; arrivals lag by up to --jitter). --attacks injects labelled attacks of\n" +
	"the alert categories into that traffic; --labels writes what was injected, one JSON object a line.\n" +
	"The same flags always give the same bytes. A summary goes to stderr.\n\n" +
	"Examples:\n" +
	"  vigil simulate --vehicles 2000 --duration 6h --attacks all | vigil replay\n" +
	"  vigil simulate --seed 7 --vehicles 10000 --attacks credential-attack,mass-command --out day.ndjson.gz --labels day.labels.ndjson"

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("simulate [flags]", simulateSynopsis, stderr)
	seed := fs.Int64("seed", 1, "random seed: the same seed and flags give the same stream")
	vehicles := fs.Int("vehicles", 1000, "fleet size, 1 to 2000000 (e.g. --vehicles 10000)")
	duration := fs.Duration("duration", 24*time.Hour, "simulated span (e.g. --duration 6h, --duration 168h for a week)")
	start := fs.String("start", "2026-03-02T00:00:00Z", "event time of the first event, RFC 3339 (a Monday by default)")
	tenants := fs.Int("tenants", 2, "number of tenants, named fleet-a, fleet-b, …")
	attacks := fs.String("attacks", "none", `attacks to inject: "all", "none" or a comma list of categories (e.g. --attacks mass-command,sms-spoofing)`)
	perCategory := fs.Int("attacks-per-category", 3, "instances of each requested category, spread over the span")
	interval := fs.Duration("telemetry-interval", 10*time.Second, "telemetry period while driving; parked vehicles send a heartbeat every ~15 min")
	jitter := fs.Duration("jitter", 2*time.Second, "largest network delay between event time and arrival; 0 for events in time order")
	outPath := fs.String("out", "-", `where events go: a file ("*.gz" is gzipped) or - for stdout (e.g. --out day.ndjson.gz)`)
	labelsPath := fs.String("labels", "", "write the labels of the injected attacks here, one JSON object a line (e.g. --labels labels.ndjson)")
	quiet := fs.Bool("quiet", false, "print no summary")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := simulateConfig(*seed, *vehicles, *duration, *start, *tenants, *attacks, *perCategory, *interval, *jitter)
	if err != nil {
		return err
	}
	s, err := sim.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	out, closeOut, err := openOutput(*outPath, stdout)
	if err != nil {
		return err
	}
	var labels *bufio.Writer
	var labelFile *os.File
	if *labelsPath != "" {
		if labelFile, err = os.Create(*labelsPath); err != nil {
			closeOut()
			return fmt.Errorf("cannot write labels: %w", err)
		}
		labels = bufio.NewWriter(labelFile)
	}

	began := time.Now()
	var line []byte
	err = s.Run(ctx, func(e *event.Event) error {
		line = append(event.AppendJSON(line[:0], e), '\n')
		_, err := out.Write(line)
		return err
	}, func(l sim.Label) error {
		if labels == nil {
			return nil
		}
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		_, err = labels.Write(append(b, '\n'))
		return err
	})
	elapsed := time.Since(began)
	if cerr := closeOut(); err == nil && cerr != nil {
		err = fmt.Errorf("cannot write events: %w", cerr)
	}
	if labels != nil {
		ferr := labels.Flush()
		if cerr := labelFile.Close(); ferr == nil {
			ferr = cerr
		}
		if err == nil && ferr != nil {
			err = fmt.Errorf("cannot write labels: %w", ferr)
		}
	}
	if !*quiet {
		printSimulateSummary(stderr, cfg, s.Stats(), elapsed)
	}
	return err
}

// simulateConfig checks the flags and builds the simulator's Config. Zero
// means "default" in sim.Config, so explicit zeros are refused here.
func simulateConfig(seed int64, vehicles int, duration time.Duration, start string, tenants int, attacks string,
	perCategory int, interval, jitter time.Duration) (sim.Config, error) {
	positive := []struct {
		flag string
		ok   bool
	}{
		{"--vehicles must be at least 1", vehicles > 0},
		{"--duration must be positive", duration > 0},
		{"--tenants must be at least 1", tenants > 0},
		{"--attacks-per-category must be at least 1", perCategory > 0},
		{"--telemetry-interval must be positive", interval > 0},
		{"--jitter must not be negative", jitter >= 0},
	}
	for _, p := range positive {
		if !p.ok {
			return sim.Config{}, fmt.Errorf("%w: %s", errUsage, p.flag)
		}
	}
	t0, err := time.Parse(time.RFC3339, start)
	if err != nil {
		return sim.Config{}, fmt.Errorf("%w: --start must be an RFC 3339 time such as 2026-03-02T00:00:00Z, got %q", errUsage, start)
	}
	cats, err := parseAttacks(attacks)
	if err != nil {
		return sim.Config{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if jitter == 0 {
		jitter = time.Nanosecond // the simulator's zero means its default; a nanosecond reorders nothing
	}
	cfg := sim.Config{Seed: seed, Vehicles: vehicles, Start: t0.UTC(), Duration: duration, Tenants: tenants,
		Attacks: cats, AttacksPerCategory: perCategory, TelemetryInterval: interval, Jitter: jitter}
	if err := cfg.Validate(); err != nil {
		return sim.Config{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	return cfg, nil
}

// parseAttacks reads "all", "none" or a comma list of category names.
func parseAttacks(s string) ([]alert.Category, error) {
	switch strings.TrimSpace(s) {
	case "", "none":
		return nil, nil
	case "all":
		return alert.Categories(), nil
	}
	var out []alert.Category
	seen := map[alert.Category]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		c, ok := alert.ParseCategory(name)
		if !ok {
			valid := make([]string, 0, len(alert.Categories()))
			for _, c := range alert.Categories() {
				valid = append(valid, c.String())
			}
			return nil, fmt.Errorf(`unknown attack category %q; use "all", "none" or a comma list of: %s`, name, strings.Join(valid, ", "))
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// openOutput returns a buffered writer for path ("-" is stdout; ".gz"
// compresses) and the function that flushes and closes it.
func openOutput(path string, stdout io.Writer) (io.Writer, func() error, error) {
	const bufSize = 1 << 20
	if path == "-" {
		w := bufio.NewWriterSize(stdout, bufSize)
		return w, w.Flush, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot write events: %w", err)
	}
	if !strings.HasSuffix(path, ".gz") {
		w := bufio.NewWriterSize(f, bufSize)
		return w, func() error { return errors.Join(w.Flush(), f.Close()) }, nil
	}
	z, _ := gzip.NewWriterLevel(f, gzip.BestSpeed) // the level is valid; default compression would triple the run time
	w := bufio.NewWriterSize(z, bufSize)
	return w, func() error { return errors.Join(w.Flush(), z.Close(), f.Close()) }, nil
}

func printSimulateSummary(w io.Writer, c sim.Config, st sim.Stats, elapsed time.Duration) {
	var b strings.Builder
	fmt.Fprintf(&b, "simulated %d vehicles, %d tenants, %s from %s (seed %d)\n",
		c.Vehicles, c.Tenants, c.Duration, c.Start.Format(time.RFC3339), c.Seed)
	fmt.Fprintf(&b, "events:             %d in %v, %.0f events/s generated and written\n", st.Events, elapsed.Round(time.Millisecond),
		float64(st.Events)/max(elapsed.Seconds(), 1e-9))
	for _, t := range event.Types() {
		if n := st.ByType[t]; n > 0 {
			fmt.Fprintf(&b, "  %-20s %d\n", t.String()+":", n)
		}
	}
	if len(c.Attacks) > 0 {
		fmt.Fprintln(&b, "attacks:")
		for _, cat := range alert.Categories() {
			n, missed := st.Attacks[cat], st.Missed[cat]
			switch {
			case missed > 0:
				fmt.Fprintf(&b, "  %-22s %d (%d found no target)\n", cat.String()+":", n, missed)
			case n > 0:
				fmt.Fprintf(&b, "  %-22s %d\n", cat.String()+":", n)
			}
		}
	}
	fmt.Fprint(w, b.String())
}
