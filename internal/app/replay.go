package app

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/config"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/rules"
)

// replayOptions configure one replay.
type replayOptions struct {
	Shards      int
	Lateness    time.Duration
	DedupWindow time.Duration
	BatchSize   int
	Rejects     io.Writer     // every rejection message, one a line; nil = only counted
	Progress    io.Writer     // periodic progress lines; nil = none
	Every       time.Duration // progress period
	// Config configures the detectors (nil: defaults); Rules are the rule
	// sources (nil: no rules).
	Config *config.Config
	Rules  []rules.Source
	// Reference, when set, is used instead of what Config names (the
	// bench and tests pass a simulated fleet's).
	Reference *reference
	// Sort reads the whole input, then processes it in event-time order
	// (stable): for files that are not in arrival order, such as
	// concatenated exports of several sources.
	Sort bool
}

// replaySummary is what a replay did.
type replaySummary struct {
	Read       int64
	Accepted   int64
	Rejected   map[string]int64 // by reason key
	Samples    []string         // the first rejection messages
	Engine     engine.Stats
	Manager    alert.ManagerStats
	AlertsOut  int64
	ByCategory map[string]int64 // alerts passed on, by category
	SlowRules  []rules.RuleMetrics
	// Pseudonymised counts the events pseudonymised before detection
	// (privacy on in the configuration, as the server's ingest does).
	Pseudonymised int64
	Elapsed       time.Duration
	WriteError    error
}

const maxRejectSamples = 5

// replay reads events from in, runs every built-in detector and writes one
// alert a line to out. A non-nil error means the input could not be read to
// its end; the summary is still filled in as far as it got.
func replay(ctx context.Context, in io.Reader, out io.Writer, o replayOptions) (*replaySummary, error) {
	sum := &replaySummary{Rejected: map[string]int64{}, ByCategory: map[string]int64{}}
	start := time.Now()
	bw := bufio.NewWriterSize(out, 256<<10)
	var buf []byte
	var sups []alert.Suppression
	if o.Config != nil {
		sups = o.Config.Suppressions
	}
	var clock engine.LateClock // set before the first event is pushed
	mgr := alert.NewManager(alert.ManagerOptions{Suppressions: sups, Clock: &clock, Out: func(a *alert.Alert, _ *alert.Incident) {
		buf = alert.AppendJSON(buf[:0], a)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil && sum.WriteError == nil {
			sum.WriteError = err
		}
		sum.AlertsOut++
		sum.ByCategory[a.Category.String()]++
	}})
	ref, err := loadReference(o.Config)
	if err != nil {
		return sum, err
	}
	if o.Reference != nil {
		ref = *o.Reference
	}
	// With privacy on in the configuration, detection sees pseudonyms, as
	// in the server: the events and the directory are pseudonymised with
	// the same key and settings, so the alerts name what the server's do.
	priv, err := replayPseudonymiser(o.Config, ref)
	if err != nil {
		return sum, err
	}
	if ref, err = pseudonymiseReference(ref, priv); err != nil {
		return sum, err
	}
	ds, err := newDetectorSet(o.Config, ref, o.Rules, nil)
	if err != nil {
		return sum, err
	}
	eng, err := engine.New(engine.Options{
		Shards: o.Shards, Lateness: o.Lateness, DedupWindow: o.DedupWindow, BatchSize: o.BatchSize,
		Detectors: ds.all,
		Filter:    ds.modes.Apply, // shadow alerts come out marked "shadow": true
		Alerts:    func(a *alert.Alert) { mgr.Add(a) },
	})
	if err != nil {
		return sum, err
	}
	clock.Set(eng)
	lim := event.Limits{}
	rd, err := event.NewReader(in, event.NewDecoder(lim))
	if err != nil {
		eng.Close()
		return sum, fmt.Errorf("cannot read input: %w", err)
	}
	defer rd.Close()

	// push hands events to the engine, with a flush every markEvery: the
	// markers move every shard's watermark, by which the alert manager
	// forgets, even on shards the events pass by.
	const markEvery = 1 << 16
	pushed := 0
	push := func(ev *event.Event) {
		eng.Push(ev)
		if pushed++; pushed%markEvery == 0 {
			eng.Flush()
		}
	}
	var readErr, privErr error
	var sorted []*event.Event // with Sort: the whole input, then in event-time order
	lastProgress := start
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	for c := range decodeInOrder(dctx, rd, lim) {
		if priv != nil && privErr == nil {
			for _, ev := range c.evs {
				if _, privErr = priv.Event(ev, nil); privErr != nil {
					stop() // the rest is read and dropped
					break
				}
			}
			sum.Pseudonymised += int64(len(c.evs))
		}
		if privErr != nil {
			continue
		}
		for _, re := range c.rejects {
			sum.Rejected[re.ReasonKey()]++
			if len(sum.Samples) < maxRejectSamples {
				sum.Samples = append(sum.Samples, re.Error())
			}
			if o.Rejects != nil {
				fmt.Fprintln(o.Rejects, re.Error())
			}
		}
		if o.Sort {
			sorted = append(sorted, c.evs...)
		} else {
			for _, ev := range c.evs {
				push(ev)
			}
		}
		sum.Accepted += int64(len(c.evs))
		if !c.more {
			eng.Flush() // the input is not keeping up: hand over what there is
		}
		if c.err != nil {
			readErr = c.err
		}
		if o.Progress != nil && time.Since(lastProgress) >= o.Every {
			lastProgress = time.Now()
			el := time.Since(start)
			fmt.Fprintf(o.Progress, "replay: %d events in %v (%.0f/s), %d alerts so far\n",
				sum.Accepted, el.Round(time.Second), float64(sum.Accepted)/el.Seconds(), mgr.Stats().Alerts)
		}
	}
	if o.Sort {
		slices.SortStableFunc(sorted, func(a, b *event.Event) int { return cmp.Compare(a.Time, b.Time) })
		for _, ev := range sorted {
			push(ev)
		}
	}
	eng.Close()
	if ds.set != nil {
		sum.SlowRules = ds.set.Slowest(5)
	}
	if err := bw.Flush(); err != nil && sum.WriteError == nil {
		sum.WriteError = err
	}
	sum.Elapsed = time.Since(start)
	sum.Engine = eng.Stats()
	sum.Manager = mgr.Stats()
	for _, n := range sum.Rejected {
		sum.Read += n
	}
	sum.Read += sum.Accepted
	if privErr != nil {
		return sum, fmt.Errorf("pseudonymising events (privacy in the configuration): %w", privErr)
	}
	if readErr != nil {
		return sum, fmt.Errorf("input unreadable after %d events: %w", sum.Read, readErr)
	}
	if sum.WriteError != nil {
		return sum, fmt.Errorf("writing alerts: %w", sum.WriteError)
	}
	return sum, nil
}

// print writes the summary for a person.
func (s *replaySummary) print(w io.Writer) {
	rejected := s.Read - s.Accepted
	fmt.Fprintf(w, "events read:        %d\n", s.Read)
	fmt.Fprintf(w, "  accepted:         %d\n", s.Accepted)
	fmt.Fprintf(w, "  rejected:         %d\n", rejected)
	for _, k := range sortedKeys(s.Rejected) {
		fmt.Fprintf(w, "    %-40s %d\n", k, s.Rejected[k])
	}
	for _, m := range s.Samples {
		fmt.Fprintf(w, "    e.g. %s\n", m)
	}
	if s.Pseudonymised > 0 {
		fmt.Fprintf(w, "  pseudonymised:    %d (privacy in the configuration: alerts name pseudonyms, as the server's do)\n", s.Pseudonymised)
	}
	fmt.Fprintf(w, "  duplicates:       %d (same tenant, source and id: processed once)\n", s.Engine.Duplicates)
	fmt.Fprintf(w, "  late:             %d (behind the watermark; processed and counted)\n", s.Engine.Late)
	if s.Engine.Future > 0 {
		fmt.Fprintf(w, "  far ahead:        %d (stamped too far ahead of the stream to move its clock; processed and counted)\n", s.Engine.Future)
	}
	fmt.Fprintf(w, "alerts:             %d (%d duplicates dropped), %d incidents\n", s.Manager.Alerts, s.Manager.Duplicates, s.Manager.Incidents)
	for reason, n := range s.Manager.Suppressed {
		fmt.Fprintf(w, "  suppressed:       %d (%s)\n", n, reason)
	}
	for _, c := range alert.Categories() {
		if n := s.ByCategory[c.String()]; n > 0 {
			fmt.Fprintf(w, "  %-22s %d\n", c.String()+":", n)
		}
	}
	if len(s.SlowRules) > 0 {
		fmt.Fprintln(w, "slowest rules:")
		for _, m := range s.SlowRules {
			fmt.Fprintf(w, "  %-44s %6.0f ns/eval  %d evaluations, %d alerts\n", m.ID, m.MeanNs, m.Evaluations, m.Alerts)
		}
	}
	secs := s.Elapsed.Seconds()
	fmt.Fprintf(w, "time:               %v, %.0f events/s\n", s.Elapsed.Round(time.Millisecond), float64(s.Read)/max(secs, 1e-9))
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

func runReplay(ctx context.Context, args []string, s stdio) error {
	fs := newFlags("replay [--in FILE|-] [--out FILE|-]",
		"Reads events (NDJSON, JSON arrays or single objects; gzip is detected) and runs every detector on event\n"+
			"time as fast as the machine allows. Alerts go to --out, one JSON object a line; a summary goes to stderr.\n"+
			"Rejected events are counted by reason; --rejects keeps every message. The exit code is 1 when the input\n"+
			"cannot be read to its end, 0 otherwise.\n\n"+
			"Example: vigil simulate --attacks all | vigil replay --out alerts.ndjson", s.err)
	in := fs.String("in", "-", "events to read: a file (.gz or not) or - for stdin")
	outPath := fs.String("out", "-", "where alerts go: a file or - for stdout")
	rejPath := fs.String("rejects", "", "write every rejected event's error here, one a line")
	shards := fs.Int("shards", 0, "shard goroutines (default: one per CPU)")
	lateness := fs.Duration("lateness", 30*time.Second, "how far behind the newest event time an event may arrive and still be on time")
	dedupWin := fs.Duration("dedup-window", time.Hour, "event-time span over which a resent (source, id) is recognised")
	quiet := fs.Bool("quiet", false, "print no summary")
	cfgPath := fs.String("config", "", "configuration file (detector settings, directory, rules); see docs/configuration.md")
	rulesDir := fs.String("rules", "", "directory of user rule files, run with the embedded rule pack")
	noRules := fs.Bool("no-rules", false, "built-in detectors only: no rule pack, no user rules")
	sortIn := fs.Bool("sort", false, "read the whole input first and process it in event-time order (for files not in arrival order, e.g. concatenated exports; holds the input in memory)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o := replayOptions{Shards: *shards, Lateness: *lateness, DedupWindow: *dedupWin, Every: 10 * time.Second, Sort: *sortIn}
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		o.Config = c
	}
	srcs, err := ruleSourcesFor(o.Config, *rulesDir, *noRules)
	if err != nil {
		return err
	}
	o.Rules = srcs
	var src io.Reader = s.in
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return fmt.Errorf("cannot read input: %w", err)
		}
		defer f.Close()
		src = f
	}
	var dst io.Writer = s.out
	if *outPath != "-" {
		f, err := os.Create(*outPath)
		if err != nil {
			return fmt.Errorf("cannot write alerts: %w", err)
		}
		defer f.Close()
		dst = f
	}
	if !*quiet {
		o.Progress = s.err
	}
	if *rejPath != "" {
		f, err := os.Create(*rejPath)
		if err != nil {
			return fmt.Errorf("cannot write rejects: %w", err)
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		o.Rejects = bw
	}
	sum, err := replay(ctx, src, dst, o)
	if !*quiet && sum != nil {
		var b strings.Builder
		sum.print(&b)
		fmt.Fprint(s.err, b.String())
	}
	return err
}
