package kafka_test

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sink"
	"github.com/vigil-project/vigil/internal/sink/kafka"
	"github.com/vigil-project/vigil/internal/sink/sinktest"
)

func mkAlert(id, tenant string) *alert.Alert {
	t := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()
	return &alert.Alert{ID: id, Time: t, FirstSeen: t, LastSeen: t, Tenant: tenant, Category: alert.DataExfiltration,
		Severity: event.SeverityMedium, Detector: "access.exfiltration", Title: "t", Explanation: "e",
		Entities: alert.Entities{ClientID: "partner-1"}, Mappings: alert.DefaultMappings(alert.DataExfiltration)}
}

func cluster(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(3, "vigil-alerts-fleet-a", "vigil-alerts-fleet-b")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func TestProduceAcksAll(t *testing.T) {
	brokers := cluster(t)
	c := sink.Config{Name: "stream", Type: sink.TypeKafka, Brokers: brokers, Topic: "vigil-alerts-{tenant}"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	k, err := kafka.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, a := range []*alert.Alert{mkAlert("al-1", "fleet-a"), mkAlert("al-2", "fleet-b"), mkAlert("al-3", "fleet-a")} {
		if err := k.Send(ctx, &sink.Message{Alert: a, JSON: alert.AppendJSON(nil, a)}); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("vigil-alerts-fleet-a", "vigil-alerts-fleet-b"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[string]*kgo.Record{}
	for len(got) < 3 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 3 records", len(got))
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = r })
	}
	for _, r := range got {
		var j map[string]any
		if err := json.Unmarshal(r.Value, &j); err != nil {
			t.Fatal(err)
		}
		if r.Topic != "vigil-alerts-"+j["tenant"].(string) || string(r.Key) != j["tenant"] {
			t.Errorf("record on %s keyed %q for %v", r.Topic, r.Key, j)
		}
		if len(r.Headers) == 0 || r.Headers[0].Key != "vigil-alert-id" || string(r.Headers[0].Value) != j["id"] {
			t.Errorf("headers %v", r.Headers)
		}
	}
}

func TestSASL(t *testing.T) {
	brokers := cluster(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "vigil", "s3cret-password"))
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret-password\n"), 0o600)
	c := sink.Config{Name: "stream", Type: sink.TypeKafka, Brokers: brokers, Topic: "vigil-alerts-fleet-a", SASL: "scram-sha-256",
		Username: "vigil", PasswordFile: pw, Timeout: 5 * time.Second}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	k, err := kafka.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx := context.Background()
	a := mkAlert("al-1", "fleet-a")
	if err := k.Send(ctx, &sink.Message{Alert: a, JSON: alert.AppendJSON(nil, a)}); err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	os.WriteFile(pw, []byte("wrong-password"), 0o600)
	bad, err := kafka.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Send(ctx, &sink.Message{Alert: a, JSON: alert.AppendJSON(nil, a)}); err == nil {
		t.Error("delivered with a wrong password")
	}
}

// TestCrashRestart: a Kafka sink killed mid-stream and started again on
// the same store: the topic holds every alert at least once.
func TestCrashRestart(t *testing.T) {
	brokers := cluster(t)
	c := sink.Config{Name: "stream", Type: sink.TypeKafka, Brokers: brokers, Topic: "vigil-alerts-{tenant}", Timeout: 5 * time.Second}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("vigil-alerts-fleet-a"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	got := map[string]int{}
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				for _, h := range r.Headers {
					if h.Key == "vigil-alert-id" {
						mu.Lock()
						got[string(h.Value)]++
						mu.Unlock()
					}
				}
			})
		}
	}()
	defer func() {
		cancel()
		<-consumed
		cons.Close()
	}()
	sinktest.CrashRestart(t, sinktest.Destination{Config: c,
		Target: func(t testing.TB) sink.Target {
			k, err := kafka.New(c, sink.Env{})
			if err != nil {
				t.Fatal(err)
			}
			return k
		},
		Received: func() map[string]int {
			mu.Lock()
			defer mu.Unlock()
			return maps.Clone(got)
		}}, 400)
}
