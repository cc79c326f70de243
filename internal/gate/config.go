package gate

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigil-project/vigil/internal/event"
)

// Config is the gate's section of the configuration file (`gate:`). Zero
// fields take the documented defaults; Validate rejects impossible values.
type Config struct {
	Moving     MovingConfig     `yaml:"moving"`
	Links      LinksConfig      `yaml:"links"`
	StepUp     StepUpConfig     `yaml:"step_up"`
	Incidents  IncidentsConfig  `yaml:"incidents"`
	RateLimits RateLimitsConfig `yaml:"rate_limits"`
	Log        LogConfig        `yaml:"log"`
}

// MovingConfig says when a vehicle counts as moving. The defaults are those
// of the cmd.unsafe-command detector, so the gate refuses what the detector
// would alert on.
type MovingConfig struct {
	// MinSpeedKmh: a fix showing more than this is a moving vehicle.
	// Default 10.
	MinSpeedKmh float64 `yaml:"min_speed_kmh"`
	// MaxFixAge: how far from now the last fix may lie for its speed to
	// count. Default 2m.
	MaxFixAge time.Duration `yaml:"max_fix_age"`
	// MaxDriveGap: an older moving fix still counts up to this age while
	// the ignition is on (a tunnel, a dead spot). Default 10m.
	MaxDriveGap time.Duration `yaml:"max_drive_gap"`
	// Commands are refused while the vehicle moves. Default engine_stop
	// and immobilize; names outside the contract's list are allowed (a
	// TSP's own commands).
	Commands []string `yaml:"commands"`
}

// LinksConfig says who may command a vehicle.
type LinksConfig struct {
	// ExemptRoles are directory roles that may command any vehicle (the
	// privileged-misuse detectors watch them). Default staff and service.
	ExemptRoles []event.Role `yaml:"exempt_roles"`
	// TrustWithoutDirectory allows a principal that no account change
	// linked and no directory lists when no directory is configured at
	// all. Off by default: the gate denies what it cannot tie to the
	// vehicle.
	TrustWithoutDirectory bool `yaml:"trust_without_directory"`
}

// StepUpConfig says when the gate asks for a step-up authentication.
type StepUpConfig struct {
	// Window: a contact or credential change and a new device or digital
	// key on the account, both within this of each other and the newer
	// within this of now, make a step_up. Default 30m (the takeover
	// detector's window: its trail is forgotten after it).
	Window time.Duration `yaml:"window"`
}

// IncidentsConfig says which incidents stop commands.
type IncidentsConfig struct {
	// Refresh is how often the gate reloads the open critical incidents
	// from the store (also right after a critical alert is stored, when
	// wired). Default 1s.
	Refresh time.Duration `yaml:"refresh"`
	// MaxOpen bounds each tenant's open critical incidents kept in memory
	// (a load reads at most ten times as many rows in all). A tenant over
	// it gets 503 for its commands: the gate cannot see all its incidents.
	// Default 100,000.
	MaxOpen int `yaml:"max_open"`
}

// RateLimitsConfig bounds how many commands a principal and a vehicle may
// get through the gate.
type RateLimitsConfig struct {
	// Account applies to each account (or API client, when the request
	// names no account). Default 30 a minute, burst 10.
	Account RateLimit `yaml:"account"`
	// Vehicle applies to each vehicle. Default 20 a minute, burst 10.
	Vehicle RateLimit `yaml:"vehicle"`
	// MaxKeys bounds the buckets kept per kind; beyond it, idle buckets
	// are dropped and new keys are not limited until there is room.
	// Default 1,000,000.
	MaxKeys int `yaml:"max_keys"`
}

// RateLimit is a token bucket: PerMinute tokens a minute, at most Burst at
// once. Disabled turns it off.
type RateLimit struct {
	PerMinute float64 `yaml:"per_minute"`
	Burst     int     `yaml:"burst"`
	Disabled  bool    `yaml:"disabled"`
}

// LogConfig configures the decision log.
type LogConfig struct {
	// Recent is how many decisions GET /v1/gate/decisions can show.
	// Default 10,000.
	Recent int `yaml:"recent"`
	// MaxFileBytes rotates the NDJSON file at this size. Default 64 MiB.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// MaxFiles is how many rotated files are kept besides the current one.
	// Default 10.
	MaxFiles int `yaml:"max_files"`
	// SyncInterval is how often the file is flushed and fsynced.
	// Default 1s.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// Queue is how many decisions may wait for the file writer; a full
	// queue (a stalled disk) drops file records (counted and logged), never
	// the decision. Default 65,536.
	Queue int `yaml:"queue"`
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	m := &c.Moving
	if m.MinSpeedKmh == 0 {
		m.MinSpeedKmh = 10
	}
	if m.MaxFixAge == 0 {
		m.MaxFixAge = 2 * time.Minute
	}
	if m.MaxDriveGap == 0 {
		m.MaxDriveGap = 10 * time.Minute
	}
	if m.Commands == nil {
		m.Commands = []string{event.CmdEngineStop.String(), event.CmdImmobilize.String()}
	}
	if c.Links.ExemptRoles == nil {
		c.Links.ExemptRoles = []event.Role{event.RoleStaff, event.RoleService}
	}
	if c.StepUp.Window == 0 {
		c.StepUp.Window = 30 * time.Minute
	}
	if c.Incidents.Refresh == 0 {
		c.Incidents.Refresh = time.Second
	}
	if c.Incidents.MaxOpen == 0 {
		c.Incidents.MaxOpen = 100_000
	}
	r := &c.RateLimits
	if r.Account.PerMinute == 0 && r.Account.Burst == 0 {
		r.Account.PerMinute, r.Account.Burst = 30, 10
	}
	if r.Vehicle.PerMinute == 0 && r.Vehicle.Burst == 0 {
		r.Vehicle.PerMinute, r.Vehicle.Burst = 20, 10
	}
	if r.MaxKeys == 0 {
		r.MaxKeys = 1_000_000
	}
	l := &c.Log
	if l.Recent == 0 {
		l.Recent = 10_000
	}
	if l.MaxFileBytes == 0 {
		l.MaxFileBytes = 64 << 20
	}
	if l.MaxFiles == 0 {
		l.MaxFiles = 10
	}
	if l.SyncInterval == 0 {
		l.SyncInterval = time.Second
	}
	if l.Queue == 0 {
		l.Queue = 65_536
	}
	return c
}

// Validate reports the first impossible setting. The configuration loader
// calls it once; New calls it again.
func (c Config) Validate() error {
	d := c.withDefaults()
	m := d.Moving
	switch {
	case m.MinSpeedKmh < 0 || m.MinSpeedKmh > 300:
		return fmt.Errorf("moving.min_speed_kmh must be between 0 and 300, got %v", m.MinSpeedKmh)
	case m.MaxFixAge < 0 || m.MaxFixAge > time.Hour:
		return fmt.Errorf("moving.max_fix_age must be between 0 and 1h, got %v", m.MaxFixAge)
	case m.MaxDriveGap < m.MaxFixAge || m.MaxDriveGap > 24*time.Hour:
		return fmt.Errorf("moving.max_drive_gap must be between max_fix_age (%v) and 24h, got %v", m.MaxFixAge, m.MaxDriveGap)
	}
	for i, name := range m.Commands {
		if !validCommandName(name) {
			return fmt.Errorf("moving.commands[%d]: %q is not a command name (1 to 64 characters of a-z, 0-9, _, - or .)", i, name)
		}
	}
	if d.StepUp.Window < 0 || d.StepUp.Window > 7*24*time.Hour {
		return fmt.Errorf("step_up.window must be between 0 and 168h, got %v", d.StepUp.Window)
	}
	if d.Incidents.Refresh < 100*time.Millisecond || d.Incidents.Refresh > time.Hour {
		return fmt.Errorf("incidents.refresh must be between 100ms and 1h, got %v", d.Incidents.Refresh)
	}
	if d.Incidents.MaxOpen < 1 || d.Incidents.MaxOpen > 10_000_000 {
		return fmt.Errorf("incidents.max_open must be between 1 and 10,000,000, got %d", d.Incidents.MaxOpen)
	}
	for name, r := range map[string]RateLimit{"account": d.RateLimits.Account, "vehicle": d.RateLimits.Vehicle} {
		if r.Disabled {
			continue
		}
		if r.PerMinute <= 0 || r.PerMinute > 1e6 || r.Burst < 1 || r.Burst > 1e6 {
			return fmt.Errorf("rate_limits.%s: per_minute must be in (0, 1e6] and burst in [1, 1e6], got %v and %d (or set disabled: true)",
				name, r.PerMinute, r.Burst)
		}
	}
	if d.RateLimits.MaxKeys < 1 || d.RateLimits.MaxKeys > 100_000_000 {
		return fmt.Errorf("rate_limits.max_keys must be between 1 and 100,000,000, got %d", d.RateLimits.MaxKeys)
	}
	l := d.Log
	switch {
	case l.Recent < 1 || l.Recent > 1_000_000:
		return fmt.Errorf("log.recent must be between 1 and 1,000,000, got %d", l.Recent)
	case l.MaxFileBytes < 1<<20:
		return fmt.Errorf("log.max_file_bytes must be at least 1 MiB, got %d", l.MaxFileBytes)
	case l.MaxFiles < 1 || l.MaxFiles > 10_000:
		return fmt.Errorf("log.max_files must be between 1 and 10,000, got %d", l.MaxFiles)
	case l.SyncInterval < 10*time.Millisecond || l.SyncInterval > time.Minute:
		return fmt.Errorf("log.sync_interval must be between 10ms and 1m, got %v", l.SyncInterval)
	case l.Queue < 1 || l.Queue > 10_000_000:
		return errors.New("log.queue must be between 1 and 10,000,000")
	}
	return nil
}

// validCommandName reports whether s may name a command: the ingest
// contract's names and a TSP's own, in the same alphabet.
func validCommandName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
