// Package mqtt publishes alerts to an MQTT 5 broker with QoS 1: an alert
// is delivered when the broker acknowledges it (PUBACK). The client
// reconnects by itself; a publish while the connection is down waits for
// it within the attempt's timeout, then fails and is retried.
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/vigil-project/vigil/internal/sink"
)

// MQTT is a sink.Target.
type MQTT struct {
	cfg   autopaho.ClientConfig
	topic sink.Template

	mu     sync.Mutex
	cm     *autopaho.ConnectionManager
	cancel context.CancelFunc
}

var _ sink.Target = (*MQTT)(nil)

// New builds an MQTT sink from a validated configuration. It connects on
// the first delivery.
func New(c sink.Config, env sink.Env) (*MQTT, error) {
	if c.Type != sink.TypeMQTT {
		return nil, fmt.Errorf("mqtt: a %s sink", c.Type)
	}
	topic, err := sink.ParseTemplate(c.Topic)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, err
	}
	id := c.ClientID
	if id == "" {
		id = "vigil-" + c.Name
	}
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		ConnectTimeout:                c.Timeout,
		// Attempt 0 must not wait: autopaho asks before every connection,
		// the first one too.
		ReconnectBackoff: autopaho.NewConstantBackoff(2 * time.Second),
		ClientConfig:     paho.ClientConfig{ClientID: id},
	}
	if u.Scheme == "mqtts" {
		t, err := env.TLSConfig(c.TLS, u.Hostname())
		if err != nil {
			return nil, err
		}
		cfg.TlsCfg = t
	}
	if c.Username != "" {
		pw, err := env.Secret("password", c.PasswordFile, c.PasswordEnv)
		if err != nil {
			return nil, err
		}
		cfg.ConnectUsername, cfg.ConnectPassword = c.Username, pw
	}
	return &MQTT{cfg: cfg, topic: topic}, nil
}

func (m *MQTT) conn() (*autopaho.ConnectionManager, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cm != nil {
		return m.cm, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cm, err := autopaho.NewConnection(ctx, m.cfg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	m.cm, m.cancel = cm, cancel
	return cm, nil
}

// Send publishes one alert with QoS 1 and waits for the broker's PUBACK.
func (m *MQTT) Send(ctx context.Context, msg *sink.Message) error {
	cm, err := m.conn()
	if err != nil {
		return err
	}
	if err := cm.AwaitConnection(ctx); err != nil {
		return fmt.Errorf("mqtt %s: not connected: %w", m.cfg.ServerUrls[0].Redacted(), err)
	}
	topic := m.topic.Expand(msg.Alert)
	resp, err := cm.Publish(ctx, &paho.Publish{QoS: 1, Topic: topic, Payload: msg.JSON,
		Properties: &paho.PublishProperties{ContentType: "application/json"}})
	if err != nil {
		return fmt.Errorf("mqtt publish to %s: %w", topic, err)
	}
	if resp != nil && resp.ReasonCode >= 0x80 {
		err := fmt.Errorf("mqtt broker refused the publish to %s: reason 0x%02x %s", topic, resp.ReasonCode, resp.Properties.ReasonString)
		switch resp.ReasonCode {
		case 0x87, 0x90, 0x99: // not authorized, topic name invalid, payload format invalid
			return sink.Permanent(err)
		}
		return err
	}
	return nil
}

// Close disconnects.
func (m *MQTT) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cm == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.cm.Disconnect(ctx)
	m.cancel()
	m.cm = nil
	if errors.Is(err, autopaho.ConnectionDownError) {
		return nil
	}
	return err
}
