package mqtt_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sink"
	"github.com/vigil-project/vigil/internal/sink/mqtt"
	"github.com/vigil-project/vigil/internal/sink/sinktest"
)

// testAddr is the MQTT broker the tests use: the machine's Mosquitto
// unless VIGIL_TEST_MQTT (host:port) names another. Its absence fails the
// tests: they do not skip.
func testAddr() string {
	if a := os.Getenv("VIGIL_TEST_MQTT"); a != "" {
		return a
	}
	return "127.0.0.1:1883"
}

func TestPublishQoS1(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var r [6]byte
	rand.Read(r[:])
	prefix := "vigiltest/" + hex.EncodeToString(r[:])

	// A subscriber, as the receiving system would be.
	conn, err := net.DialTimeout("tcp", testAddr(), 5*time.Second)
	if err != nil {
		t.Fatalf("the MQTT broker at %s is needed: %v", testAddr(), err)
	}
	got := make(chan *paho.Publish, 10)
	sub := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(p paho.PublishReceived) (bool, error) {
			got <- p.Packet
			return true, nil
		}}})
	if _, err := sub.Connect(ctx, &paho.Connect{ClientID: "vigil-test-sub-" + hex.EncodeToString(r[:]), CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("connecting to %s: %v", testAddr(), err)
	}
	defer sub.Disconnect(&paho.Disconnect{})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: prefix + "/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	c := sink.Config{Name: "broker", Type: sink.TypeMQTT, URL: "mqtt://" + testAddr(), Topic: prefix + "/{tenant}/{category}",
		ClientID: "vigil-test-" + hex.EncodeToString(r[:])}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	m, err := mqtt.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tt := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()
	a := &alert.Alert{ID: "al-1", Time: tt, FirstSeen: tt, LastSeen: tt, Tenant: "fleet/a#", Category: alert.SMSSpoofing,
		Severity: event.SeverityHigh, Detector: "sms.spoofing", Title: "t", Explanation: "e",
		Entities: alert.Entities{MSISDN: "+491510000"}, Mappings: alert.DefaultMappings(alert.SMSSpoofing)}
	if err := m.Send(ctx, &sink.Message{Alert: a, JSON: alert.AppendJSON(nil, a)}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p.Topic != prefix+"/fleet_a_/sms-spoofing" {
			t.Errorf("topic %q: a tenant's / or # must not add a level or a wildcard", p.Topic)
		}
		var j map[string]any
		if err := json.Unmarshal(p.Payload, &j); err != nil || j["id"] != "al-1" {
			t.Errorf("payload %s (%v)", p.Payload, err)
		}
		if p.QoS != 1 {
			t.Errorf("QoS %d", p.QoS)
		}
	case <-ctx.Done():
		t.Fatal("the subscriber received nothing")
	}
}

func TestBrokerDown(t *testing.T) {
	c := sink.Config{Name: "broker", Type: sink.TypeMQTT, URL: "mqtt://127.0.0.1:1", Topic: "x/{tenant}", Timeout: time.Second}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	m, err := mqtt.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	a := &alert.Alert{ID: "al-1", Tenant: "t", Category: alert.SMSSpoofing, Severity: event.SeverityHigh}
	if err := m.Send(ctx, &sink.Message{Alert: a, JSON: alert.AppendJSON(nil, a)}); err == nil || sink.IsPermanent(err) {
		t.Errorf("broker down: %v, want a retryable error", err)
	}
}

// TestCrashRestart: an MQTT sink killed mid-stream and started again on
// the same store: a subscriber gets every alert at least once.
func TestCrashRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var r [6]byte
	rand.Read(r[:])
	prefix := "vigiltest/" + hex.EncodeToString(r[:])
	conn, err := net.DialTimeout("tcp", testAddr(), 5*time.Second)
	if err != nil {
		t.Fatalf("the MQTT broker at %s is needed: %v", testAddr(), err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	sub := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(p paho.PublishReceived) (bool, error) {
			var j struct {
				ID string `json:"id"`
			}
			json.Unmarshal(p.Packet.Payload, &j)
			mu.Lock()
			got[j.ID]++
			mu.Unlock()
			return true, nil
		}}})
	if _, err := sub.Connect(ctx, &paho.Connect{ClientID: "vigil-test-sub-" + hex.EncodeToString(r[:]), CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("connecting to %s: %v", testAddr(), err)
	}
	defer sub.Disconnect(&paho.Disconnect{})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: prefix + "/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	c := sink.Config{Name: "broker", Type: sink.TypeMQTT, URL: "mqtt://" + testAddr(), Topic: prefix + "/{tenant}",
		ClientID: "vigil-test-" + hex.EncodeToString(r[:])}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	sinktest.CrashRestart(t, sinktest.Destination{Config: c,
		Target: func(t testing.TB) sink.Target {
			m, err := mqtt.New(c, sink.Env{})
			if err != nil {
				t.Fatal(err)
			}
			return m
		},
		Received: func() map[string]int {
			mu.Lock()
			defer mu.Unlock()
			return maps.Clone(got)
		}}, 400)
}
