package rules

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Reloader keeps a Detector's rules in step with their files: it polls the
// sources' directory listings (name, size, modification time of each rule
// file) and, when they change, compiles the sources again. A set that
// compiles replaces the one in force atomically; one that does not is
// reported (file, line, reason) and the previous set stays in force until
// the files change again. Polling needs no platform notification API and
// costs one directory read per source and interval.
//
// What a reload keeps: the correlation state (open counts, sequences,
// absence windows) and the metrics of every rule whose matching did not
// change (same condition after expansion, event types, tenants,
// correlation parameters and named rules); the state of changed and
// removed rules is dropped. Each shard switches at its next event.
type Reloader struct {
	Detector *Detector
	Sources  []Source // the same sources, in the same order, as the set in force was compiled from
	Limits   Limits
	Interval time.Duration // default 2s
	Logger   *slog.Logger

	mu      sync.Mutex
	stamp   string
	lastErr error
	loads   int
}

// Prime records the current state of the files as the one the detector's
// set was compiled from, so the first Check does not reload it again.
func (r *Reloader) Prime() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.stampOf()
	r.stamp = s
	return err
}

// Check reloads when the files changed since the last Check (or Prime). It
// reports whether a new set was put in force, and the error of a reload
// that failed.
func (r *Reloader) Check() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.stampOf()
	if err != nil {
		return false, err
	}
	if s == r.stamp {
		return false, nil
	}
	r.stamp = s
	set, err := Compile(r.Limits, r.Sources...)
	if err == nil {
		err = r.Detector.Swap(set)
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err != nil {
		r.lastErr = err
		if le, ok := err.(*LoadError); ok {
			for _, p := range le.Problems {
				if p.Level == LevelError {
					log.Error("rule does not load; the previous rules stay in force", "problem", p.String())
				}
			}
		} else {
			log.Error("rules do not load; the previous rules stay in force", "err", err)
		}
		return false, err
	}
	r.lastErr = nil
	r.loads++
	log.Info("rules reloaded", "rules", set.Len(), "warnings", len(set.Warnings()))
	return true, nil
}

// LastError returns the error of the last reload, nil when it succeeded.
func (r *Reloader) LastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// Run checks every Interval until ctx is done.
func (r *Reloader) Run(ctx context.Context) error {
	iv := r.Interval
	if iv <= 0 {
		iv = 2 * time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.Check() // errors are logged and kept in LastError
		}
	}
}

// stampOf describes the rule files of every source.
func (r *Reloader) stampOf() (string, error) {
	var b strings.Builder
	for _, s := range r.Sources {
		entries, err := fs.ReadDir(s.FS, ".")
		if err != nil {
			return "", fmt.Errorf("rules: cannot read %s: %w", s.Name, err)
		}
		fmt.Fprintf(&b, "%s\x00", s.Name)
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // removed while listing: the next check sees it gone
			}
			fmt.Fprintf(&b, "%s\x00%d\x00%d\x00", n, info.Size(), info.ModTime().UnixNano())
		}
	}
	return b.String(), nil
}
