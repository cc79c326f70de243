package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/config"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/pseudo"
	"github.com/vigil-project/vigil/internal/sim"
)

// TestReplayPseudonymises: vigil replay with a configuration that turns
// privacy on raises exactly the alerts of detection on events (and a
// directory) pseudonymised as the server's ingest does, naming no clear
// identity.
func TestReplayPseudonymises(t *testing.T) {
	s, err := sim.New(sim.Config{Seed: 17, Vehicles: 120, Duration: 3 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 1})
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	vins := map[string]bool{}
	err = s.Run(context.Background(), func(ev *event.Event) error {
		stream.Write(append(event.AppendJSON(nil, ev), '\n'))
		if ev.Subject != "" {
			vins[ev.Subject] = true
		}
		return nil
	}, func(sim.Label) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	ref := referenceFromSim(s)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "vigil.key")
	if err := os.WriteFile(keyFile, privacyTestSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(path, []byte("privacy:\n  enabled: true\n  key_file: vigil.key\n  tenants:\n    fleet-b: {fields: {ips: false}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	run := func(stream []byte, o replayOptions) ([]string, *replaySummary) {
		t.Helper()
		o.Shards = 1 // incidents group alerts in the order they come
		var out bytes.Buffer
		sum, err := replay(context.Background(), bytes.NewReader(stream), &out, o)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		slices.Sort(lines)
		return lines, sum
	}
	got, sum := run(stream.Bytes(), replayOptions{Config: cfg, Reference: &ref})
	if sum.Pseudonymised != sum.Accepted || sum.Accepted == 0 {
		t.Errorf("%d of %d events pseudonymised", sum.Pseudonymised, sum.Accepted)
	}

	// The same by hand: the server's settings for the two tenants.
	p, err := pseudo.New(pseudo.Options{Secret: privacyTestSecret, Default: pseudo.Settings{Fields: pseudo.AllFields},
		Tenants: map[string]pseudo.Settings{"fleet-b": {Fields: pseudo.AllFields.Without(pseudo.IP)}}, KeepPhones: ref.SMSGateways})
	if err != nil {
		t.Fatal(err)
	}
	pref, err := pseudonymiseReference(ref, p)
	if err != nil {
		t.Fatal(err)
	}
	var pstream bytes.Buffer
	dec := event.NewDecoder(event.Limits{})
	for _, line := range bytes.Split(bytes.TrimSpace(stream.Bytes()), []byte("\n")) {
		ev, err := dec.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Event(ev, nil); err != nil {
			t.Fatal(err)
		}
		pstream.Write(append(event.AppendJSON(nil, ev), '\n'))
	}
	want, _ := run(pstream.Bytes(), replayOptions{Reference: &pref})
	if len(want) < 10 {
		t.Fatalf("only %d alerts: the stream does not exercise the detectors", len(want))
	}
	if !slices.Equal(got, want) {
		t.Errorf("replay with privacy: %d alerts; detection on pseudonymised events: %d", len(got), len(want))

	}
	text := strings.Join(got, "\n")
	for v := range vins {
		if strings.Contains(text, v) {
			t.Fatalf("an alert names the clear vehicle %s", v)
		}
	}
	// Without the key, replay refuses, saying how to make one.
	os.Remove(keyFile)
	if _, err := replay(context.Background(), bytes.NewReader(stream.Bytes()), &bytes.Buffer{}, replayOptions{Config: cfg, Reference: &ref}); err == nil ||
		!strings.Contains(err.Error(), "vigil privacy keygen") {
		t.Errorf("replay without the key file: %v", err)
	}
}
