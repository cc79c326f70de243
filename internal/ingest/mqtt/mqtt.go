// Package mqtt is the MQTT source: it subscribes to topics on an MQTT 5
// broker with QoS 1 and a persistent session, and acknowledges each message
// (PUBACK) only once its events are durable, so the broker keeps and
// re-delivers whatever vigil had not stored when it stopped or crashed.
//
// Messages follow the CloudEvents MQTT binding: structured mode (the
// payload is the event, or a batch/NDJSON of events) and MQTT 5 binary mode
// (attributes as user properties, the content type property as
// datacontenttype, the payload as data).
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/vigil-project/vigil/internal/clientconf"
	"github.com/vigil-project/vigil/internal/ingest/broker"
)

// Config is one MQTT source.
type Config struct {
	Name   string   `yaml:"name"`
	URL    string   `yaml:"url"` // mqtt://host:1883 or mqtts://host:8883
	Topics []string `yaml:"topics"`
	// ClientID identifies the persistent session at the broker: keep it
	// stable, or messages waiting in the old session are not delivered.
	ClientID     string         `yaml:"client_id"`
	Username     string         `yaml:"username"`
	PasswordFile string         `yaml:"password_file"`
	PasswordEnv  string         `yaml:"password_env"`
	TLS          clientconf.TLS `yaml:"tls"`
	Tenants      []string       `yaml:"tenants"`
	// SessionExpiry is how long the broker keeps the session (and the
	// messages for it) while vigil is away; default 24h.
	SessionExpiry time.Duration `yaml:"session_expiry"`
}

// Validate checks the configuration without connecting.
func (c *Config) Validate() error {
	if c.Name == "" {
		return errors.New("mqtt source: name is empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("mqtt source %s: url %q is not mqtt://host:port or mqtts://host:port", c.Name, c.URL)
	}
	switch u.Scheme {
	case "mqtt", "tcp":
		if !c.TLS.IsZero() {
			return fmt.Errorf("mqtt source %s: tls is set but the url is %s://: use mqtts://", c.Name, u.Scheme)
		}
	case "mqtts", "tls", "ssl":
		c.TLS.Enable = true
	default:
		return fmt.Errorf("mqtt source %s: url scheme %q: use mqtt:// or mqtts://", c.Name, u.Scheme)
	}
	if len(c.Topics) == 0 {
		return fmt.Errorf("mqtt source %s: topics is empty", c.Name)
	}
	for _, t := range c.Topics {
		if t == "" || strings.Contains(t, "\x00") {
			return fmt.Errorf("mqtt source %s: topic %q is not a topic filter", c.Name, t)
		}
	}
	if c.PasswordFile != "" && c.PasswordEnv != "" {
		return fmt.Errorf("mqtt source %s: give password_file or password_env, not both", c.Name)
	}
	if (c.PasswordFile != "" || c.PasswordEnv != "") && c.TLS.IsZero() {
		return fmt.Errorf("mqtt source %s: a password over mqtt:// would cross the network in clear: use mqtts:// (tls)", c.Name)
	}
	if c.ClientID == "" {
		return fmt.Errorf("mqtt source %s: client_id is empty: give a stable id, so the broker keeps the session across restarts", c.Name)
	}
	if len(c.Tenants) == 0 {
		return fmt.Errorf("mqtt source %s: tenants is empty: list the tenants it may carry, or [\"*\"]", c.Name)
	}
	if c.SessionExpiry < 0 || c.SessionExpiry > 365*24*time.Hour {
		return fmt.Errorf("mqtt source %s: session_expiry %s is out of range (0 to 8760h)", c.Name, c.SessionExpiry)
	}
	return nil
}

// Source reads one MQTT subscription into a pipeline.
type Source struct {
	c    Config
	pipe *broker.Pipeline
	env  clientconf.Env
	log  *slog.Logger
	// subscribed is true while connected with every topic granted.
	subscribed atomic.Bool
}

// Subscribed reports whether the source is connected and subscribed.
func (s *Source) Subscribed() bool { return s.subscribed.Load() }

func (s *Source) subscribe(ctx context.Context, cm *autopaho.ConnectionManager, subs []paho.SubscribeOptions) error {
	ack, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs})
	if err != nil {
		return err
	}
	for i, code := range ack.Reasons {
		if i >= len(subs) {
			break
		}
		switch {
		case code >= 0x80:
			return &refusedError{fmt.Sprintf("the broker refused topic %q (reason code 0x%02x)", subs[i].Topic, code)}
		case code == 0x00:
			// QoS 0 has no acknowledgement, so the broker would not keep
			// what vigil had not stored when it stops: refuse to lose it.
			return &refusedError{fmt.Sprintf("the broker granted topic %q only QoS 0 (messages could be lost): allow QoS 1 for vigil's client", subs[i].Topic)}
		}
	}
	if len(ack.Reasons) < len(subs) {
		return fmt.Errorf("the broker answered %d of %d subscriptions", len(ack.Reasons), len(subs))
	}
	s.subscribed.Store(true)
	return nil
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

// Run connects (and reconnects) until ctx ends.
func (s *Source) Run(ctx context.Context) error {
	u, _ := url.Parse(s.c.URL)
	tlsCfg, password, err := s.prepare()
	if err != nil {
		return err
	}
	expiry := s.c.SessionExpiry
	if expiry == 0 {
		expiry = 24 * time.Hour
	}
	subs := make([]paho.SubscribeOptions, len(s.c.Topics))
	for i, t := range s.c.Topics {
		subs[i] = paho.SubscribeOptions{Topic: t, QoS: 1}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2) // the pipeline's end, or a subscription the broker refused
	cfg := autopaho.ClientConfig{
		ServerUrls:            []*url.URL{u},
		TlsCfg:                tlsCfg,
		KeepAlive:             30,
		SessionExpiryInterval: uint32(expiry / time.Second),
		ReconnectBackoff:      func(n int) time.Duration { return min(time.Duration(n+1)*time.Second, 30*time.Second) },
		ConnectUsername:       s.c.Username,
		ConnectPassword:       []byte(password),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			// Subscribing again on every connection is harmless with a
			// kept session and needed when the broker lost it.
			go func() {
				err := s.subscribe(runCtx, cm, subs)
				var refused *refusedError
				switch {
				case err == nil || runCtx.Err() != nil:
				case errors.As(err, &refused):
					// The broker's answer will not change by itself: stop
					// rather than run without (or with a lossy) subscription.
					select {
					case errc <- fmt.Errorf("mqtt source %s: %w", s.c.Name, err):
					default:
					}
				default:
					s.log.Error("mqtt subscribe failed", "source", s.c.Name, "topics", s.c.Topics, "err", err)
				}
			}()
			s.log.Info("mqtt source connected", "source", s.c.Name, "url", redact(u))
		},
		OnConnectionDown: func() bool { s.subscribed.Store(false); return true },
		OnConnectError: func(err error) {
			if runCtx.Err() == nil {
				s.log.Warn("mqtt source cannot connect: retrying", "source", s.c.Name, "url", redact(u), "err", err)
			}
		},
		ClientConfig: paho.ClientConfig{
			ClientID:                   s.c.ClientID,
			EnableManualAcknowledgment: true,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				return true, s.pipe.Submit(runCtx, message(pr))
			}},
			OnClientError: func(err error) { s.log.Warn("mqtt client error", "source", s.c.Name, "err", err) },
		},
	}
	cm, err := autopaho.NewConnection(runCtx, cfg)
	if err != nil {
		return fmt.Errorf("mqtt source %s: %w", s.c.Name, err)
	}
	go func() { errc <- s.pipe.Run(runCtx) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			cancel()
			<-cm.Done()
			return err
		}
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer dcancel()
	_ = cm.Disconnect(dctx) // unacknowledged messages stay in the session
	cancel()
	<-cm.Done()
	return ctx.Err()
}

// refusedError is a subscription the broker refused or downgraded.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// prepare reads the TLS files and the password.
func (s *Source) prepare() (*tls.Config, []byte, error) {
	var tlsCfg *tls.Config
	if !s.c.TLS.IsZero() {
		u, _ := url.Parse(s.c.URL)
		c, err := s.env.TLSConfig(s.c.TLS, u.Hostname())
		if err != nil {
			return nil, nil, fmt.Errorf("mqtt source %s: %w", s.c.Name, err)
		}
		tlsCfg = c
	}
	password, err := s.env.Secret("password", s.c.PasswordFile, s.c.PasswordEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("mqtt source %s: %w", s.c.Name, err)
	}
	return tlsCfg, password, nil
}

// Check reads what the source needs (TLS files, password) without
// connecting, so a mistake stops the start, not a running server.
func (s *Source) Check() error {
	_, _, err := s.prepare()
	return err
}

// message turns a PUBLISH into a pipeline message whose Ack sends the PUBACK.
func message(pr paho.PublishReceived) broker.Message {
	p := pr.Packet
	m := broker.Message{Payload: p.Payload, Origin: "topic " + p.Topic}
	if props := p.Properties; props != nil {
		m.ContentType = props.ContentType
		if props.User.Get("specversion") != "" {
			m.Attrs = make(map[string]string, len(props.User))
			for _, u := range props.User {
				m.Attrs[u.Key] = u.Value
			}
		}
	}
	if p.QoS > 0 {
		client := pr.Client
		m.Ack = func() error { return client.Ack(p) }
	}
	return m
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
