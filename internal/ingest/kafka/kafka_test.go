package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/vigil-project/vigil/internal/clientconf"
	"github.com/vigil-project/vigil/internal/ingest/broker"
	"github.com/vigil-project/vigil/internal/ingest/broker/brokertest"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
)

func cluster(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(2, "tsp-events")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func producer(t *testing.T, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("tsp-events")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, c Config, sink httpingest.Sink) (*broker.Pipeline, func()) {
	t.Helper()
	pipe := brokertest.Pipeline(t, c.Name, sink, c.Tenants...)
	src, err := New(c, pipe, clientconf.Env{}, brokertest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	return pipe, func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("source: %v", err)
		}
	}
}

func TestKafkaSourceReadsEveryBinding(t *testing.T) {
	addrs := cluster(t)
	p := producer(t, addrs)
	produce(t, p,
		&kgo.Record{Value: []byte(brokertest.Login("k-1", "fleet-a")), Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}}},
		&kgo.Record{Value: []byte(brokertest.Login("k-2", "fleet-a") + "\n" + brokertest.Login("k-3", "fleet-a") + "\n")},
		&kgo.Record{Value: []byte(`{"actor":{"account":"a-2"},"result":"failure","method":"password"}`), Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("k-4")}, {Key: "ce_source", Value: []byte("tsp/auth")},
			{Key: "ce_type", Value: []byte("auth.login")}, {Key: "ce_time", Value: []byte("2026-03-02T07:00:01Z")}, {Key: "ce_tenant", Value: []byte("fleet-a")},
			{Key: "content-type", Value: []byte("application/json")}}},
		&kgo.Record{Value: []byte(brokertest.BadTime)},
		&kgo.Record{Value: []byte(brokertest.Login("k-5", "fleet-b"))},
	)
	sink := &brokertest.Sink{}
	pipe, stop := start(t, Config{Name: "kafka-test", Brokers: addrs, Topics: []string{"tsp-events"}, Group: "vigil", Tenants: []string{"fleet-a"}}, sink)
	brokertest.WaitFor(t, "4 events and 2 rejections", func() bool {
		return len(sink.IDs()) == 4 && pipe.Stats().Rejected.Load() == 2
	})
	for _, id := range []string{"k-1", "k-2", "k-3", "k-4"} {
		if !strings.Contains(strings.Join(sink.IDs(), ","), id) {
			t.Errorf("%s not stored: %v", id, sink.IDs())
		}
	}
	// The group's offsets were committed: a new member of the group reads
	// nothing again.
	stop()
	again := &brokertest.Sink{}
	pipe2, stop2 := start(t, Config{Name: "kafka-test", Brokers: addrs, Topics: []string{"tsp-events"}, Group: "vigil", Tenants: []string{"fleet-a"}}, again)
	produce(t, p, &kgo.Record{Value: []byte(brokertest.Login("k-6", "fleet-a"))})
	brokertest.WaitFor(t, "the new record", func() bool { return len(again.IDs()) == 1 })
	stop2()
	if got := again.IDs(); got[0] != "k-6" || pipe2.Stats().Messages.Load() != 1 {
		t.Errorf("after a restart the group read %v (%d messages): committed records came again", got, pipe2.Stats().Messages.Load())
	}
}

// TestKafkaKeepsWhatWasNotStored: while the store refuses, no offset is
// committed, and the group's next member reads the record again.
func TestKafkaKeepsWhatWasNotStored(t *testing.T) {
	addrs := cluster(t)
	produce(t, producer(t, addrs), &kgo.Record{Value: []byte(brokertest.Login("r-1", "fleet-a"))})
	c := Config{Name: "kafka-test", Brokers: addrs, Topics: []string{"tsp-events"}, Group: "vigil", Tenants: []string{"*"}}
	pipe, stop := start(t, c, &brokertest.Sink{Fail: func() bool { return true }})
	brokertest.WaitFor(t, "the store to refuse", func() bool { return pipe.Stats().Retries.Load() >= 2 })
	stop()
	up := &brokertest.Sink{}
	_, stop = start(t, c, up)
	defer stop()
	brokertest.WaitFor(t, "the record again", func() bool { return len(up.IDs()) == 1 })
}

// TestKafkaOverTLSWithSCRAM: kfake serves TLS and SCRAM-SHA-256.
func TestKafkaOverTLSWithSCRAM(t *testing.T) {
	dir := t.TempDir()
	pki := brokertest.NewPKI(t, dir)
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	addrs := cluster(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}}), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "vigil", "s3cret-pass"))
	tlsConf := clientconf.TLS{Enable: true, CAFile: pki.CAFile}
	cfg, err := clientconf.Env{}.TLSConfig(tlsConf, "")
	if err != nil {
		t.Fatal(err)
	}
	p := producer(t, addrs, kgo.DialTLSConfig(cfg), kgo.SASL(scram.Auth{User: "vigil", Pass: "s3cret-pass"}.AsSha256Mechanism()))
	produce(t, p, &kgo.Record{Value: []byte(brokertest.Login("s-1", "fleet-a"))})
	pw := filepath.Join(dir, "kafka-password")
	if err := os.WriteFile(pw, []byte("s3cret-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sink := &brokertest.Sink{}
	_, stop := start(t, Config{Name: "kafka-tls", Brokers: addrs, Topics: []string{"tsp-events"}, Group: "vigil", Tenants: []string{"*"},
		TLS: tlsConf, SASL: SASL{Mechanism: "SCRAM-SHA-256", User: "vigil", PasswordFile: pw}}, sink)
	defer stop()
	brokertest.WaitFor(t, "the record over TLS", func() bool { return len(sink.IDs()) == 1 })

	// A world-readable password file is refused.
	if err := os.Chmod(pw, 0o644); err != nil {
		t.Fatal(err)
	}
	src, _ := New(Config{Name: "k", Brokers: addrs, Topics: []string{"t"}, Group: "g", Tenants: []string{"*"}, TLS: tlsConf,
		SASL: SASL{Mechanism: "SCRAM-SHA-256", User: "vigil", PasswordFile: pw}}, brokertest.Pipeline(t, "k", sink, "*"), clientconf.Env{}, nil)
	if err := src.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable password file: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Name: "k", Brokers: []string{"kafka:9093"}, Topics: []string{"t"}, Group: "vigil", Tenants: []string{"*"},
		TLS: clientconf.TLS{Enable: true}, SASL: SASL{Mechanism: "PLAIN", User: "u", PasswordFile: "p"}}
	if err := good.Validate(); err != nil {
		t.Errorf("good: %v", err)
	}
	for _, c := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Brokers = []string{"kafka"} }, "host:port"},
		{func(c *Config) { c.Topics = nil }, "topics"},
		{func(c *Config) { c.Group = "" }, "group"},
		{func(c *Config) { c.TLS = clientconf.TLS{} }, "in clear"},
		{func(c *Config) { c.SASL.Mechanism = "GSSAPI" }, "mechanism"},
		{func(c *Config) { c.SASL.PasswordFile = "" }, "password_file"},
		{func(c *Config) { c.Tenants = nil }, "tenants"},
	} {
		c2 := good
		c.mut(&c2)
		if err := c2.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %q, got %v", c.want, err)
		}
	}
}
