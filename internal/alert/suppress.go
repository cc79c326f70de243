package alert

import (
	"fmt"
	"strings"
	"time"
)

// Suppression silences alerts an analyst has judged benign: a fleet
// manager's nightly lock-all, a partner's known bulk export. Every field set
// must match; Tenant and Reason are required. Suppressed alerts are counted,
// never lost silently.
type Suppression struct {
	Tenant   string    `yaml:"tenant"`   // a tenant, or "*" for every tenant
	Detector string    `yaml:"detector"` // the alert's detector id; a trailing * matches a prefix
	Category string    `yaml:"category"` // a category of the alert contract
	Entity   string    `yaml:"entity"`   // any entity value the alert names (vehicle, account, ip, …)
	Until    time.Time `yaml:"until"`    // event time after which it no longer applies; zero: no end
	Reason   string    `yaml:"reason"`   // why: shown in counters and kept for the audit
}

// Validate reports the first problem of a suppression.
func (s *Suppression) Validate() error {
	switch {
	case s.Tenant == "":
		return fmt.Errorf("tenant is required (use \"*\" for every tenant)")
	case s.Reason == "":
		return fmt.Errorf("reason is required: say why these alerts are benign")
	case s.Detector == "" && s.Category == "" && s.Entity == "":
		return fmt.Errorf("name a detector, a category or an entity: a suppression of everything is not allowed")
	}
	if s.Category != "" {
		if _, ok := ParseCategory(s.Category); !ok {
			return fmt.Errorf("category %q is not a category of the alert contract", s.Category)
		}
	}
	return nil
}

// Matches reports whether the suppression silences a.
func (s *Suppression) Matches(a *Alert) bool {
	if s.Tenant != "*" && s.Tenant != a.Tenant {
		return false
	}
	if !s.Until.IsZero() && a.Time > s.Until.UnixNano() {
		return false
	}
	if s.Category != "" && s.Category != a.Category.String() {
		return false
	}
	if d := s.Detector; d != "" {
		if p, ok := strings.CutSuffix(d, "*"); ok {
			if !strings.HasPrefix(a.Detector, p) {
				return false
			}
		} else if d != a.Detector {
			return false
		}
	}
	if s.Entity != "" && !names(a, s.Entity) {
		return false
	}
	return true
}

func names(a *Alert, v string) bool {
	e := &a.Entities
	if e.Vehicle == v || e.Account == v || e.Device == v || e.IP == v || e.ClientID == v || e.MSISDN == v {
		return true
	}
	for _, x := range e.Vehicles {
		if x == v {
			return true
		}
	}
	return false
}
