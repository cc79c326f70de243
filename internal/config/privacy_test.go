package config

import (
	"strings"
	"testing"
)

func TestPrivacy(t *testing.T) {
	c, err := Parse(strings.NewReader(`
privacy:
  enabled: true
  key_file: vigil.key
  fields:
    ips: false
  location_decimals: 3
  vault: true
  tenants:
    fleet-b:
      fields: {ips: true, units: false}
      location_decimals: 2
    lab:
      enabled: false
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Privacy
	a, b, lab := p.For("fleet-a"), p.For("fleet-b"), p.For("lab")
	if !a.Enabled || On(a.Fields.IPs) || !On(a.Fields.VINs) || !On(a.Fields.Units) || a.LocationDecimals != 3 {
		t.Errorf("fleet-a (defaults): %+v", a)
	}
	if !b.Enabled || !On(b.Fields.IPs) || On(b.Fields.Units) || !On(b.Fields.Emails) || b.LocationDecimals != 2 {
		t.Errorf("fleet-b (overrides): %+v", b)
	}
	if lab.Enabled || lab.LocationDecimals != 3 {
		t.Errorf("lab: %+v", lab)
	}
	if !p.Pseudonymises() || !p.Vault {
		t.Errorf("privacy %+v", p)
	}
}

func TestPrivacyRejects(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"privacy:\n  enabled: true\n", "vigil privacy keygen"},
		{"privacy:\n  tenants:\n    x:\n      enabled: true\n", "key_file is required"},
		{"privacy:\n  location_decimals: 9\n", "location_decimals"},
		{"privacy:\n  tenants:\n    x:\n      location_decimals: -1\n", "privacy.tenants.x.location_decimals"},
		{"privacy:\n  vault: true\n", "not enabled"},
		{"privacy:\n  fields:\n    ssn: false\n", "ssn"},
		{"privacy:\n  enabled: yes please\n", "line 2"},
	} {
		_, err := Parse(strings.NewReader(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error naming %q", c.yaml, err, c.want)
		}
	}
	// Rounding alone needs no key.
	if _, err := Parse(strings.NewReader("privacy:\n  location_decimals: 3\n")); err != nil {
		t.Errorf("location only: %v", err)
	}
}
