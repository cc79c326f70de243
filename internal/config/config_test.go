package config

import (
	"strings"
	"testing"
	"time"
)

type orphanLike struct {
	Window  time.Duration `yaml:"window"`
	Origins []string      `yaml:"origins"`
}

func TestParseAndDecode(t *testing.T) {
	c, err := Parse(strings.NewReader(`
engine:
  shards: 4
  lateness: 45s
detectors:
  cmd.orphan-state-change:
    window: 3m
tenants:
  fleet-a:
    detectors:
      cmd.orphan-state-change:
        window: 10m
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Engine.Shards != 4 || c.Engine.Lateness != 45*time.Second {
		t.Errorf("engine %+v", c.Engine)
	}
	def := orphanLike{Window: time.Minute, Origins: []string{"remote"}}
	if err := c.Decode("cmd.orphan-state-change", &def); err != nil {
		t.Fatal(err)
	}
	if def.Window != 3*time.Minute || len(def.Origins) != 1 {
		t.Errorf("default section: %+v (keys not in the file keep their defaults)", def)
	}
	got := map[string]time.Duration{}
	err = c.DecodeTenants("cmd.orphan-state-change", func(tenant string, decode func(any) error) error {
		o := def
		if err := decode(&o); err != nil {
			return err
		}
		got[tenant] = o.Window
		return nil
	})
	if err != nil || got["fleet-a"] != 10*time.Minute {
		t.Errorf("tenant override: %v %v", got, err)
	}
	var none orphanLike
	if err := c.Decode("absent", &none); err != nil || none.Window != 0 {
		t.Errorf("absent section: %v %+v", err, none)
	}
}

func TestStrict(t *testing.T) {
	tests := []struct{ in, want string }{
		{"engine:\n  shardz: 3\n", "field shardz not found"},
		{"bogus: 1\n", "field bogus not found"},
		{"engine:\n  shards: -1\n", "engine.shards must be between"},
		{"engine:\n  lateness: 48h\n", "engine.lateness must be between"},
		{"engine:\n  worker_nice: 20\n", "engine.worker_nice must be between 0 (off) and 19, got 20"},
		{"engine:\n  worker_nice: -1\n", "engine.worker_nice must be between"},
		{"engine: [\n", "yaml"},
		{"store:\n  timeline_batch: 999\n", "store.timeline_batch must be 0 (the default) or between 1000 and 250000 events, got 999"},
		{"store:\n  timeline_batch: 250001\n", "store.timeline_batch must be"},
		{"store:\n  timeline_delay: 10ms\n", "store.timeline_delay must be 0 (the default) or between 100ms and 1m0s, got 10ms"},
		{"store:\n  timeline_delay: 2m\n", "store.timeline_delay must be"},
		{"store:\n  timeline_dealy: 2s\n", "field timeline_dealy not found"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
	c, err := Parse(strings.NewReader("detectors:\n  x:\n    windw: 3m\n"))
	if err != nil {
		t.Fatal(err)
	}
	var o orphanLike
	if err := c.Decode("x", &o); err == nil || !strings.Contains(err.Error(), "detectors.x (line 3") || !strings.Contains(err.Error(), "windw") {
		t.Errorf("unknown detector key: %v", err)
	}
}

func TestEmpty(t *testing.T) {
	c, err := Parse(strings.NewReader(""))
	if err != nil || c.Engine.Shards != 0 || c.Engine.Nice() != DefaultWorkerNice {
		t.Errorf("empty file: %v %+v", err, c)
	}
}

func TestWorkerNice(t *testing.T) {
	for in, want := range map[string]int{"engine:\n  worker_nice: 0\n": 0, "engine:\n  worker_nice: 15\n": 15, "engine:\n  shards: 2\n": DefaultWorkerNice} {
		c, err := Parse(strings.NewReader(in))
		if err != nil || c.Engine.Nice() != want {
			t.Errorf("%q: %v, nice %d, want %d", in, err, c.Engine.Nice(), want)
		}
	}
}

func TestSuppressionsValidated(t *testing.T) {
	c, err := Parse(strings.NewReader("suppressions:\n  - tenant: fleet-a\n    detector: mass.*\n    entity: fm-7\n    reason: nightly lock-all\n"))
	if err != nil || len(c.Suppressions) != 1 || c.Suppressions[0].Detector != "mass.*" {
		t.Fatalf("%v %+v", err, c)
	}
	if _, err := Parse(strings.NewReader("suppressions:\n  - tenant: fleet-a\n    detector: x\n")); err == nil || !strings.Contains(err.Error(), "suppressions[0]: reason is required") {
		t.Errorf("missing reason: %v", err)
	}
}

func TestRetention(t *testing.T) {
	c, err := Parse(strings.NewReader("retention:\n  events: 720h\n  tenants:\n    fleet-a: 168h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention.For("fleet-a") != 168*time.Hour || c.Retention.For("fleet-b") != 720*time.Hour {
		t.Errorf("%+v", c.Retention)
	}
	if _, err := Parse(strings.NewReader("retention:\n  events: -1h\n")); err == nil {
		t.Error("negative retention accepted")
	}
}
