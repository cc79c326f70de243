package app

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/config"
)

// TestUsersCreateCommand: `vigil users create` makes the first user from a
// password on standard input, which then signs in to a server on the same
// store; a weak or missing password is refused with a clear message.
func TestUsersCreateCommand(t *testing.T) {
	dir := t.TempDir()
	run := func(stdin string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"users", "create", "--data-dir", dir}, args...), strings.NewReader(stdin), &out, &errb)
		return code, out.String() + errb.String()
	}
	cases := []struct {
		name, stdin string
		args        []string
		code        int
		says        string
	}{
		{"no password", "", []string{"--name", "ana", "--role", "admin", "--tenants", "*"}, 2, "no password on standard input"},
		{"a weak one", "Password2024!\n", []string{"--name", "ana", "--role", "admin", "--tenants", "*"}, 1, "most common passwords"},
		{"a machine role", "tulip lantern orbit 7\n", []string{"--name", "ana", "--role", "gate", "--tenants", "*"}, 1, "for machines"},
		{"no tenants", "tulip lantern orbit 7\n", []string{"--name", "ana", "--role", "admin"}, 2, "required"},
		{"the first admin", "tulip lantern orbit 7\r\nignored second line\n", []string{"--name", "Ana", "--role", "admin", "--tenants", "*"}, 0, "user ana created"},
		{"twice", "tulip lantern orbit 7\n", []string{"--name", "ana", "--role", "viewer", "--tenants", "fleet-a"}, 1, "exists already"},
	}
	for _, c := range cases {
		code, out := run(c.stdin, c.args...)
		if code != c.code || !strings.Contains(out, c.says) {
			t.Errorf("%s: exit %d, want %d; output %q should say %q", c.name, code, c.code, out, c.says)
		}
		if strings.Contains(out, "tulip") {
			t.Errorf("%s: the password is echoed: %q", c.name, out)
		}
	}
	ts := startServer(t, dir)
	req, _ := http.NewRequest("POST", ts.base+"/v1/session", strings.NewReader(`{"user":"ana","password":"tulip lantern orbit 7"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 {
		t.Fatalf("signing in as the user the command made: %d", resp.StatusCode)
	}
}

// TestUsersAuthConfig: the auth: section of the configuration file is
// strict, its durations and rates parse, and a bad value names its key.
func TestUsersAuthConfig(t *testing.T) {
	c, err := config.Parse(strings.NewReader(`
auth:
  session_idle: 10m
  session_lifetime: 8h
  sign_in_per_client: {per_second: 0.5, burst: 5}
  requests: {per_second: 20, burst: 40}
  trusted_proxies: [127.0.0.1, "10.0.0.0/8"]
  password_hash: {memory_mib: 32, time: 3, threads: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Auth.WithDefaults()
	if a.SessionIdle != 10*time.Minute || a.SessionLifetime != 8*time.Hour || a.SignInPerClient != (auth.Rate{PerSecond: 0.5, Burst: 5}) ||
		a.Requests.Burst != 40 || len(a.TrustedProxies) != 2 || a.Params().MemoryKiB != 32<<10 || a.Params().Time != 3 || a.LockoutAfter != 5 {
		t.Errorf("parsed %+v", a)
	}
	for doc, want := range map[string]string{
		"auth:\n  session_idel: 10m\n":                 "session_idel",
		"auth:\n  session_idle: 5s\n":                  "auth.session_idle",
		"auth:\n  requests: {per_second: -1}\n":        "auth.requests.per_second",
		"auth:\n  trusted_proxies: [nonsense]\n":       "auth.trusted_proxies",
		"auth:\n  password_hash: {memory_mib: 4096}\n": "auth.password_hash.memory_mib",
	} {
		if _, err := config.Parse(strings.NewReader(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", doc, err, want)
		}
	}
}
