package auth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-project/vigil/internal/clientconf"
	"github.com/vigil-project/vigil/internal/store"
)

// OIDCConfig is auth.oidc: sign-in with an OpenID Connect provider
// (Keycloak, Entra ID, Okta, Google, …) besides passwords. The provider
// vouches for who the user is; this table decides what they may do in
// vigil, from the groups the provider puts in the ID token.
type OIDCConfig struct {
	// Name is shown on the sign-in button, "Sign in with <Name>"
	// (default: the issuer's host).
	Name string `yaml:"name"`
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document (<issuer>/.well-known/openid-configuration) states it.
	Issuer string `yaml:"issuer"`
	// ClientID and the client secret, from a file or an environment
	// variable (never in this file), of vigil's registration at the
	// provider as a confidential client.
	ClientID         string `yaml:"client_id"`
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	// RedirectURL is vigil's callback as registered at the provider:
	// https://<vigil's address>/v1/session/oidc/callback.
	RedirectURL string `yaml:"redirect_url"`
	// Scopes asked for besides openid (default profile and email).
	Scopes []string `yaml:"scopes"`
	// UsernameClaim names the user in vigil (default preferred_username;
	// then a verified email; then a digest of the subject).
	UsernameClaim string `yaml:"username_claim"`
	// GroupsClaim is the ID token claim listing the user's groups or roles
	// (default groups).
	GroupsClaim string `yaml:"groups_claim"`
	// Groups maps a group to a role and tenants. A user in groups of
	// several roles gets the highest, over the tenants of the groups that
	// give it.
	Groups map[string]OIDCGrant `yaml:"groups"`
	// Default is the grant of a user in no mapped group; without it such
	// a user is refused.
	Default *OIDCGrant `yaml:"default"`
	// TLS for the provider's endpoints (a private CA, a client
	// certificate); default: the system's roots.
	TLS clientconf.TLS `yaml:"tls"`
}

// OIDCGrant is what a group gives: one role of people and its tenants.
type OIDCGrant struct {
	Role    string   `yaml:"role"`
	Tenants []string `yaml:"tenants"`
}

// CallbackPath is where the provider sends the browser back.
const CallbackPath = "/v1/session/oidc/callback"

// Bounds on what the configuration and the provider's claims may hold.
const (
	maxOIDCScopes  = 20
	maxOIDCGroups  = 1000 // mapped groups in the configuration
	maxGrantTen    = 100
	maxClaimName   = 128
	maxGroupLen    = 256
	maxOIDCNameLen = 64
)

// userRoles are the roles a person may have, lowest first.
var userRoles = []string{"viewer", "analyst", "admin"}

// withDefaults fills the optional fields.
func (c OIDCConfig) withDefaults() OIDCConfig {
	if c.Name == "" {
		if u, err := url.Parse(c.Issuer); err == nil {
			c.Name = u.Hostname()
		}
	}
	if c.Scopes == nil {
		c.Scopes = []string{"profile", "email"}
	}
	if c.UsernameClaim == "" {
		c.UsernameClaim = "preferred_username"
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	return c
}

// validate checks c after withDefaults; errors name the setting under
// auth.oidc.
func (c OIDCConfig) validate() error {
	if err := checkEndpoint("issuer", c.Issuer); err != nil {
		return err
	}
	if err := checkEndpoint("redirect_url", c.RedirectURL); err != nil {
		return err
	}
	if u, _ := url.Parse(c.RedirectURL); u.Path != CallbackPath {
		return fmt.Errorf("oidc.redirect_url %q: the path must be %s (vigil's callback), as registered at the provider", c.RedirectURL, CallbackPath)
	}
	if !printable(c.ClientID, 256) || c.ClientID == "" {
		return errors.New("oidc.client_id: give vigil's client id at the provider (at most 256 printable characters)")
	}
	if (c.ClientSecretFile == "") == (c.ClientSecretEnv == "") {
		return errors.New("oidc: give the client secret in client_secret_file or client_secret_env (one of them)")
	}
	if !printable(c.Name, maxOIDCNameLen) || strings.TrimSpace(c.Name) == "" {
		return fmt.Errorf("oidc.name %.80q: 1 to %d printable characters", c.Name, maxOIDCNameLen)
	}
	if len(c.Scopes) > maxOIDCScopes {
		return fmt.Errorf("oidc.scopes: at most %d", maxOIDCScopes)
	}
	for _, s := range c.Scopes {
		if s == "" || len(s) > 128 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' || r == '\\' }) {
			return fmt.Errorf("oidc.scopes: %.80q is not a scope (printable ASCII, no spaces or quotes)", s)
		}
	}
	for what, claim := range map[string]string{"username_claim": c.UsernameClaim, "groups_claim": c.GroupsClaim} {
		if !printable(claim, maxClaimName) {
			return fmt.Errorf("oidc.%s %.80q: at most %d printable characters", what, claim, maxClaimName)
		}
	}
	if len(c.Groups) == 0 && c.Default == nil {
		return errors.New("oidc: map groups to roles (groups:) or give a default role (default:), or nobody could sign in")
	}
	if len(c.Groups) > maxOIDCGroups {
		return fmt.Errorf("oidc.groups: at most %d", maxOIDCGroups)
	}
	for g, grant := range c.Groups {
		if g == "" || len(g) > maxGroupLen {
			return fmt.Errorf("oidc.groups: %.80q: a group name has 1 to %d bytes", g, maxGroupLen)
		}
		if err := grant.validate(); err != nil {
			return fmt.Errorf("oidc.groups.%s: %w", g, err)
		}
	}
	if c.Default != nil {
		if err := c.Default.validate(); err != nil {
			return fmt.Errorf("oidc.default: %w", err)
		}
	}
	return nil
}

func (g OIDCGrant) validate() error {
	if !slices.Contains(userRoles, g.Role) {
		return fmt.Errorf("role %q: want admin, analyst or viewer (ingest and gate are for API keys)", g.Role)
	}
	if len(g.Tenants) == 0 || len(g.Tenants) > maxGrantTen {
		return fmt.Errorf("tenants: name 1 to %d tenants, or * for every tenant", maxGrantTen)
	}
	for _, t := range g.Tenants {
		if t != "*" && !store.ValidTenant(t) {
			return fmt.Errorf("tenants: %q is not a tenant name (1 to 64 letters, digits, '.', '_' or '-') or *", t)
		}
	}
	if slices.Contains(g.Tenants, "*") && len(g.Tenants) > 1 {
		return errors.New("tenants: * already means every tenant: give it alone")
	}
	return nil
}

// checkEndpoint accepts an absolute https URL, or http to a loopback host
// (a provider or a console on the same machine).
func checkEndpoint(what, s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return fmt.Errorf("oidc.%s is required", what)
	case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("oidc.%s %.200q: want an absolute URL without user, query or fragment", what, s)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("oidc.%s %.200q: must be https (plain http only to a loopback address)", what, s)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func printable(s string, max int) bool {
	return len(s) <= max && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// Grant decides what a user in groups may do: the highest role of the
// mapped groups, over the tenants of the groups that give that role (a
// lower grant's tenants never rise to the higher role), else the default.
// ok is false when nothing applies. matched are the mapped groups used.
func (c OIDCConfig) Grant(groups []string) (role string, tenants, matched []string, ok bool) {
	best := -1
	for _, g := range groups {
		grant, found := c.Groups[g]
		if !found {
			continue
		}
		r := slices.Index(userRoles, grant.Role)
		switch {
		case r > best:
			best, tenants, matched = r, slices.Clone(grant.Tenants), []string{g}
		case r == best:
			tenants = append(tenants, grant.Tenants...)
			matched = append(matched, g)
		}
	}
	if best < 0 {
		if c.Default == nil {
			return "", nil, nil, false
		}
		return c.Default.Role, slices.Clone(c.Default.Tenants), nil, true
	}
	if slices.Contains(tenants, "*") {
		tenants = []string{"*"}
	}
	slices.Sort(tenants)
	slices.Sort(matched)
	return userRoles[best], slices.Compact(tenants), slices.Compact(matched), true
}

// claimStrings reads a claim that lists strings: a JSON array of strings or
// a single string. Entries that are not strings, empty or longer than a
// group name may be are skipped and counted in skipped.
func claimStrings(v any) (out []string, skipped int) {
	switch x := v.(type) {
	case nil:
	case string:
		if x != "" && len(x) <= maxGroupLen {
			return []string{x}, 0
		}
		return nil, 1
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok || s == "" || len(s) > maxGroupLen {
				skipped++
				continue
			}
			out = append(out, s)
		}
	default:
		skipped++
	}
	return out, skipped
}
