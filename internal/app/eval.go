package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/sim"
	"github.com/vigil-project/vigil/internal/sim/eval"
)

func runEval(ctx context.Context, args []string, s stdio) error {
	fs := newFlags("eval",
		"Runs the simulator with every attack category mixed into benign traffic, once per seed, runs every\n"+
			"detector over each stream and prints per category: recall, precision, median and worst detection\n"+
			"delay (event time from the attack's first event to the first alert), and the false alerts per million\n"+
			"benign events. An attack counts as detected when an alert of its category names one of its entities\n"+
			"within its time span plus --grace. Alerts that point at an attack of another category are counted as\n"+
			"related, not false. With --check the exit code is 1 when a goal is missed.\n\n"+
			"Example: vigil eval --seeds 101,202,303 --vehicles 10000 --duration 24h", s.err)
	seeds := fs.String("seeds", "101,202,303", "comma-separated simulation seeds (use seeds not used while tuning)")
	o := eval.Options{}
	fs.IntVar(&o.Vehicles, "vehicles", 10_000, "fleet size per seed")
	fs.DurationVar(&o.Duration, "duration", 24*time.Hour, "simulated span per seed")
	fs.IntVar(&o.AttacksPerCategory, "attacks-per-category", 10, "attacks of each category per seed")
	fs.DurationVar(&o.Grace, "grace", 10*time.Minute, "how long after an attack's end an alert still counts")
	fs.IntVar(&o.Shards, "shards", 0, "engine shards (default: one per CPU)")
	check := fs.Bool("check", false, "exit 1 when a goal is missed")
	noRules := fs.Bool("no-rules", false, "built-in detectors only: leave out the embedded rule pack")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, f := range strings.Split(*seeds, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: --seeds: %q is not an integer", errUsage, f)
		}
		o.Seeds = append(o.Seeds, n)
	}
	srcs, err := ruleSourcesFor(nil, "", *noRules)
	if err != nil {
		return err
	}
	o.Detectors = func(sm *sim.Simulator) ([]detect.Detector, error) {
		ds, err := newDetectorSet(nil, referenceFromSim(sm), srcs, nil)
		if err != nil {
			return nil, err
		}
		return ds.all, nil
	}
	o.Progress = s.err
	rep, err := eval.Run(ctx, o)
	if err != nil {
		return err
	}
	rep.Print(s.out)
	if *check {
		if m := rep.Misses(); len(m) > 0 {
			return fmt.Errorf("%d goal(s) missed: %s", len(m), strings.Join(m, "; "))
		}
	}
	return nil
}
