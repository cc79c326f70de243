package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

func runDemo(ctx context.Context, args []string, s stdio) error {
	fs := newFlags("demo",
		"Starts vigil serve and streams a simulated fleet under attack into it over HTTP, in accelerated real\n"+
			"time, printing alerts as they arrive. A first look at vigil: alerts appear within a minute.\n\n"+
			"Example: vigil demo --vehicles 2000 --speed 600", s.err)
	listen := fs.String("listen", defaultListen, "address for the server")
	dataDir := fs.String("data-dir", "", "keep the store here (default: a temporary directory removed at exit)")
	vehicles := fs.Int("vehicles", 2000, "simulated fleet size")
	speed := fs.Float64("speed", 600, "simulated seconds per real second")
	duration := fs.Duration("duration", 24*time.Hour, "simulated span")
	seed := fs.Int64("seed", 1, "simulation seed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *speed <= 0 || *speed > 1e6 {
		return fmt.Errorf("%w: --speed must be above 0 and at most 1000000", errUsage)
	}
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "vigil-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	log := slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ready := make(chan *server, 1)
	var base string
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- serve(ctx, serveOptions{Listen: *listen, DataDir: dir, Logger: log, KeyOut: io.Discard,
			Ready: func(b string, srv *server) { base = b; ready <- srv }})
	}()
	var srv *server
	select {
	case srv = <-ready:
	case err := <-serveErr:
		return err
	}
	adminKey, _, err := srv.auth.Create(ctx, "admin", []string{"*"}, "demo admin")
	if err != nil {
		return err
	}
	ingestKey, _, err := srv.auth.Create(ctx, "ingest", []string{"*"}, "demo simulator")
	if err != nil {
		return err
	}
	// A console user with a random password: the demo has no default
	// credential either, only ones made for this run and shown once.
	password := demoPassword()
	if _, err := srv.auth.CreateUser(ctx, "analyst", "admin", []string{"*"}, password); err != nil {
		return fmt.Errorf("creating the demo's console user: %w", err)
	}
	fmt.Fprintf(s.out, "vigil demo: server at %s (store in %s)\n", base, dir)
	fmt.Fprintf(s.out, "analyst console: %s/console/  sign in as \"analyst\" with password %s (this run only)\n", base, password)
	fmt.Fprintf(s.out, "admin API key (this run only): %s\n", adminKey)
	fmt.Fprintf(s.out, "  try: curl -H 'Authorization: Bearer %s' '%s/v1/alerts?limit=5'\n\n", adminKey, base)
	fmt.Fprintf(s.out, "streaming %d simulated vehicles at %gx real time, with attacks of every category; alerts:\n\n", *vehicles, *speed)

	sm, err := sim.New(sim.Config{Seed: *seed, Vehicles: *vehicles, Duration: *duration, Attacks: alert.Categories()})
	if err != nil {
		return err
	}
	feedErr := make(chan error, 1)
	go func() { feedErr <- feed(ctx, sm, base, ingestKey, *speed) }()
	watchErr := make(chan error, 1)
	go func() { watchErr <- watchAlerts(ctx, base, adminKey, s.out) }()
	select {
	case err := <-feedErr:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("streaming the simulation: %w", err)
		}
		fmt.Fprintf(s.out, "\nsimulation finished; the server keeps running at %s until Ctrl-C\n", base)
		<-ctx.Done()
	case <-ctx.Done():
	case err := <-serveErr:
		return err
	}
	cancel()
	return nil
}

// demoPassword is 100 random bits, in groups a person can type.
func demoPassword() string {
	var b [13]byte
	rand.Read(b[:])
	p := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))[:20]
	return p[:5] + "-" + p[5:10] + "-" + p[10:15] + "-" + p[15:20]
}

// feed posts the simulator's events to the ingest endpoint as NDJSON
// batches, paced so that event time runs speed times faster than real time.
func feed(ctx context.Context, sm *sim.Simulator, base, key string, speed float64) error {
	start := time.Now()
	var first int64
	var buf bytes.Buffer
	var b []byte
	n := 0
	lastPost := time.Now()
	post := func() error {
		if n == 0 {
			return nil
		}
		for {
			req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/events", bytes.NewReader(buf.Bytes()))
			req.Header.Set("Content-Type", "application/x-ndjson")
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("ingest answered %s", resp.Status)
			}
			break
		}
		buf.Reset()
		n = 0
		lastPost = time.Now()
		return nil
	}
	err := sm.Run(ctx, func(ev *event.Event) error {
		if first == 0 {
			first = ev.Time
		}
		due := start.Add(time.Duration(float64(ev.Time-first) / speed))
		if d := time.Until(due); d > 0 {
			if err := post(); err != nil {
				return err
			}
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		b = append(event.AppendJSON(b[:0], ev), '\n')
		buf.Write(b)
		n++
		if n >= 1000 || time.Since(lastPost) > 200*time.Millisecond {
			return post()
		}
		return nil
	}, func(sim.Label) error { return nil })
	if err != nil {
		return err
	}
	return post()
}

// watchAlerts prints new alerts as they are stored.
func watchAlerts(ctx context.Context, base, key string, out io.Writer) error {
	seen := map[string]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/alerts?limit=100", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var page struct {
			Alerts []struct {
				ID, Time, Severity, Category, Title, Explanation string
			} `json:"alerts"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			continue
		}
		for i := len(page.Alerts) - 1; i >= 0; i-- {
			a := page.Alerts[i]
			if seen[a.ID] {
				continue
			}
			seen[a.ID] = true
			fmt.Fprintf(out, "%s  %-8s %-22s %s\n    %s\n", a.Time, strings.ToUpper(a.Severity), a.Category, a.Title, a.Explanation)
		}
	}
}
