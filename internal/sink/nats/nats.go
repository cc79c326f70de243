// Package nats publishes alerts to a NATS JetStream subject and waits for
// the stream's acknowledgement, so a delivered alert is stored by
// JetStream. The alert id is the message id (Nats-Msg-Id): JetStream drops
// a retried publish it already stored, within the stream's duplicate
// window. A stream must cover the subject; without one the publish fails
// and is retried.
package nats

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-project/vigil/internal/sink"
)

// NATS is a sink.Target.
type NATS struct {
	url     string
	subject sink.Template
	opts    []natsgo.Option

	mu sync.Mutex
	nc *natsgo.Conn
	js jetstream.JetStream
}

var _ sink.Target = (*NATS)(nil)

// New builds a NATS sink from a validated configuration. It connects on
// the first delivery; the client reconnects by itself after that.
func New(c sink.Config, env sink.Env) (*NATS, error) {
	if c.Type != sink.TypeNATS {
		return nil, fmt.Errorf("nats: a %s sink", c.Type)
	}
	subj, err := sink.ParseTemplate(c.Subject)
	if err != nil {
		return nil, err
	}
	opts := []natsgo.Option{natsgo.Name("vigil sink " + c.Name), natsgo.Timeout(c.Timeout), natsgo.MaxReconnects(-1)}
	first, _ := url.Parse(strings.TrimSpace(strings.Split(c.URL, ",")[0]))
	if first.Scheme == "tls" || !c.TLS.IsZero() {
		cfg, err := env.TLSConfig(c.TLS, first.Hostname())
		if err != nil {
			return nil, err
		}
		opts = append(opts, natsgo.Secure(cfg))
	}
	switch {
	case c.CredentialsFile != "":
		opts = append(opts, natsgo.UserCredentials(env.File(c.CredentialsFile)))
	case c.Username != "":
		pw, err := env.Secret("password", c.PasswordFile, c.PasswordEnv)
		if err != nil {
			return nil, err
		}
		opts = append(opts, natsgo.UserInfo(c.Username, string(pw)))
	}
	return &NATS{url: c.URL, subject: subj, opts: opts}, nil
}

func (n *NATS) connect() (jetstream.JetStream, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.js != nil {
		return n.js, nil
	}
	nc, err := natsgo.Connect(n.url, n.opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("NATS JetStream: %w", err)
	}
	n.nc, n.js = nc, js
	return js, nil
}

// Send publishes one alert and waits for JetStream's ack.
func (n *NATS) Send(ctx context.Context, m *sink.Message) error {
	js, err := n.connect()
	if err != nil {
		return err
	}
	subj := n.subject.Expand(m.Alert)
	if _, err := js.Publish(ctx, subj, m.JSON, jetstream.WithMsgID(m.Alert.ID)); err != nil {
		return fmt.Errorf("publishing to %s: %w", subj, err)
	}
	return nil
}

// Close drains and closes the connection.
func (n *NATS) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nc == nil {
		return nil
	}
	done := make(chan struct{})
	n.nc.SetClosedHandler(func(*natsgo.Conn) { close(done) })
	if err := n.nc.Drain(); err != nil {
		n.nc.Close()
		return err
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		n.nc.Close()
	}
	n.nc, n.js = nil, nil
	return nil
}
