package app

import (
	"context"
	"errors"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/vigil-project/vigil/internal/clientconf"
	"github.com/vigil-project/vigil/internal/config"
	"github.com/vigil-project/vigil/internal/ingest/broker"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
	"github.com/vigil-project/vigil/internal/ingest/kafka"
	"github.com/vigil-project/vigil/internal/ingest/mqtt"
	"github.com/vigil-project/vigil/internal/ingest/natsjs"
)

// sources are the broker sources of the configuration (docs/ingest.md).
type sources struct {
	runs  []func(context.Context) error
	pipes []*broker.Pipeline
	kinds map[string]int // sources by broker, for check-config
}

// source is what every broker source does.
type source interface {
	Run(context.Context) error
	Check() error
}

// newSources builds every configured broker source on sink, the same
// durable (and pseudonymising) sink as HTTP ingest. Secrets and TLS files
// are read now, so a mistake stops the start (and check-config) with the
// source's name; nothing connects until Run.
func newSources(cfg *config.Config, sink httpingest.Sink, log *slog.Logger) (*sources, error) {
	s := &sources{kinds: map[string]int{}}
	add := func(kind string, src source, err error) error {
		if err == nil {
			err = src.Check()
		}
		if err != nil {
			return err
		}
		s.runs = append(s.runs, src.Run)
		s.kinds[kind]++
		return nil
	}
	if cfg == nil {
		return s, nil
	}
	env := clientconf.Env{Path: cfg.Path}
	pipe := func(name string, tenants []string) (*broker.Pipeline, error) {
		if sink == nil {
			return nil, nil // check-config: the sources are checked, never run
		}
		p, err := broker.New(broker.Options{Source: name, Sink: sink, Tenants: tenants, Logger: log})
		if err == nil {
			s.pipes = append(s.pipes, p)
		}
		return p, err
	}
	for _, c := range cfg.Ingest.MQTT {
		p, err := pipe(c.Name, c.Tenants)
		if err != nil {
			return nil, err
		}
		src, err := mqtt.New(c, p, env, log)
		if err := add("mqtt", src, err); err != nil {
			return nil, err
		}
	}
	for _, c := range cfg.Ingest.NATS {
		p, err := pipe(c.Name, c.Tenants)
		if err != nil {
			return nil, err
		}
		src, err := natsjs.New(c, p, env, log)
		if err := add("nats", src, err); err != nil {
			return nil, err
		}
	}
	for _, c := range cfg.Ingest.Kafka {
		p, err := pipe(c.Name, c.Tenants)
		if err != nil {
			return nil, err
		}
		src, err := kafka.New(c, p, env, log)
		if err := add("kafka", src, err); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Collector exposes the sources' counters.
func (s *sources) Collector() *broker.Collector { return broker.NewCollector(s.pipes...) }

// Run runs every source until ctx ends; what they had not stored stays
// with the brokers, unacknowledged.
func (s *sources) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, run := range s.runs {
		g.Go(func() error {
			if err := run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	return g.Wait()
}
