package app

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/vigil-project/vigil/internal/config"
	"github.com/vigil-project/vigil/internal/sink"
	"github.com/vigil-project/vigil/internal/sink/kafka"
	"github.com/vigil-project/vigil/internal/sink/mqtt"
	"github.com/vigil-project/vigil/internal/sink/nats"
	"github.com/vigil-project/vigil/internal/sink/syslog"
	"github.com/vigil-project/vigil/internal/sink/webhook"
)

// sinkDrain bounds the delivery of stored alerts at shutdown; what is left
// stays in the store for the next start.
const sinkDrain = 10 * time.Second

// newSinks builds the configured sinks, following st (nil for
// check-config, which never runs them): secrets and TLS files are read
// now, so a mistake stops the start (and check-config) with the sink's
// name and line. Nothing connects until the first alert.
func newSinks(cfg *config.Config, st sink.Store, log *slog.Logger) (*sink.Set, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg == nil {
		return sink.NewSet(sink.SetOptions{Store: st, Drain: sinkDrain, Logger: log}), nil
	}
	env := sink.Env{Path: cfg.Path}
	var sinks []*sink.Sink
	for _, c := range cfg.Sinks {
		t, err := newTarget(c, env)
		if err != nil {
			for _, s := range sinks {
				s.Close()
			}
			return nil, fmt.Errorf("config: sink %s (line %d): %w", c.Name, c.Line, err)
		}
		sinks = append(sinks, sink.New(sink.Options{Config: c, Target: t, Logger: log}))
	}
	return sink.NewSet(sink.SetOptions{Store: st, Drain: sinkDrain, Logger: log, Sinks: sinks}), nil
}

func newTarget(c sink.Config, env sink.Env) (sink.Target, error) {
	switch c.Type {
	case sink.TypeWebhook:
		return webhook.New(c, env)
	case sink.TypeSyslog:
		return syslog.New(c, env)
	case sink.TypeNATS:
		return nats.New(c, env)
	case sink.TypeMQTT:
		return mqtt.New(c, env)
	case sink.TypeKafka:
		return kafka.New(c, env)
	}
	return nil, fmt.Errorf("no sink of type %q", c.Type)
}
