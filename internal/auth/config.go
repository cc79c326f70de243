package auth

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config is the `auth:` section of the configuration file. Every field is
// optional; zero means the default (WithDefaults).
type Config struct {
	// SessionIdle ends a session unused this long (default 30m).
	SessionIdle time.Duration `yaml:"session_idle"`
	// SessionLifetime ends a session this long after sign-in, in use or
	// not (default 12h).
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	// MaxSessionsPerUser: a sign-in beyond it ends the user's oldest
	// session (default 10).
	MaxSessionsPerUser int `yaml:"max_sessions_per_user"`
	// LockoutAfter consecutive failed sign-ins lock the user name for
	// LockoutBase, doubled by each further failure up to LockoutMax
	// (defaults 5, 1m, 15m).
	LockoutAfter int           `yaml:"lockout_after"`
	LockoutBase  time.Duration `yaml:"lockout_base"`
	LockoutMax   time.Duration `yaml:"lockout_max"`
	// SignInPerClient is the token bucket of sign-in attempts per client
	// address (an IPv6 client is its /64) (default 0.2/s, burst 20).
	SignInPerClient Rate `yaml:"sign_in_per_client"`
	// Requests is the token bucket of API requests per credential, an API
	// key or a user's sessions (default 50/s, burst 200).
	Requests Rate `yaml:"requests"`
	// MachineRequests is the bucket of a key on the machine routes,
	// POST /v1/events and POST /v1/gate, whose producers legitimately send
	// thousands a second (default 20000/s, burst 40000).
	MachineRequests Rate `yaml:"machine_requests"`
	// TrustedProxies are addresses or CIDR prefixes of reverse proxies in
	// front of vigil: for a request from one of them, the client address is
	// the last X-Forwarded-For entry that is not a trusted proxy. Empty: the
	// connection's address is the client's.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// PasswordHash are argon2id's parameters for new hashes; a hash made
	// with others is replaced at the user's next sign-in.
	PasswordHash PasswordHash `yaml:"password_hash"`
	// OIDC turns on sign-in with an OpenID Connect provider (nil: off).
	OIDC *OIDCConfig `yaml:"oidc"`
}

// PasswordHash is argon2id's cost (defaults 64 MiB, 2 passes, 2 threads).
type PasswordHash struct {
	MemoryMiB uint32 `yaml:"memory_mib"`
	Time      uint32 `yaml:"time"`
	Threads   uint8  `yaml:"threads"`
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.SessionIdle, 30*time.Minute)
	def(&c.SessionLifetime, 12*time.Hour)
	def(&c.LockoutBase, time.Minute)
	def(&c.LockoutMax, 15*time.Minute)
	if c.MaxSessionsPerUser == 0 {
		c.MaxSessionsPerUser = 10
	}
	if c.LockoutAfter == 0 {
		c.LockoutAfter = 5
	}
	rate := func(r *Rate, perSecond float64, burst int) {
		if r.PerSecond == 0 {
			r.PerSecond = perSecond
		}
		if r.Burst == 0 {
			r.Burst = burst
		}
	}
	rate(&c.SignInPerClient, 0.2, 20)
	rate(&c.Requests, 50, 200)
	rate(&c.MachineRequests, 20000, 40000)
	d := DefaultParams()
	if c.PasswordHash.MemoryMiB == 0 {
		c.PasswordHash.MemoryMiB = d.MemoryKiB >> 10
	}
	if c.PasswordHash.Time == 0 {
		c.PasswordHash.Time = d.Time
	}
	if c.PasswordHash.Threads == 0 {
		c.PasswordHash.Threads = d.Threads
	}
	if c.OIDC != nil {
		o := c.OIDC.withDefaults() // a copy: the caller's stays as written
		c.OIDC = &o
	}
	return c
}

// Params are the argon2id parameters of c (after WithDefaults).
func (c Config) Params() Params {
	p := DefaultParams()
	p.MemoryKiB, p.Time, p.Threads = c.PasswordHash.MemoryMiB<<10, c.PasswordHash.Time, c.PasswordHash.Threads
	return p
}

// Validate checks c after WithDefaults; its errors name the setting.
func (c Config) Validate() error {
	switch {
	case c.SessionIdle < time.Minute || c.SessionIdle > 24*time.Hour:
		return fmt.Errorf("session_idle %v: want 1m to 24h", c.SessionIdle)
	case c.SessionLifetime < c.SessionIdle || c.SessionLifetime > 30*24*time.Hour:
		return fmt.Errorf("session_lifetime %v: want at least session_idle (%v) and at most 720h", c.SessionLifetime, c.SessionIdle)
	case c.MaxSessionsPerUser < 1 || c.MaxSessionsPerUser > 100:
		return fmt.Errorf("max_sessions_per_user %d: want 1 to 100", c.MaxSessionsPerUser)
	case c.LockoutAfter < 1 || c.LockoutAfter > 100:
		return fmt.Errorf("lockout_after %d: want 1 to 100 failures", c.LockoutAfter)
	case c.LockoutBase < time.Second || c.LockoutBase > time.Hour:
		return fmt.Errorf("lockout_base %v: want 1s to 1h", c.LockoutBase)
	case c.LockoutMax < c.LockoutBase || c.LockoutMax > 24*time.Hour:
		return fmt.Errorf("lockout_max %v: want at least lockout_base (%v) and at most 24h", c.LockoutMax, c.LockoutBase)
	}
	for _, r := range []struct {
		name string
		r    Rate
	}{{"sign_in_per_client", c.SignInPerClient}, {"requests", c.Requests}, {"machine_requests", c.MachineRequests}} {
		if err := r.r.validate(r.name); err != nil {
			return err
		}
	}
	if _, err := ParseProxies(c.TrustedProxies); err != nil {
		return err
	}
	if c.PasswordHash.MemoryMiB > MaxMemoryKiB>>10 {
		return fmt.Errorf("password_hash.memory_mib %d: want %d to %d", c.PasswordHash.MemoryMiB, MinMemoryKiB>>10, MaxMemoryKiB>>10)
	}
	if err := c.Params().Validate(); err != nil {
		return fmt.Errorf("password_hash: %w", err)
	}
	if c.OIDC != nil {
		return c.OIDC.validate()
	}
	return nil
}

// ParseProxies reads trusted proxy addresses and prefixes.
func ParseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: %q is not an address or a CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// ClientKey is the bucket key of a client address: the address, or for
// IPv6 its /64 (one host usually holds a whole /64).
func ClientKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
