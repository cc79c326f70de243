// Package natsjs is the NATS JetStream source: a durable pull consumer on a
// stream, each message acknowledged only once its events are durable in
// vigil's store, so JetStream re-delivers whatever vigil had not stored.
//
// Messages follow the CloudEvents NATS binding: structured mode (the payload
// is the event, or a batch/NDJSON of events) and binary mode (attributes in
// ce- headers, Content-Type as datacontenttype, the payload as data).
package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-project/vigil/internal/clientconf"
	"github.com/vigil-project/vigil/internal/ingest/broker"
)

// Config is one JetStream source.
type Config struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"` // nats://host:4222 or tls://host:4222
	// Stream must exist (vigil does not create or change the TSP's
	// streams); Consumer is the durable consumer vigil creates on it.
	Stream   string   `yaml:"stream"`
	Consumer string   `yaml:"consumer"`
	Subjects []string `yaml:"subjects"` // filter; empty: the whole stream
	// Credentials: a .creds file (JWT + NKey), or a token, or a user with
	// a password; secrets from a file or an environment variable.
	CredsFile    string         `yaml:"creds_file"`
	TokenFile    string         `yaml:"token_file"`
	TokenEnv     string         `yaml:"token_env"`
	User         string         `yaml:"user"`
	PasswordFile string         `yaml:"password_file"`
	PasswordEnv  string         `yaml:"password_env"`
	TLS          clientconf.TLS `yaml:"tls"`
	Tenants      []string       `yaml:"tenants"`
	AckWait      time.Duration  `yaml:"ack_wait"` // before JetStream delivers again; default 60s
}

// Validate checks the configuration without connecting.
func (c *Config) Validate() error {
	if c.Name == "" {
		return errors.New("nats source: name is empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("nats source %s: url %q is not nats://host:port or tls://host:port", c.Name, c.URL)
	}
	switch u.Scheme {
	case "nats":
	case "tls":
		c.TLS.Enable = true
	default:
		return fmt.Errorf("nats source %s: url scheme %q: use nats:// or tls://", c.Name, u.Scheme)
	}
	if c.Stream == "" || c.Consumer == "" {
		return fmt.Errorf("nats source %s: stream and consumer are both needed", c.Name)
	}
	if strings.ContainsAny(c.Consumer, ".*> \t") {
		return fmt.Errorf("nats source %s: consumer %q may not contain '.', '*', '>' or spaces", c.Name, c.Consumer)
	}
	n := 0
	for _, f := range []string{c.CredsFile, c.TokenFile + c.TokenEnv, c.User} {
		if f != "" {
			n++
		}
	}
	if n > 1 || (c.TokenFile != "" && c.TokenEnv != "") || (c.PasswordFile != "" && c.PasswordEnv != "") {
		return fmt.Errorf("nats source %s: give one of creds_file, token_file or token_env, or user with password_file or password_env", c.Name)
	}
	if (c.User == "") != (c.PasswordFile == "" && c.PasswordEnv == "") {
		return fmt.Errorf("nats source %s: user and password_file (or password_env) go together", c.Name)
	}
	if len(c.Tenants) == 0 {
		return fmt.Errorf("nats source %s: tenants is empty: list the tenants it may carry, or [\"*\"]", c.Name)
	}
	if c.AckWait < 0 || (c.AckWait > 0 && c.AckWait < time.Second) {
		return fmt.Errorf("nats source %s: ack_wait %s is below 1s", c.Name, c.AckWait)
	}
	return nil
}

// Source reads one durable consumer into a pipeline.
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

// Ready reports whether the consumer exists and is being read.
func (s *Source) Ready() bool { return s.ready.Load() }

func (s *Source) options() ([]nats.Option, error) {
	opts := []nats.Option{nats.Name("vigil " + s.c.Name), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second)}
	if !s.c.TLS.IsZero() {
		u, _ := url.Parse(s.c.URL)
		tlsCfg, err := s.env.TLSConfig(s.c.TLS, u.Hostname())
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tlsCfg))
	}
	switch {
	case s.c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(s.env.File(s.c.CredsFile)))
	case s.c.TokenFile != "" || s.c.TokenEnv != "":
		tok, err := s.env.Secret("token", s.c.TokenFile, s.c.TokenEnv)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Token(string(tok)))
	case s.c.User != "":
		pw, err := s.env.Secret("password", s.c.PasswordFile, s.c.PasswordEnv)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserInfo(s.c.User, string(pw)))
	}
	return opts, nil
}

// Run reads until ctx ends.
func (s *Source) Run(ctx context.Context) error {
	opts, err := s.options()
	if err != nil {
		return fmt.Errorf("nats source %s: %w", s.c.Name, err)
	}
	nc, err := nats.Connect(s.c.URL, opts...)
	if err != nil {
		return fmt.Errorf("nats source %s: connecting to %s: %w", s.c.Name, s.c.URL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats source %s: %w", s.c.Name, err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.pipe.Run(runCtx) }()

	var cons jetstream.Consumer
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		cons, err = s.consumer(runCtx, js)
		if err == nil {
			break
		}
		s.log.Warn("nats source cannot open its consumer: retrying", "source", s.c.Name, "stream", s.c.Stream, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		}
	}
	s.ready.Store(true)
	defer s.ready.Store(false)
	s.log.Info("nats source reading", "source", s.c.Name, "stream", s.c.Stream, "consumer", s.c.Consumer)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		default:
		}
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.Warn("nats fetch failed: retrying", "source", s.c.Name, "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		for msg := range batch.Messages() {
			if err := s.pipe.Submit(runCtx, message(msg)); err != nil {
				return ctx.Err()
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			s.log.Warn("nats fetch ended with an error", "source", s.c.Name, "err", err)
		}
	}
}

func (s *Source) consumer(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	st, err := js.Stream(ctx, s.c.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", s.c.Stream, err)
	}
	wait := s.c.AckWait
	if wait == 0 {
		wait = 60 * time.Second
	}
	return st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:        s.c.Consumer,
		Description:    "vigil source " + s.c.Name,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        wait,
		FilterSubjects: s.c.Subjects,
		MaxAckPending:  20_000,
	})
}

// Check reads what the source needs (TLS files, credentials) without
// connecting, so a mistake stops the start, not a running server.
func (s *Source) Check() error {
	if _, err := s.options(); err != nil {
		return fmt.Errorf("nats source %s: %w", s.c.Name, err)
	}
	return nil
}

// message turns a JetStream message into a pipeline message whose Ack
// acknowledges it.
func message(msg jetstream.Msg) broker.Message {
	m := broker.Message{Payload: msg.Data(), Origin: "subject " + msg.Subject(), Ack: msg.Ack}
	if md, err := msg.Metadata(); err == nil {
		m.Origin = fmt.Sprintf("stream %s sequence %d", md.Stream, md.Sequence.Stream)
	}
	h := msg.Headers()
	m.ContentType = h.Get("Content-Type")
	for k, vs := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "ce-") || len(vs) == 0 {
			continue
		}
		if m.Attrs == nil {
			m.Attrs = map[string]string{}
		}
		m.Attrs[strings.TrimPrefix(lk, "ce-")] = vs[0]
	}
	return m
}
