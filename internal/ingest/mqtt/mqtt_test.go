package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/vigil-project/vigil/internal/clientconf"
	"github.com/vigil-project/vigil/internal/ingest/broker"
	"github.com/vigil-project/vigil/internal/ingest/broker/brokertest"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
)

// The broker of the machine (see the README's test section); tests fail
// when it is not there.
const mosquittoURL = "mqtt://127.0.0.1:1883"

// publisher connects a plain MQTT 5 client for the test's messages.
func publisher(t *testing.T, server string, tlsCfg *autopaho.ClientConfig) *autopaho.ConnectionManager {
	t.Helper()
	u, _ := url.Parse(server)
	cfg := autopaho.ClientConfig{ServerUrls: []*url.URL{u}, KeepAlive: 30,
		ClientConfig: paho.ClientConfig{ClientID: fmt.Sprintf("vigil-test-pub-%d", time.Now().UnixNano())}}
	if tlsCfg != nil {
		cfg.TlsCfg = tlsCfg.TlsCfg
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cm, err := autopaho.NewConnection(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cm.AwaitConnection(ctx); err != nil {
		t.Fatalf("connecting to the MQTT broker at %s: %v (is mosquitto running? see the README)", server, err)
	}
	t.Cleanup(func() { cm.Disconnect(context.Background()) })
	return cm
}

func publish(t *testing.T, cm *autopaho.ConnectionManager, topic, payload string, props *paho.PublishProperties) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cm.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload), Properties: props}); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// startSource runs a source and waits until it is subscribed.
func startSource(t *testing.T, c Config, sink httpingest.Sink) (*broker.Pipeline, func()) {
	t.Helper()
	if c.SessionExpiry == 0 {
		c.SessionExpiry = time.Minute // the broker forgets the test's session soon
	}
	pipe := brokertest.Pipeline(t, c.Name, sink, c.Tenants...)
	src, err := New(c, pipe, clientconf.Env{}, brokertest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	brokertest.WaitFor(t, "the source to subscribe", src.Subscribed)
	stop := func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("source: %v", err)
		}
	}
	return pipe, stop
}

func TestMQTTSourceReadsEveryBinding(t *testing.T) {
	topic := fmt.Sprintf("vigil-test/%d", time.Now().UnixNano())
	sink := &brokertest.Sink{}
	c := Config{Name: "mqtt-test", URL: mosquittoURL, Topics: []string{topic + "/#"}, ClientID: "vigil-src-" + topic, Tenants: []string{"fleet-a"}}
	pipe, stop := startSource(t, c, sink)
	defer stop()
	pub := publisher(t, mosquittoURL, nil)
	publish(t, pub, topic+"/structured", brokertest.Login("m-1", "fleet-a"), nil)
	publish(t, pub, topic+"/batch", brokertest.Login("m-2", "fleet-a")+"\n"+brokertest.Login("m-3", "fleet-a")+"\n", nil)
	// MQTT 5 binary mode: attributes as user properties.
	props := &paho.PublishProperties{ContentType: "application/json"}
	for k, v := range map[string]string{"specversion": "1.0", "id": "m-4", "source": "tsp/auth", "type": "auth.login", "time": "2026-03-02T07:00:01Z", "tenant": "fleet-a"} {
		props.User.Add(k, v)
	}
	publish(t, pub, topic+"/binary", `{"actor":{"account":"a-2"},"result":"failure","method":"password"}`, props)
	publish(t, pub, topic+"/bad", `{"specversion":"1.0","id":"m-5","source":"tsp/auth","type":"auth.login","time":"yesterday","tenant":"fleet-a","data":{}}`, nil)
	publish(t, pub, topic+"/other", brokertest.Login("m-6", "fleet-b"), nil)
	publish(t, pub, topic+"/structured", brokertest.Login("m-1", "fleet-a"), nil) // a duplicate

	defer func() {
		st := pipe.Stats()
		t.Logf("stored %v; messages %d rejected %d dups %d reasons %v", sink.IDs(), st.Messages.Load(), st.Rejected.Load(), st.Duplicates.Load(), st.RejectedByReason())
	}()
	brokertest.WaitFor(t, "4 events and 2 rejections", func() bool {
		return len(sink.IDs()) == 4 && pipe.Stats().Rejected.Load() == 2 && pipe.Stats().Duplicates.Load() == 1
	})
	got := strings.Join(sink.IDs(), ",")
	for _, id := range []string{"m-1", "m-2", "m-3", "m-4"} {
		if !strings.Contains(got, id) {
			t.Errorf("event %s not stored (got %s)", id, got)
		}
	}
	reasons := pipe.Stats().RejectedByReason()
	if len(reasons) != 2 {
		t.Errorf("rejections by reason: %v, want the bad time and the foreign tenant", reasons)
	}
	for r := range reasons {
		if !strings.Contains(r, "time") && !strings.Contains(r, "tenant") {
			t.Errorf("unexpected rejection reason %q", r)
		}
	}
}

// TestMQTTKeepsWhatWasNotStored: while the store refuses, nothing is
// acknowledged; a source that stops then is replaced by one with the same
// client id, and the broker delivers the message again from the session.
func TestMQTTKeepsWhatWasNotStored(t *testing.T) {
	topic := fmt.Sprintf("vigil-test/%d", time.Now().UnixNano())
	c := Config{Name: "mqtt-test", URL: mosquittoURL, Topics: []string{topic}, ClientID: "vigil-src-" + topic, Tenants: []string{"*"}}
	down := &brokertest.Sink{Fail: func() bool { return true }}
	pipe, stop := startSource(t, c, down)
	pub := publisher(t, mosquittoURL, nil)
	publish(t, pub, topic, brokertest.Login("k-1", "fleet-a"), nil)
	brokertest.WaitFor(t, "the store to refuse the batch", func() bool { return pipe.Stats().Retries.Load() >= 2 })
	stop()

	up := &brokertest.Sink{}
	_, stop = startSource(t, c, up)
	defer stop()
	brokertest.WaitFor(t, "the message to come again", func() bool { return len(up.IDs()) == 1 })
	if got := up.IDs(); got[0] != "k-1" {
		t.Errorf("got %v", got)
	}
}

// TestMQTTOverTLS starts a Mosquitto with a TLS listener that requires a
// client certificate, and reads through it.
func TestMQTTOverTLS(t *testing.T) {
	dir := t.TempDir()
	pki := brokertest.NewPKI(t, dir)
	port := brokertest.FreePort(t)
	// Mosquitto started as root drops to its own user, which could not read
	// the test's files: keep it as whoever runs the test.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	err = os.WriteFile(conf, fmt.Appendf(nil, "user %s\nlistener %d 127.0.0.1\nallow_anonymous true\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\npersistence false\n",
		me.Username, port, pki.CAFile, pki.ServerCert, pki.ServerKey), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Server(t, "mosquitto", port, "-c", conf)

	tlsConf := clientconf.TLS{Enable: true, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	server := fmt.Sprintf("mqtts://127.0.0.1:%d", port)
	topic := "vigil-test/tls"
	sink := &brokertest.Sink{}
	c := Config{Name: "mqtt-tls", URL: server, Topics: []string{topic}, ClientID: "vigil-tls-src", Tenants: []string{"*"}, TLS: tlsConf}
	_, stop := startSource(t, c, sink)
	defer stop()
	pubTLS, err := clientconf.Env{}.TLSConfig(tlsConf, "")
	if err != nil {
		t.Fatal(err)
	}
	pub := publisher(t, server, &autopaho.ClientConfig{TlsCfg: pubTLS})
	publish(t, pub, topic, brokertest.Login("t-1", "fleet-a"), nil)
	brokertest.WaitFor(t, "the event over TLS", func() bool { return len(sink.IDs()) == 1 })

	// Without a client certificate the broker refuses the connection.
	noCert, err := clientconf.Env{}.TLSConfig(clientconf.TLS{Enable: true, CAFile: pki.CAFile}, "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(server)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{ServerUrls: []*url.URL{u}, TlsCfg: noCert, ClientConfig: paho.ClientConfig{ClientID: "intruder"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cm.AwaitConnection(ctx); err == nil {
		t.Error("a client without a certificate connected to a broker that requires one")
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Name: "m", URL: "mqtts://broker:8883", Topics: []string{"tsp/#"}, ClientID: "vigil-1", Tenants: []string{"fleet-a"}}
	if err := good.Validate(); err != nil || !good.TLS.Enable {
		t.Errorf("good config: %v (tls %v)", err, good.TLS.Enable)
	}
	for _, c := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.URL = "http://x" }, "scheme"},
		{func(c *Config) { c.URL = "mqtt://x"; c.TLS.Enable = true }, "mqtts://"},
		{func(c *Config) { c.Topics = nil }, "topics"},
		{func(c *Config) { c.ClientID = "" }, "client_id"},
		{func(c *Config) { c.Tenants = nil }, "tenants"},
		{func(c *Config) { c.SessionExpiry = -time.Second }, "session_expiry"},
		{func(c *Config) { c.URL = "mqtt://x:1883"; c.PasswordFile = "pw" }, "in clear"},
	} {
		c2 := good
		c2.TLS = clientconf.TLS{}
		c.mut(&c2)
		if err := c2.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %q, got %v", c.want, err)
		}
	}
}

// TestMQTTRefusesQoS0: a broker that grants only QoS 0 would not keep what
// vigil had not stored: the source stops with an error saying so.
func TestMQTTRefusesQoS0(t *testing.T) {
	dir := t.TempDir()
	port := brokertest.FreePort(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "user %s\nlistener %d 127.0.0.1\nallow_anonymous true\nmax_qos 0\npersistence false\n", me.Username, port), 0o600); err != nil {
		t.Fatal(err)
	}
	brokertest.Server(t, "mosquitto", port, "-c", conf)
	c := Config{Name: "mqtt-qos0", URL: fmt.Sprintf("mqtt://127.0.0.1:%d", port), Topics: []string{"tsp/#"}, ClientID: "vigil-qos0", Tenants: []string{"*"}}
	src, err := New(c, brokertest.Pipeline(t, c.Name, &brokertest.Sink{}, "*"), clientconf.Env{}, brokertest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := src.Run(ctx); err == nil || !strings.Contains(err.Error(), "only QoS 0") {
		t.Errorf("Run: %v, want an error naming the QoS 0 grant", err)
	}
}
