package auth

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	d := Config{}.WithDefaults()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if d.SessionIdle != 30*time.Minute || d.SessionLifetime != 12*time.Hour || d.LockoutAfter != 5 || d.LockoutMax != 15*time.Minute ||
		d.Requests != (Rate{50, 200}) || d.Params() != DefaultParams() {
		t.Errorf("defaults %+v", d)
	}
	cases := []struct {
		name   string
		change func(*Config)
		want   string // in the error
	}{
		{"idle too short", func(c *Config) { c.SessionIdle = time.Second }, "session_idle"},
		{"lifetime below idle", func(c *Config) { c.SessionLifetime = 10 * time.Minute }, "session_lifetime"},
		{"lockout max below base", func(c *Config) { c.LockoutMax = time.Second }, "lockout_max"},
		{"negative rate", func(c *Config) { c.Requests.PerSecond = -1 }, "requests.per_second"},
		{"negative burst", func(c *Config) { c.SignInPerClient.Burst = -3 }, "sign_in_per_client.burst"},
		{"bad proxy", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/33"} }, "trusted_proxies"},
		{"huge memory", func(c *Config) { c.PasswordHash.MemoryMiB = 1 << 20 }, "memory_mib"},
		{"small memory", func(c *Config) { c.PasswordHash.MemoryMiB = 1 }, "password_hash"},
	}
	for _, c := range cases {
		cfg := Config{}
		c.change(&cfg)
		err := cfg.WithDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
}

func TestClientKey(t *testing.T) {
	cases := map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
	}
	for in, want := range cases {
		if got := ClientKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	ps, err := ParseProxies([]string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32"})
	if err != nil || len(ps) != 3 || !ps[1].Contains(netip.MustParseAddr("192.0.2.1")) || ps[1].Contains(netip.MustParseAddr("192.0.2.2")) {
		t.Errorf("proxies %v %v", ps, err)
	}
}
