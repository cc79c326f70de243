package nats_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sink"
	"github.com/vigil-project/vigil/internal/sink/nats"
	"github.com/vigil-project/vigil/internal/sink/sinktest"
)

// testURL is the NATS server (JetStream enabled) the tests use: the
// machine's own unless VIGIL_TEST_NATS names another. Its absence fails
// the tests: they do not skip.
func testURL() string {
	if u := os.Getenv("VIGIL_TEST_NATS"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

func mkAlert(id, tenant string) *alert.Alert {
	t := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()
	return &alert.Alert{ID: id, Time: t, FirstSeen: t, LastSeen: t, Tenant: tenant, Category: alert.UnsafeCommand,
		Severity: event.SeverityCritical, Detector: "cmd.unsafe-command", Title: "t", Explanation: "e",
		Entities: alert.Entities{Vehicle: "VIN1"}, Mappings: alert.DefaultMappings(alert.UnsafeCommand)}
}

func TestJetStreamPublish(t *testing.T) {
	nc, err := natsgo.Connect(testURL(), natsgo.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("the NATS server at %s (JetStream enabled) is needed: %v", testURL(), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var r [6]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	prefix := "vigiltest" + id
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "VIGILTEST" + id, Subjects: []string{prefix + ".>"},
		Storage: jetstream.MemoryStorage, Duplicates: time.Minute})
	if err != nil {
		t.Fatalf("creating a stream (is JetStream enabled on %s?): %v", testURL(), err)
	}
	defer js.DeleteStream(context.Background(), "VIGILTEST"+id)

	c := sink.Config{Name: "bus", Type: sink.TypeNATS, URL: testURL(), Subject: prefix + ".alerts.{tenant}.{category}"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := nats.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a := mkAlert("al-1", "fleet.a") // a dot in the tenant must not add a subject token
	m := &sink.Message{Alert: a, JSON: alert.AppendJSON(nil, a)}
	for range 2 { // a retried publish: JetStream keeps one copy
		if err := n.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("%d messages in the stream, want 1 (deduplicated by alert id)", info.State.Msgs)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, prefix+".alerts.fleet_a.unsafe-command")
	if err != nil {
		t.Fatalf("no message on the expected subject: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(msg.Data, &got); err != nil || got["id"] != "al-1" || got["tenant"] != "fleet.a" {
		t.Errorf("message %s (%v)", msg.Data, err)
	}
	if msg.Header.Get(natsgo.MsgIdHdr) != "al-1" {
		t.Errorf("Nats-Msg-Id %q", msg.Header.Get(natsgo.MsgIdHdr))
	}

	// No stream covers the subject: the publish fails (and the sink retries).
	c.Subject = "vigiltest-nostream" + id + ".{tenant}"
	n2, err := nats.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	short, cancel2 := context.WithTimeout(ctx, 3*time.Second)
	defer cancel2()
	if err := n2.Send(short, m); err == nil {
		t.Error("a publish no stream stores was taken as delivered")
	}
}

func TestUnreachable(t *testing.T) {
	c := sink.Config{Name: "bus", Type: sink.TypeNATS, URL: "nats://127.0.0.1:1", Subject: "x.{tenant}", Timeout: time.Second}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := nats.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a := mkAlert("al-1", "t")
	if err := n.Send(context.Background(), &sink.Message{Alert: a, JSON: alert.AppendJSON(nil, a)}); err == nil || sink.IsPermanent(err) {
		t.Errorf("unreachable server: %v, want a retryable error", err)
	}
}

// TestCrashRestart: a NATS sink killed mid-stream and started again on the
// same store leaves every alert in the stream once: what the restart sends
// again, JetStream drops by its message id.
func TestCrashRestart(t *testing.T) {
	nc, err := natsgo.Connect(testURL(), natsgo.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("the NATS server at %s (JetStream enabled) is needed: %v", testURL(), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var r [6]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	prefix := "vigiltest" + id
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "VIGILTEST" + id, Subjects: []string{prefix + ".>"},
		Storage: jetstream.MemoryStorage, Duplicates: 5 * time.Minute})
	if err != nil {
		t.Fatalf("creating a stream (is JetStream enabled on %s?): %v", testURL(), err)
	}
	defer js.DeleteStream(context.Background(), "VIGILTEST"+id)
	c := sink.Config{Name: "bus", Type: sink.TypeNATS, URL: testURL(), Subject: prefix + ".{tenant}"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	sinktest.CrashRestart(t, sinktest.Destination{Config: c,
		Target: func(t testing.TB) sink.Target {
			n, err := nats.New(c, sink.Env{})
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
		// What the stream holds, read message by message.
		Received: func() map[string]int {
			got := map[string]int{}
			info, err := stream.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
				m, err := stream.GetMsg(ctx, seq)
				if err != nil {
					t.Fatalf("message %d: %v", seq, err)
				}
				got[m.Header.Get(natsgo.MsgIdHdr)]++
			}
			return got
		}}, 400)
}
