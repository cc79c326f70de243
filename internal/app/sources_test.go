package app

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-project/vigil/internal/ingest/broker/brokertest"
)

// TestServeReadsBrokerSources: vigil serve with an MQTT source on the
// machine's Mosquitto and a JetStream source on its NATS server stores
// their events like HTTP ingest does, and counts them on /metrics.
func TestServeReadsBrokerSources(t *testing.T) {
	dir := t.TempDir()
	stamp := time.Now().UnixNano()
	topic := fmt.Sprintf("vigil-e2e/%d", stamp)
	streamName := fmt.Sprintf("VIGILE2E%d", stamp)
	subject := strings.ToLower(streamName)

	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		t.Fatalf("NATS on 127.0.0.1:4222: %v (the README lists the services tests need)", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: streamName, Subjects: []string{subject + ".>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	defer js.DeleteStream(context.Background(), streamName)

	cfg := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `ingest:
  mqtt:
    - name: tsp-mqtt
      url: mqtt://127.0.0.1:1883
      topics: [%q]
      client_id: vigil-e2e-%d
      session_expiry: 1m
      tenants: [fleet-a]
  nats:
    - name: tsp-nats
      url: nats://127.0.0.1:4222
      stream: %s
      consumer: vigil
      tenants: [fleet-a]
`, topic+"/#", stamp, streamName), 0o600)
	ts := startServerWith(t, serveOptions{DataDir: filepath.Join(dir, "data"), ConfigPath: cfg})
	key := ts.key(t, "viewer", "fleet-a")

	u, _ := url.Parse("mqtt://127.0.0.1:1883")
	pub, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{ServerUrls: []*url.URL{u}, KeepAlive: 30,
		ClientConfig: paho.ClientConfig{ClientID: fmt.Sprintf("vigil-e2e-pub-%d", stamp)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Disconnect(context.Background())
	if err := pub.AwaitConnection(ctx); err != nil {
		t.Fatal(err)
	}
	// The source subscribes once connected: publish until it has the event
	// (a retry of the same event is a duplicate, dropped by id).
	events := func() int {
		var page struct {
			Events []map[string]any `json:"events"`
		}
		ts.call(t, "GET", "/v1/events?tenant=fleet-a&kind=account&value=a-1&limit=10", key, nil, nil, &page)
		return len(page.Events)
	}
	brokertest.WaitFor(t, "the MQTT event in the archive", func() bool {
		pub.Publish(ctx, &paho.Publish{Topic: topic + "/auth", QoS: 1, Payload: []byte(brokertest.Login("mqtt-1", "fleet-a"))})
		time.Sleep(100 * time.Millisecond)
		return events() == 1
	})
	if _, err := js.Publish(ctx, subject+".auth", []byte(brokertest.Login("nats-1", "fleet-a"))); err != nil {
		t.Fatal(err)
	}
	js.Publish(ctx, subject+".auth", []byte(brokertest.Login("nats-2", "fleet-b"))) // not this source's tenant
	brokertest.WaitFor(t, "the NATS event in the archive", func() bool { return events() == 2 })

	m := ts.metricsText(t)
	for _, want := range []string{
		`vigil_source_events_total{outcome="accepted",source="tsp-mqtt"} 1`,
		`vigil_source_events_total{outcome="accepted",source="tsp-nats"} 1`,
		`vigil_source_rejected_total{reason="invalid tenant",source="tsp-nats"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "vigil_source_"))
		}
	}
}

// TestCheckConfigReadsSourceSecrets: check-config reads each broker
// source's password and TLS files and names the source when one is wrong.
func TestCheckConfigReadsSourceSecrets(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "mqtt-password")
	os.WriteFile(pw, []byte("s3cret\n"), 0o644) // readable by every user
	cfg := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `ingest:
  mqtt:
    - {name: tsp, url: "mqtts://broker.example:8883", topics: ["tsp/#"], client_id: vigil-1, tenants: [fleet-a], username: vigil, password_file: %s}
`, pw), 0o600)
	var out, errb strings.Builder
	code := Main(context.Background(), []string{"check-config", "--config", cfg}, strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "mqtt source tsp") || !strings.Contains(errb.String(), "chmod 600") {
		t.Errorf("check-config with a world-readable password file: %d %s", code, errb.String())
	}
	os.Chmod(pw, 0o600)
	out.Reset()
	if code := Main(context.Background(), []string{"check-config", "--config", cfg}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("check-config: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "broker sources: mqtt 1, nats 0, kafka 0") {
		t.Errorf("check-config output:\n%s", out.String())
	}
}
