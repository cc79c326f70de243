// Package kafka produces alerts to a Kafka topic with acks=all and the
// idempotent producer: an alert is delivered when every in-sync replica
// has it. The record key is the tenant, so a tenant's alerts stay in order
// on one partition; the alert id travels as the vigil-alert-id header.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/vigil-project/vigil/internal/sink"
)

// Kafka is a sink.Target.
type Kafka struct {
	opts  []kgo.Opt
	topic sink.Template

	mu  sync.Mutex
	cli *kgo.Client
}

var _ sink.Target = (*Kafka)(nil)

// New builds a Kafka sink from a validated configuration. The client is
// made on the first delivery.
func New(c sink.Config, env sink.Env) (*Kafka, error) {
	if c.Type != sink.TypeKafka {
		return nil, fmt.Errorf("kafka: a %s sink", c.Type)
	}
	topic, err := sink.ParseTemplate(c.Topic)
	if err != nil {
		return nil, err
	}
	id := c.ClientID
	if id == "" {
		id = "vigil-" + c.Name
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(id),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), // one alert at a time: waiting to batch only delays it
		kgo.RecordDeliveryTimeout(c.Timeout),
		kgo.ProduceRequestTimeout(c.Timeout),
		kgo.UnknownTopicRetries(2), // a missing topic fails the attempt (retried by the sink), not forever
	}
	if !c.TLS.IsZero() {
		// No server name: the client checks each broker's own.
		cfg, err := env.TLSConfig(c.TLS, "")
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if c.SASL != "" {
		pw, err := env.Secret("password", c.PasswordFile, c.PasswordEnv)
		if err != nil {
			return nil, err
		}
		switch c.SASL {
		case "plain":
			opts = append(opts, kgo.SASL(plain.Auth{User: c.Username, Pass: string(pw)}.AsMechanism()))
		case "scram-sha-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.Username, Pass: string(pw)}.AsSha256Mechanism()))
		case "scram-sha-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.Username, Pass: string(pw)}.AsSha512Mechanism()))
		}
	}
	return &Kafka{opts: opts, topic: topic}, nil
}

func (k *Kafka) client() (*kgo.Client, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cli != nil {
		return k.cli, nil
	}
	cli, err := kgo.NewClient(k.opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	k.cli = cli
	return cli, nil
}

// Send produces one alert and waits for acks=all.
func (k *Kafka) Send(ctx context.Context, m *sink.Message) error {
	cli, err := k.client()
	if err != nil {
		return err
	}
	topic := k.topic.Expand(m.Alert)
	r := &kgo.Record{Topic: topic, Key: []byte(m.Alert.Tenant), Value: m.JSON,
		Headers: []kgo.RecordHeader{{Key: "vigil-alert-id", Value: []byte(m.Alert.ID)}, {Key: "content-type", Value: []byte("application/json")}}}
	if err := cli.ProduceSync(ctx, r).FirstErr(); err != nil {
		err = fmt.Errorf("kafka produce to %s: %w", topic, err)
		switch {
		case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.InvalidTopicException):
			return sink.Permanent(err)
		}
		return err
	}
	return nil
}

// Close flushes nothing (every alert was waited for) and closes the client.
func (k *Kafka) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cli != nil {
		k.cli.Close()
		k.cli = nil
	}
	return nil
}
