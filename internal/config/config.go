// Package config reads vigil's configuration file: YAML, strict (an unknown
// key is an error naming its line), validated once at load. Detector
// sections are kept as YAML until the detector that owns them decodes them,
// so each detector's configuration type stays in its own package.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/gate"
	"github.com/vigil-project/vigil/internal/sink"
)

// Config is the whole file.
type Config struct {
	Engine Engine `yaml:"engine"`
	// Directory is a CSV file of entitlements (see internal/directory).
	Directory string `yaml:"directory"`
	// Cells is a cell database in OpenCelliD CSV format, for checking GPS
	// fixes against their serving cell.
	Cells string `yaml:"cells"`
	// Firmware is the OEM's signing keys and release manifest.
	Firmware Firmware `yaml:"firmware"`
	// Rules is a directory of YAML rules.
	Rules string `yaml:"rules"`
	// Detectors configures built-in detectors by id; absent ones run with
	// their defaults.
	Detectors map[string]yaml.Node `yaml:"detectors"`
	// Tenants overrides detector settings per tenant.
	Tenants map[string]Tenant `yaml:"tenants"`
	// Suppressions silence alerts judged benign (counted by reason).
	Suppressions []alert.Suppression `yaml:"suppressions"`
	// Console configures the analyst console.
	Console Console `yaml:"console"`
	// Store tunes the embedded store.
	Store Store `yaml:"store"`
	// Retention bounds how long archived events are kept.
	Retention Retention `yaml:"retention"`
	// Gate configures the inline command gate (docs/gate.md).
	Gate gate.Config `yaml:"gate"`
	// Auth sets session lifetimes, sign-in limits, request rates and the
	// password hash's cost (docs/auth.md).
	Auth auth.Config `yaml:"auth"`
	// Sinks deliver stored alerts outside (docs/sinks.md).
	Sinks []sink.Config `yaml:"sinks"`
	// Ingest reads events from message brokers besides HTTP (docs/ingest.md).
	Ingest Ingest `yaml:"ingest"`
	// Privacy pseudonymises personal values before storage (docs/privacy.md).
	Privacy Privacy `yaml:"privacy"`

	dir string // the file's directory: relative paths are relative to it
}

// Engine configures the detection engine.
type Engine struct {
	Shards      int           `yaml:"shards"`
	Lateness    time.Duration `yaml:"lateness"`
	DedupWindow time.Duration `yaml:"dedup_window"`
	// SnapshotInterval: how often vigil serve checkpoints the engine's
	// state (and at a graceful stop), so a restart resumes from there
	// rather than reading the whole archive. 0: every 5m; negative: never.
	SnapshotInterval time.Duration `yaml:"snapshot_interval"`
	// WorkerNice: vigil serve runs its bulk workers (archive writer,
	// timeline indexer, detection shards, alert writer) this many nice
	// steps below the threads that answer requests, so that a command gate
	// decision does not wait behind ingest (Linux; docs/gate.md). Absent:
	// 1; 0: off. Higher values shorten the gate's tail further and slow
	// ingest while both contend for the cores.
	WorkerNice *int `yaml:"worker_nice"`
}

// DefaultWorkerNice is engine.worker_nice when the file does not set it.
const DefaultWorkerNice = 1

// Nice returns engine.worker_nice, or its default.
func (e Engine) Nice() int {
	if e.WorkerNice == nil {
		return DefaultWorkerNice
	}
	return *e.WorkerNice
}

// Firmware names what genuine firmware looks like.
type Firmware struct {
	// Keys maps a key id to an Ed25519 or ECDSA P-256 public key, PEM or
	// base64 (DER or raw Ed25519).
	Keys map[string]string `yaml:"keys"`
	// Releases are the SHA-256 digests (hex) of every genuine image.
	Releases []string `yaml:"releases"`
}

// Console configures the analyst console: a raster tile server for its maps
// (without one they draw tracks on a plain projection, offline).
type Console struct {
	TileURL         string `yaml:"tile_url"` // e.g. https://tiles.example.org/{z}/{x}/{y}.png
	TileAttribution string `yaml:"tile_attribution"`
}

// Store tunes the store.
type Store struct {
	// Synchronous is "full" (the default: an acknowledged batch survives a
	// crash of the process and of the machine) or "normal" (it survives a
	// crash of the process, kill -9 included, but the last batches before a
	// power loss may be lost; faster). The embedded SQLite store only.
	Synchronous string `yaml:"synchronous"`
	// TimelineBatch and TimelineDelay pace the indexing of events'
	// timelines, after ingest acknowledged them: a step indexes up to
	// TimelineBatch events, at once when that many wait, else at most
	// TimelineDelay after they began to wait (or after the last step).
	// Searches are complete meanwhile but
	// scan what waits: smaller values make searches during full-speed
	// ingest faster and ingest slower (docs/performance.md). 0: the
	// defaults, 200,000 and 2s.
	TimelineBatch int           `yaml:"timeline_batch"`
	TimelineDelay time.Duration `yaml:"timeline_delay"`
}

// Timeline pacing bounds. The store keeps at most 500,000 waiting events in
// memory (sqlstore's maxKept), beyond which the indexer reads the archive
// again: a batch of half that leaves room for what arrives during a step.
const (
	MinTimelineBatch = 1_000
	MaxTimelineBatch = 250_000
	MinTimelineDelay = 100 * time.Millisecond
	MaxTimelineDelay = time.Minute
)

// Retention is how long archived events are kept, by event time: a
// default and per-tenant overrides. Zero keeps them forever.
type Retention struct {
	Events  time.Duration            `yaml:"events"`
	Tenants map[string]time.Duration `yaml:"tenants"`
}

// For returns the retention of tenant's events (0: forever).
func (r Retention) For(tenant string) time.Duration {
	if d, ok := r.Tenants[tenant]; ok {
		return d
	}
	return r.Events
}

// Tenant holds one tenant's overrides.
type Tenant struct {
	Detectors map[string]yaml.Node `yaml:"detectors"`
}

// maxFileBytes bounds a configuration file.
const maxFileBytes = 8 << 20

// Load reads and validates a configuration file.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.dir = filepath.Dir(path)
	return c, nil
}

// Parse reads a configuration from r.
func Parse(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxFileBytes)
	}
	c := &Config{}
	if err := strict(data, c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// strict decodes YAML rejecting unknown keys. An empty document is fine.
func strict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (c *Config) validate() error {
	e := c.Engine
	switch {
	case e.Shards < 0 || e.Shards > 1024:
		return fmt.Errorf("engine.shards must be between 0 (one per CPU) and 1024, got %d", e.Shards)
	case e.Lateness < 0 || e.Lateness > 24*time.Hour:
		return fmt.Errorf("engine.lateness must be between 0 and 24h, got %v", e.Lateness)
	case e.DedupWindow < 0 || e.DedupWindow > 7*24*time.Hour:
		return fmt.Errorf("engine.dedup_window must be between 0 and 168h, got %v", e.DedupWindow)
	case e.SnapshotInterval > 0 && (e.SnapshotInterval < time.Second || e.SnapshotInterval > 24*time.Hour):
		return fmt.Errorf("engine.snapshot_interval must be between 1s and 24h (0: every 5m, negative: never), got %v", e.SnapshotInterval)
	case e.Nice() < 0 || e.Nice() > 19:
		return fmt.Errorf("engine.worker_nice must be between 0 (off) and 19, got %d", e.Nice())
	}
	for name := range c.Tenants {
		if name == "" {
			return errors.New("tenants: a tenant name must not be empty")
		}
	}
	for name, d := range c.Retention.Tenants {
		if d < 0 || name == "" {
			return fmt.Errorf("retention.tenants.%s: want a tenant name and a duration of 0 (forever) or more", name)
		}
	}
	switch c.Store.Synchronous {
	case "", "full", "normal":
	default:
		return fmt.Errorf("store.synchronous: %q is not full or normal", c.Store.Synchronous)
	}
	if b := c.Store.TimelineBatch; b != 0 && (b < MinTimelineBatch || b > MaxTimelineBatch) {
		return fmt.Errorf("store.timeline_batch must be 0 (the default) or between %d and %d events, got %d", MinTimelineBatch, MaxTimelineBatch, b)
	}
	if d := c.Store.TimelineDelay; d != 0 && (d < MinTimelineDelay || d > MaxTimelineDelay) {
		return fmt.Errorf("store.timeline_delay must be 0 (the default) or between %v and %v, got %v", MinTimelineDelay, MaxTimelineDelay, d)
	}
	if c.Retention.Events < 0 {
		return fmt.Errorf("retention.events must be 0 (forever) or more, got %v", c.Retention.Events)
	}
	if err := sink.Validate(c.Sinks); err != nil {
		return err
	}
	if err := c.Ingest.validate(); err != nil {
		return err
	}
	if err := c.Privacy.validate(); err != nil {
		return err
	}
	if err := c.validateModes(); err != nil {
		return err
	}
	if err := c.Gate.Validate(); err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	if err := c.Auth.WithDefaults().Validate(); err != nil {
		return fmt.Errorf("auth.%w", err)
	}
	for i := range c.Suppressions {
		if err := c.Suppressions[i].Validate(); err != nil {
			return fmt.Errorf("suppressions[%d]: %w", i, err)
		}
	}
	return nil
}

// Path resolves a path from the file relative to the file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// DetectorIDs lists the detector ids the file configures anywhere.
func (c *Config) DetectorIDs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(m map[string]yaml.Node) {
		for id := range m {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	add(c.Detectors)
	for _, t := range c.Tenants {
		add(t.Detectors)
	}
	return out
}

// Decode fills dst (a detector's configuration, already holding its
// defaults) from the detector's section, strictly. It does nothing when the
// file has no section for id.
func (c *Config) Decode(id string, dst any) error {
	n, ok := c.Detectors[id]
	if !ok {
		return nil
	}
	return decodeNode(&n, dst, "detectors."+id)
}

// DecodeTenants calls each(tenant, decode) for every tenant that overrides
// detector id; decode fills a copy of the detector's configuration.
func (c *Config) DecodeTenants(id string, each func(tenant string, decode func(dst any) error) error) error {
	for name, t := range c.Tenants {
		n, ok := t.Detectors[id]
		if !ok {
			continue
		}
		where := "tenants." + name + ".detectors." + id
		if err := each(name, func(dst any) error { return decodeNode(&n, dst, where) }); err != nil {
			return err
		}
	}
	return nil
}

func decodeNode(n *yaml.Node, dst any, where string) error {
	n = withoutMode(n) // the engine's, not the detector's (see DetectorModes)
	// Re-encode so the strict decoder (unknown keys are errors) applies;
	// line numbers in errors are those of the section.
	data, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if err := strict(data, dst); err != nil {
		return fmt.Errorf("%s (line %d of the file): %w", where, n.Line, err)
	}
	return nil
}

// modeKey may open any detector section, for every tenant or one: enabled,
// shadow (stored, not raised) or off. The engine applies it, so it is kept
// out of the detector's own settings.
const modeKey = "mode"

// withoutMode returns n without its mode key (n itself when it has none).
func withoutMode(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return n
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == modeKey {
			c := *n
			c.Content = append(append([]*yaml.Node{}, n.Content[:i]...), n.Content[i+2:]...)
			return &c
		}
	}
	return n
}

// modeOf returns the section's mode, "" when it names none.
func modeOf(n *yaml.Node) (string, int) {
	if n.Kind != yaml.MappingNode {
		return "", 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == modeKey {
			v := n.Content[i+1]
			return v.Value, v.Line
		}
	}
	return "", 0
}

func (c *Config) validateModes() error {
	check := func(where string, n yaml.Node) error {
		m, line := modeOf(&n)
		if line == 0 {
			return nil
		}
		if _, err := alert.ParseMode(m); err != nil {
			return fmt.Errorf("%s.mode (line %d): %q is not enabled, shadow or off", where, line, m)
		}
		return nil
	}
	for id, n := range c.Detectors {
		if err := check("detectors."+id, n); err != nil {
			return err
		}
	}
	for name, t := range c.Tenants {
		for id, n := range t.Detectors {
			if err := check("tenants."+name+".detectors."+id, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// DetectorModes returns the mode each detector section names (detector id
// → mode) and each tenant's (tenant → detector id → mode). Sections
// without a mode are left out.
func (c *Config) DetectorModes() (map[string]alert.Mode, map[string]map[string]alert.Mode) {
	def := map[string]alert.Mode{}
	for id, n := range c.Detectors {
		if m, line := modeOf(&n); line > 0 {
			def[id], _ = alert.ParseMode(m)
		}
	}
	tenants := map[string]map[string]alert.Mode{}
	for name, t := range c.Tenants {
		for id, n := range t.Detectors {
			if m, line := modeOf(&n); line > 0 {
				if tenants[name] == nil {
					tenants[name] = map[string]alert.Mode{}
				}
				tenants[name][id], _ = alert.ParseMode(m)
			}
		}
	}
	return def, tenants
}

// TenantSettings reports whether the tenant's section for detector id
// holds settings beyond its mode.
func (c *Config) TenantSettings(tenant, id string) bool {
	n, ok := c.Tenants[tenant].Detectors[id]
	if !ok {
		return false
	}
	w := withoutMode(&n)
	return w.Kind != yaml.MappingNode || len(w.Content) > 0
}
