package natsjs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-project/vigil/internal/clientconf"
	"github.com/vigil-project/vigil/internal/ingest/broker"
	"github.com/vigil-project/vigil/internal/ingest/broker/brokertest"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
)

// The NATS server of the machine, with JetStream (see the README's test
// section); tests fail when it is not there.
const natsURL = "nats://127.0.0.1:4222"

// stream makes a fresh stream for the test and returns its subject prefix.
func stream(t *testing.T, url string, opts ...nats.Option) (jetstream.JetStream, string, string) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connecting to NATS at %s: %v (is nats-server with JetStream running? see the README)", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("VIGILTEST%d", time.Now().UnixNano())
	subject := strings.ToLower(name)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject + ".>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatalf("creating a stream: %v (JetStream must be enabled)", err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), name) })
	return js, name, subject
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
	brokertest.WaitFor(t, "the consumer", src.Ready)
	return pipe, func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("source: %v", err)
		}
	}
}

func pub(t *testing.T, js jetstream.JetStream, msg *nats.Msg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
}

func TestNATSSourceReadsEveryBinding(t *testing.T) {
	js, name, subject := stream(t, natsURL)
	sink := &brokertest.Sink{}
	c := Config{Name: "nats-test", URL: natsURL, Stream: name, Consumer: "vigil", Tenants: []string{"fleet-a"}}
	pipe, stop := start(t, c, sink)
	defer stop()
	pub(t, js, &nats.Msg{Subject: subject + ".auth", Data: []byte(brokertest.Login("n-1", "fleet-a"))})
	pub(t, js, &nats.Msg{Subject: subject + ".auth", Data: []byte("[" + brokertest.Login("n-2", "fleet-a") + "," + brokertest.Login("n-3", "fleet-a") + "]")})
	bin := &nats.Msg{Subject: subject + ".auth", Header: nats.Header{}, Data: []byte(`{"actor":{"account":"a-2"},"result":"failure","method":"password"}`)}
	for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": "n-4", "ce-source": "tsp/auth", "ce-type": "auth.login",
		"ce-time": "2026-03-02T07:00:01Z", "ce-tenant": "fleet-a", "Content-Type": "application/json"} {
		bin.Header.Set(k, v)
	}
	pub(t, js, bin)
	pub(t, js, &nats.Msg{Subject: subject + ".auth", Data: []byte(brokertest.BadTime)})
	pub(t, js, &nats.Msg{Subject: subject + ".auth", Data: []byte(brokertest.Login("n-5", "fleet-b"))})

	brokertest.WaitFor(t, "4 events and 2 rejections", func() bool {
		return len(sink.IDs()) == 4 && pipe.Stats().Rejected.Load() == 2
	})
	if got := strings.Join(sink.IDs(), ","); got != "n-1,n-2,n-3,n-4" {
		t.Errorf("stored %s, want n-1,n-2,n-3,n-4 in order", got)
	}
	// Every message was acknowledged: nothing is pending on the consumer.
	brokertest.WaitFor(t, "the acknowledgements", func() bool {
		cons, err := js.Consumer(context.Background(), name, "vigil")
		if err != nil {
			return false
		}
		info, err := cons.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

// TestNATSKeepsWhatWasNotStored: while the store refuses, nothing is
// acknowledged, and a new source on the same durable consumer gets the
// message again.
func TestNATSKeepsWhatWasNotStored(t *testing.T) {
	js, name, subject := stream(t, natsURL)
	c := Config{Name: "nats-test", URL: natsURL, Stream: name, Consumer: "vigil", Tenants: []string{"*"}, AckWait: time.Second}
	down := &brokertest.Sink{Fail: func() bool { return true }}
	pipe, stop := start(t, c, down)
	pub(t, js, &nats.Msg{Subject: subject + ".auth", Data: []byte(brokertest.Login("k-1", "fleet-a"))})
	brokertest.WaitFor(t, "the store to refuse", func() bool { return pipe.Stats().Retries.Load() >= 2 })
	stop()

	up := &brokertest.Sink{}
	_, stop = start(t, c, up)
	defer stop()
	brokertest.WaitFor(t, "the message again", func() bool { return len(up.IDs()) == 1 })
}

// TestNATSOverTLS starts a nats-server with JetStream and a TLS listener
// that verifies client certificates.
func TestNATSOverTLS(t *testing.T) {
	dir := t.TempDir()
	pki := brokertest.NewPKI(t, dir)
	port := brokertest.FreePort(t)
	brokertest.Server(t, "nats-server", port, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", dir,
		"--tls", "--tlscert", pki.ServerCert, "--tlskey", pki.ServerKey, "--tlsverify", "--tlscacert", pki.CAFile)
	url := fmt.Sprintf("tls://127.0.0.1:%d", port)
	tlsConf := clientconf.TLS{Enable: true, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	cfg, err := clientconf.Env{}.TLSConfig(tlsConf, "")
	if err != nil {
		t.Fatal(err)
	}
	js, name, subject := stream(t, url, nats.Secure(cfg))
	sink := &brokertest.Sink{}
	_, stop := start(t, Config{Name: "nats-tls", URL: url, Stream: name, Consumer: "vigil", Tenants: []string{"*"}, TLS: tlsConf}, sink)
	defer stop()
	pub(t, js, &nats.Msg{Subject: subject + ".auth", Data: []byte(brokertest.Login("t-1", "fleet-a"))})
	brokertest.WaitFor(t, "the event over TLS", func() bool { return len(sink.IDs()) == 1 })

	noCert, _ := clientconf.Env{}.TLSConfig(clientconf.TLS{Enable: true, CAFile: pki.CAFile}, "")
	if nc, err := nats.Connect(url, nats.Secure(noCert)); err == nil {
		nc.Close()
		t.Error("a client without a certificate connected to a server that requires one")
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Name: "n", URL: "tls://nats:4222", Stream: "TSP", Consumer: "vigil", Tenants: []string{"*"}}
	if err := good.Validate(); err != nil || !good.TLS.Enable {
		t.Errorf("good: %v", err)
	}
	for _, c := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.URL = "http://x:1" }, "scheme"},
		{func(c *Config) { c.Stream = "" }, "stream"},
		{func(c *Config) { c.Consumer = "a.b" }, "consumer"},
		{func(c *Config) { c.TokenFile, c.CredsFile = "t", "c" }, "one of"},
		{func(c *Config) { c.User = "u" }, "password_file"},
		{func(c *Config) { c.Tenants = nil }, "tenants"},
		{func(c *Config) { c.AckWait = time.Millisecond }, "ack_wait"},
	} {
		c2 := good
		c.mut(&c2)
		if err := c2.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %q, got %v", c.want, err)
		}
	}
}
