package credential

import (
	"fmt"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// PINConfig configures the PIN guessing detector. Zero fields take the
// documented defaults.
type PINConfig struct {
	// Window is the sliding event-time window. Default 10m.
	Window time.Duration `yaml:"window"`
	// Failures is how many wrong PINs on one device within the window make
	// guessing. Default 6: people mistype a PIN once or twice, apps lock
	// after three to five.
	Failures int `yaml:"failures"`
	// Cooldown is the quiet time per device after an alert. Default 30m.
	Cooldown time.Duration `yaml:"cooldown"`
	// MaxEvidence bounds the events named as evidence. Default 20.
	MaxEvidence int `yaml:"max_evidence"`
}

func (c *PINConfig) defaults() {
	if c.Window <= 0 {
		c.Window = 10 * time.Minute
	}
	if c.Failures <= 0 {
		c.Failures = 6
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 30 * time.Minute
	}
	if c.MaxEvidence <= 0 {
		c.MaxEvidence = 20
	}
}

// PIN raises credential-attack when one device (a phone and its app) fails
// the PIN again and again: someone holding the phone guesses it.
type PIN struct {
	cfg detect.PerTenant[PINConfig]
}

// NewPIN returns the detector; cfg.Default applies to tenants without an
// entry of their own.
func NewPIN(cfg detect.PerTenant[PINConfig]) *PIN {
	cfg = cfg.With((*PINConfig).defaults) // the caller's settings stay as they were
	return &PIN{cfg: cfg}
}

var _ detect.Detector = (*PIN)(nil)

// Info describes the detector.
func (d *PIN) Info() detect.Info {
	c := &d.cfg.Default
	return detect.Info{
		ID:          "cred.pin-guessing",
		Category:    alert.CredentialAttack,
		Title:       "PIN guessing on a device",
		Description: fmt.Sprintf("%d or more wrong PINs (bad_pin) on one device within %v.", c.Failures, c.Window),
		Subscribe:   []detect.Subscription{{Kind: detect.KindDevice, Types: []event.Type{event.TypeLogin}}},
	}
}

// badPIN reports whether l is a failed PIN entry.
func badPIN(l *event.Login) bool {
	return l.Result == event.ResultFailure && (l.Reason == event.ReasonBadPIN || (l.Reason == event.ReasonUnset && l.Method == event.MethodPIN))
}

// OnEvent counts wrong PINs per device.
func (d *PIN) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	l := ev.Login
	if !badPIN(l) {
		return
	}
	p := s.Principal
	if p.PIN == nil {
		p.PIN = &twin.DeviceFailures{}
	}
	cfg := d.cfg.For(c.Tenant)
	f := p.PIN
	f.Fails.Add(twin.Failure{At: ev.Time, Ref: ev.Ref(), Other: l.Actor.Account}, int64(cfg.Window), 2*cfg.Failures)
	n := len(f.Fails.List)
	if n < cfg.Failures || (f.LastAlert != 0 && ev.Time-f.LastAlert < int64(cfg.Cooldown)) {
		return
	}
	f.LastAlert = ev.Time
	first := f.Fails.List[0].At
	refs := make([]event.Ref, 0, min(n, cfg.MaxEvidence))
	for _, x := range f.Fails.List {
		if len(refs) == cfg.MaxEvidence {
			break
		}
		refs = append(refs, x.Ref)
	}
	c.Emit(&alert.Alert{
		Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: event.SeverityHigh,
		Title: "PIN guessing on device " + c.Key,
		Explanation: fmt.Sprintf("%d wrong PINs on device %s within %s (threshold %d in %v), for account %s from IP %s: "+
			"someone who holds the phone is guessing its PIN.", n, c.Key, fmtSpan(first, ev.Time), cfg.Failures, cfg.Window,
			orNone(l.Actor.Account), orNone(l.Actor.IP)),
		Entities: alert.Entities{Device: c.Key, Account: l.Actor.Account, IP: l.Actor.IP},
		Evidence: refs,
	})
}

// OnTimer is unused: the detector sets no timers.
func (d *PIN) OnTimer(*detect.Context, detect.State, int64) {}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
