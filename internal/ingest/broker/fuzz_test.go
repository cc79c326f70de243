package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/ingest/broker"
	"github.com/vigil-project/vigil/internal/ingest/broker/brokertest"
)

// FuzzMessage feeds hostile broker messages — any payload, content type and
// binary-mode attributes — through a pipeline: it must never panic, and
// every message must end acknowledged (stored or rejected and counted).
func FuzzMessage(f *testing.F) {
	f.Add([]byte(brokertest.Login("f-1", "fleet-a")), "", "", "")
	f.Add([]byte("["+brokertest.Login("f-2", "fleet-a")+"]"), "application/cloudevents-batch+json", "", "")
	f.Add([]byte(`{"actor":{"account":"a"},"result":"success","method":"password"}`), "application/json", "id", "f-3")
	f.Add([]byte("{\"a\":\n{"), "application/cloudevents+json", "specversion", "1.0")
	f.Add([]byte{0x1f, 0x8b, 0, 1}, "", "", "")
	sink := &brokertest.Sink{}
	p, err := broker.New(broker.Options{Source: "fuzz", Sink: sink, Tenants: []string{"fleet-a"}, BatchWait: time.Microsecond, MaxEvents: 50})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	f.Fuzz(func(t *testing.T, payload []byte, contentType, attr, value string) {
		m := broker.Message{Payload: payload, ContentType: contentType}
		if attr != "" {
			m.Attrs = map[string]string{"specversion": "1.0", "id": "fz", "source": "s", "type": "auth.login",
				"time": "2026-03-02T07:00:00Z", attr: value}
		}
		done := make(chan struct{})
		m.Ack = func() error { close(done); return nil }
		before := p.Stats().Messages.Load()
		if err := p.Submit(ctx, m); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("message not acknowledged (messages %d → %d)", before, p.Stats().Messages.Load())
		}
	})
}
