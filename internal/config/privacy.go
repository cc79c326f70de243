package config

import (
	"errors"
	"fmt"
)

// Privacy configures pseudonymisation at ingest, the re-identification
// vault and the location precision of the archive (docs/privacy.md).
type Privacy struct {
	// Enabled pseudonymises personal values before they are stored.
	// Default off.
	Enabled bool `yaml:"enabled"`
	// KeyFile holds the master secret (at least 32 random bytes; make one
	// with vigil privacy keygen FILE). Required when enabled.
	KeyFile string `yaml:"key_file"`
	// Fields turns single kinds of value off; every kind is on by default.
	Fields PrivacyFields `yaml:"fields"`
	// LocationDecimals rounds latitude and longitude in the archived copy
	// of each event (3 ≈ 110 m); 0 keeps full precision. Detection sees
	// the full precision of events as they arrive.
	LocationDecimals int `yaml:"location_decimals"`
	// Vault keeps each pseudonym's original, encrypted, for audited
	// re-identification (POST /v1/reidentify). Default off.
	Vault bool `yaml:"vault"`
	// Tenants override enabled, fields and location_decimals per tenant.
	Tenants map[string]PrivacyTenant `yaml:"tenants"`
}

// PrivacyFields says which kinds of personal value are pseudonymised;
// absent ones are.
type PrivacyFields struct {
	VINs     *bool `yaml:"vins"`     // subject, data.vehicle(s), the VIN signal
	Accounts *bool `yaml:"accounts"` // account ids and user name hashes
	Emails   *bool `yaml:"emails"`   // account ids that are e-mail addresses
	Phones   *bool `yaml:"phones"`   // SMS originators and recipients (not the gateway's own numbers)
	IPs      *bool `yaml:"ips"`      // actor and unit IP addresses
	Devices  *bool `yaml:"devices"`  // the actor's device
	Clients  *bool `yaml:"clients"`  // API client ids
	Units    *bool `yaml:"units"`    // the telematics unit's IMEI and ICCID
}

// PrivacyTenant is one tenant's overrides.
type PrivacyTenant struct {
	Enabled          *bool         `yaml:"enabled"`
	Fields           PrivacyFields `yaml:"fields"`
	LocationDecimals *int          `yaml:"location_decimals"`
}

// PrivacySettings are one tenant's effective settings.
type PrivacySettings struct {
	Enabled          bool
	Fields           PrivacyFields // every member set
	LocationDecimals int
}

// Over returns f with every member t sets replaced.
func (f PrivacyFields) Over(t PrivacyFields) PrivacyFields {
	pick := func(a, b *bool) *bool {
		if b != nil {
			return b
		}
		return a
	}
	return PrivacyFields{VINs: pick(f.VINs, t.VINs), Accounts: pick(f.Accounts, t.Accounts), Emails: pick(f.Emails, t.Emails),
		Phones: pick(f.Phones, t.Phones), IPs: pick(f.IPs, t.IPs), Devices: pick(f.Devices, t.Devices),
		Clients: pick(f.Clients, t.Clients), Units: pick(f.Units, t.Units)}
}

// On reports whether a member is on: set true, or absent.
func On(b *bool) bool { return b == nil || *b }

// For returns the tenant's effective settings.
func (p Privacy) For(tenant string) PrivacySettings {
	s := PrivacySettings{Enabled: p.Enabled, Fields: p.Fields, LocationDecimals: p.LocationDecimals}
	if t, ok := p.Tenants[tenant]; ok {
		if t.Enabled != nil {
			s.Enabled = *t.Enabled
		}
		s.Fields = s.Fields.Over(t.Fields)
		if t.LocationDecimals != nil {
			s.LocationDecimals = *t.LocationDecimals
		}
	}
	return s
}

// Pseudonymises reports whether any tenant pseudonymises.
func (p Privacy) Pseudonymises() bool {
	if p.Enabled {
		return true
	}
	for _, t := range p.Tenants {
		if t.Enabled != nil && *t.Enabled {
			return true
		}
	}
	return false
}

// maxLocationDecimals: 7 decimals is about a centimetre.
const maxLocationDecimals = 7

func (p Privacy) validate() error {
	decimals := func(where string, d int) error {
		if d < 0 || d > maxLocationDecimals {
			return fmt.Errorf("%s: %d: want 0 (full precision) to %d (3 ≈ 110 m)", where, d, maxLocationDecimals)
		}
		return nil
	}
	if err := decimals("privacy.location_decimals", p.LocationDecimals); err != nil {
		return err
	}
	for name, t := range p.Tenants {
		if name == "" {
			return errors.New("privacy.tenants: a tenant name must not be empty")
		}
		if t.LocationDecimals != nil {
			if err := decimals("privacy.tenants."+name+".location_decimals", *t.LocationDecimals); err != nil {
				return err
			}
		}
	}
	if p.Pseudonymises() && p.KeyFile == "" {
		return errors.New("privacy.key_file is required when pseudonymisation is enabled: it holds the master secret; " +
			"create one with: vigil privacy keygen FILE")
	}
	if p.Vault && !p.Pseudonymises() {
		return errors.New("privacy.vault keeps the originals of pseudonyms, and pseudonymisation is not enabled for any tenant: enable it or remove vault")
	}
	return nil
}
