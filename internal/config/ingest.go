package config

import (
	"fmt"

	"github.com/vigil-project/vigil/internal/ingest/kafka"
	"github.com/vigil-project/vigil/internal/ingest/mqtt"
	"github.com/vigil-project/vigil/internal/ingest/natsjs"
)

// Ingest lists the broker sources; HTTP ingest is always on.
type Ingest struct {
	MQTT  []mqtt.Config   `yaml:"mqtt"`
	NATS  []natsjs.Config `yaml:"nats"`
	Kafka []kafka.Config  `yaml:"kafka"`
}

func (in *Ingest) validate() error {
	seen := map[string]string{}
	name := func(kind string, i int, n string) error {
		where := fmt.Sprintf("ingest.%s[%d]", kind, i)
		if prev, dup := seen[n]; dup && n != "" {
			return fmt.Errorf("%s: name %q is already used by %s", where, n, prev)
		}
		seen[n] = where
		return nil
	}
	for i := range in.MQTT {
		if err := in.MQTT[i].Validate(); err != nil {
			return fmt.Errorf("ingest.mqtt[%d]: %w", i, err)
		}
		if err := name("mqtt", i, in.MQTT[i].Name); err != nil {
			return err
		}
	}
	for i := range in.NATS {
		if err := in.NATS[i].Validate(); err != nil {
			return fmt.Errorf("ingest.nats[%d]: %w", i, err)
		}
		if err := name("nats", i, in.NATS[i].Name); err != nil {
			return err
		}
	}
	for i := range in.Kafka {
		if err := in.Kafka[i].Validate(); err != nil {
			return fmt.Errorf("ingest.kafka[%d]: %w", i, err)
		}
		if err := name("kafka", i, in.Kafka[i].Name); err != nil {
			return err
		}
	}
	return nil
}
