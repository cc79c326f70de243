package broker_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/ingest/broker"
	"github.com/vigil-project/vigil/internal/ingest/broker/brokertest"
)

func run(t testing.TB, p *broker.Pipeline) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// TestAcksFollowTheDurableWrite: messages are acknowledged in order, only
// after their batch was stored; a message whose events were all rejected
// is acknowledged too (it can never become valid).
func TestAcksFollowTheDurableWrite(t *testing.T) {
	var stored atomic.Bool
	sink := &brokertest.Sink{Fail: func() bool { return !stored.Load() }}
	p, err := broker.New(broker.Options{Source: "t", Sink: sink, Tenants: []string{"*"}, BatchWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, p)
	defer stop()
	var order []int
	acked := make(chan int, 3)
	for i, payload := range []string{brokertest.Login("a-1", "fleet-a"), brokertest.BadTime, brokertest.Login("a-2", "fleet-a")} {
		i := i
		if err := p.Submit(context.Background(), broker.Message{Payload: []byte(payload), Origin: fmt.Sprint("m", i),
			Ack: func() error { acked <- i; return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	brokertest.WaitFor(t, "a refused write", func() bool { return p.Stats().Retries.Load() > 0 })
	select {
	case i := <-acked:
		t.Fatalf("message %d acknowledged while the store refused", i)
	default:
	}
	stored.Store(true)
	for range 3 {
		select {
		case i := <-acked:
			order = append(order, i)
		case <-time.After(10 * time.Second):
			t.Fatal("no acknowledgement")
		}
	}
	if fmt.Sprint(order) != "[0 1 2]" {
		t.Errorf("acknowledged in order %v", order)
	}
	if got := strings.Join(sink.IDs(), ","); got != "a-1,a-2" {
		t.Errorf("stored %s", got)
	}
}

func TestTooManyEventsInOneMessage(t *testing.T) {
	sink := &brokertest.Sink{}
	p, _ := broker.New(broker.Options{Source: "t", Sink: sink, Tenants: []string{"*"}, MaxEvents: 2, BatchWait: time.Millisecond})
	stop := run(t, p)
	defer stop()
	var lines []string
	for i := range 5 {
		lines = append(lines, brokertest.Login(fmt.Sprint("e-", i), "fleet-a"))
	}
	p.Submit(context.Background(), broker.Message{Payload: []byte(strings.Join(lines, "\n"))})
	brokertest.WaitFor(t, "the cut", func() bool { return p.Stats().Rejected.Load() == 1 && len(sink.IDs()) == 2 })
	if r := p.Stats().RejectedByReason(); r["too-large"] != 1 {
		t.Errorf("reasons %v", r)
	}
}

func TestTenantsRequired(t *testing.T) {
	if _, err := broker.New(broker.Options{Source: "s", Sink: &brokertest.Sink{}}); err == nil || !strings.Contains(err.Error(), "tenants") {
		t.Errorf("got %v", err)
	}
}

func TestEnvelope(t *testing.T) {
	got := string(broker.Envelope(map[string]string{"id": "x", "specversion": "1.0", "data": "ignored"}, "application/json", []byte(" {\"a\":1} ")))
	want := `{"id":"x","specversion":"1.0","datacontenttype":"application/json","data":{"a":1}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// BenchmarkPipeline: decode, check and store single-event messages in
// batches of 1,000, acknowledging each.
func BenchmarkPipeline(b *testing.B) {
	sink := &brokertest.Sink{}
	p, _ := broker.New(broker.Options{Source: "b", Sink: sink, Tenants: []string{"*"}})
	stop := run(b, p)
	defer stop()
	msgs := make([][]byte, 1000)
	for i := range msgs {
		msgs[i] = []byte(brokertest.Login(fmt.Sprint("b-", i), "fleet-a"))
	}
	var acked atomic.Int64
	ack := func() error { acked.Add(1); return nil }
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		p.Submit(context.Background(), broker.Message{Payload: msgs[n%len(msgs)], Ack: ack})
		n++
	}
	for acked.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
}
