// Package kafka is the Kafka source: a consumer group on the TSP's topics
// that commits a record's offset only once its events are durable in
// vigil's store, so a crash or a rebalance re-delivers whatever vigil had
// not stored.
//
// Records follow the CloudEvents Kafka binding: structured mode (the value
// is the event, or a batch/NDJSON of events) and binary mode (attributes in
// ce_ headers, content-type as datacontenttype, the value as data).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/vigil-project/vigil/internal/clientconf"
	"github.com/vigil-project/vigil/internal/ingest/broker"
)

// Config is one Kafka source.
type Config struct {
	Name    string         `yaml:"name"`
	Brokers []string       `yaml:"brokers"` // host:port seeds
	Topics  []string       `yaml:"topics"`
	Group   string         `yaml:"group"` // consumer group; its committed offsets are vigil's position
	TLS     clientconf.TLS `yaml:"tls"`
	SASL    SASL           `yaml:"sasl"`
	Tenants []string       `yaml:"tenants"`
}

// SASL authenticates to the brokers.
type SASL struct {
	Mechanism    string `yaml:"mechanism"` // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	User         string `yaml:"user"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

// Validate checks the configuration without connecting.
func (c *Config) Validate() error {
	if c.Name == "" {
		return errors.New("kafka source: name is empty")
	}
	if len(c.Brokers) == 0 {
		return fmt.Errorf("kafka source %s: brokers is empty", c.Name)
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("kafka source %s: broker %q is not host:port", c.Name, b)
		}
	}
	if len(c.Topics) == 0 {
		return fmt.Errorf("kafka source %s: topics is empty", c.Name)
	}
	if c.Group == "" {
		return fmt.Errorf("kafka source %s: group is empty: the consumer group keeps vigil's position", c.Name)
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
		if c.SASL.User != "" || c.SASL.PasswordFile != "" || c.SASL.PasswordEnv != "" {
			return fmt.Errorf("kafka source %s: sasl.user given without sasl.mechanism", c.Name)
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASL.User == "" || (c.SASL.PasswordFile == "") == (c.SASL.PasswordEnv == "") {
			return fmt.Errorf("kafka source %s: sasl needs user and one of password_file or password_env", c.Name)
		}
		if strings.ToUpper(c.SASL.Mechanism) == "PLAIN" && c.TLS.IsZero() {
			return fmt.Errorf("kafka source %s: SASL PLAIN without TLS sends the password in clear: enable tls", c.Name)
		}
	default:
		return fmt.Errorf("kafka source %s: sasl.mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.Name, c.SASL.Mechanism)
	}
	if len(c.Tenants) == 0 {
		return fmt.Errorf("kafka source %s: tenants is empty: list the tenants it may carry, or [\"*\"]", c.Name)
	}
	return nil
}

// Source reads one consumer group into a pipeline.
type Source struct {
	c     Config
	pipe  *broker.Pipeline
	env   clientconf.Env
	log   *slog.Logger
	ready atomic.Bool
}

// New returns a source; start it with Run.
func New(c Config, pipe *broker.Pipeline, env clientconf.Env, log *slog.Logger) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{c: c, pipe: pipe, env: env, log: log}, nil
}

// Ready reports whether the source has polled its brokers once.
func (s *Source) Ready() bool { return s.ready.Load() }

func (s *Source) options() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(s.c.Brokers...),
		kgo.ClientID("vigil"),
		kgo.ConsumerGroup(s.c.Group),
		kgo.ConsumeTopics(s.c.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // a new group reads what the topic still holds
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),    // offsets are committed after the durable write
		kgo.BlockRebalanceOnPoll(), // a rebalance waits until the polled records are stored and committed
	}
	if !s.c.TLS.IsZero() {
		// "" lets the client verify each broker's own host name.
		tlsCfg, err := s.env.TLSConfig(s.c.TLS, "")
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	if s.c.SASL.Mechanism != "" {
		secret, err := s.env.Secret("sasl.password", s.c.SASL.PasswordFile, s.c.SASL.PasswordEnv)
		if err != nil {
			return nil, err
		}
		pw := string(secret)
		var m sasl.Mechanism
		switch strings.ToUpper(s.c.SASL.Mechanism) {
		case "PLAIN":
			m = plain.Auth{User: s.c.SASL.User, Pass: pw}.AsMechanism()
		case "SCRAM-SHA-256":
			m = scram.Auth{User: s.c.SASL.User, Pass: pw}.AsSha256Mechanism()
		case "SCRAM-SHA-512":
			m = scram.Auth{User: s.c.SASL.User, Pass: pw}.AsSha512Mechanism()
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// Run reads until ctx ends.
func (s *Source) Run(ctx context.Context) error {
	opts, err := s.options()
	if err != nil {
		return fmt.Errorf("kafka source %s: %w", s.c.Name, err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka source %s: %w", s.c.Name, err)
	}
	defer cl.Close()
	// Leaving the group waits for a rebalance that a poll still blocks.
	defer cl.AllowRebalance()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.pipe.Run(runCtx) }()
	for {
		fetches := cl.PollRecords(runCtx, 1000)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.ready.Store(true)
		fetches.EachError(func(topic string, partition int32, err error) {
			s.log.Warn("kafka fetch failed: retrying", "source", s.c.Name, "topic", topic, "partition", partition, "err", err)
		})
		recs := fetches.Records()
		if err := s.store(runCtx, recs, errc); err != nil {
			return err
		}
		if len(recs) > 0 {
			if err := cl.CommitRecords(runCtx, recs...); err != nil && ctx.Err() == nil {
				// The records are stored; uncommitted, they come again
				// after a restart and are dropped as duplicates.
				s.log.Warn("kafka commit failed", "source", s.c.Name, "err", err)
			}
		}
		cl.AllowRebalance()
	}
}

// store hands the records to the pipeline and waits until every one is
// durable (acknowledged).
func (s *Source) store(ctx context.Context, recs []*kgo.Record, errc <-chan error) error {
	if len(recs) == 0 {
		return nil
	}
	acked := make(chan struct{}, len(recs)) // buffered: an Ack never blocks the pipeline
	for _, r := range recs {
		m := message(r)
		m.Ack = func() error { acked <- struct{}{}; return nil }
		if err := s.pipe.Submit(ctx, m); err != nil {
			return err
		}
	}
	for left := len(recs); ; {
		select {
		case <-acked:
			if left--; left == 0 {
				return nil
			}
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Minute):
			s.log.Warn("kafka records still waiting for the store", "source", s.c.Name, "records", len(recs))
		}
	}
}

// Check reads what the source needs (TLS files, credentials) without
// connecting, so a mistake stops the start, not a running server.
func (s *Source) Check() error {
	if _, err := s.options(); err != nil {
		return fmt.Errorf("kafka source %s: %w", s.c.Name, err)
	}
	return nil
}

// message turns a record into a pipeline message.
func message(r *kgo.Record) broker.Message {
	m := broker.Message{Payload: r.Value, Origin: fmt.Sprintf("topic %s partition %d offset %d", r.Topic, r.Partition, r.Offset)}
	for _, h := range r.Headers {
		k := strings.ToLower(h.Key)
		switch {
		case k == "content-type":
			m.ContentType = string(h.Value)
		case strings.HasPrefix(k, "ce_"):
			if m.Attrs == nil {
				m.Attrs = map[string]string{}
			}
			m.Attrs[strings.TrimPrefix(k, "ce_")] = string(h.Value)
		}
	}
	return m
}
