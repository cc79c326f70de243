// Package credential holds the detectors of attacks on credentials.
package credential

import (
	"fmt"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// Config configures the login failure detector.
type Config struct {
	Window          time.Duration `yaml:"window"`           // sliding event-time window, default 10m
	AccountFailures int           `yaml:"account_failures"` // failures on one account that make brute force, default 10
	IPFailures      int           `yaml:"ip_failures"`      // failures from one IP that make brute force, default 20
	IPAccounts      int           `yaml:"ip_accounts"`      // distinct accounts failing from one IP that make spraying, default 10
	Cooldown        time.Duration `yaml:"cooldown"`         // quiet time per key after an alert, default 30m
	MaxEvidence     int           `yaml:"max_evidence"`     // failures named as evidence, default 20
}

// Failures raises credential-attack on repeated login failures: brute force
// on one account, brute force or password spraying from one IP, and a
// success on an account right after a burst of failures (critical).
type Failures struct {
	cfg              Config
	window, cooldown int64
	keep             int
}

// New returns the detector.
func New(cfg Config) *Failures {
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Minute
	}
	if cfg.AccountFailures <= 0 {
		cfg.AccountFailures = 10
	}
	if cfg.IPFailures <= 0 {
		cfg.IPFailures = 20
	}
	if cfg.IPAccounts <= 0 {
		cfg.IPAccounts = 10
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = 30 * time.Minute
	}
	if cfg.MaxEvidence <= 0 {
		cfg.MaxEvidence = 20
	}
	keep := max(cfg.AccountFailures, cfg.IPFailures, cfg.IPAccounts) * 2
	return &Failures{cfg: cfg, window: int64(cfg.Window), cooldown: int64(cfg.Cooldown), keep: keep}
}

var _ detect.Detector = (*Failures)(nil)

// Info describes the detector.
func (f *Failures) Info() detect.Info {
	return detect.Info{
		ID:       "cred.login-failures",
		Category: alert.CredentialAttack,
		Title:    "Repeated login failures",
		Description: fmt.Sprintf("%d or more failed logins on one account, %d or more from one IP, or %d or more accounts failing from one IP, within %v; "+
			"a success after such a burst is critical.", f.cfg.AccountFailures, f.cfg.IPFailures, f.cfg.IPAccounts, f.cfg.Window),
		Subscribe: []detect.Subscription{
			{Kind: detect.KindAccount, Types: []event.Type{event.TypeLogin}},
			{Kind: detect.KindIP, Types: []event.Type{event.TypeLogin}},
		},
	}
}

// OnEvent counts failures per account and per IP.
func (f *Failures) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	p, l := s.Principal, ev.Login
	if l.Result == event.ResultSuccess {
		if c.Kind == detect.KindAccount && p.Failures != nil {
			f.successAfterFailures(c, p, ev)
		}
		return
	}
	if p.Failures == nil {
		p.Failures = &twin.FailureWindow{}
	}
	other := l.Actor.IP // an account remembers where its failures came from
	if c.Kind == detect.KindIP {
		// an IP remembers which accounts it tried
		other = l.Actor.Account
		if other == "" {
			other = "username:" + l.UsernameHash
		}
	}
	p.Failures.Add(twin.Failure{At: ev.Time, Ref: ev.Ref(), Other: other}, f.window, f.keep)
	if p.LastAlert != 0 && ev.Time-p.LastAlert < f.cooldown {
		return
	}
	w := p.Failures
	n := len(w.List)
	switch c.Kind {
	case detect.KindAccount:
		if n >= f.cfg.AccountFailures {
			f.emit(c, p, ev, "cred.brute-force-account", event.SeverityHigh,
				fmt.Sprintf("Brute force on account %s", c.Key),
				fmt.Sprintf("%d failed logins on account %s within %s (threshold %d in %v), from %d distinct IP(s).",
					n, c.Key, span(w), f.cfg.AccountFailures, f.cfg.Window, w.Distinct()),
				alert.Entities{Account: c.Key, IP: l.Actor.IP})
		}
	case detect.KindIP:
		if accounts := w.Distinct(); accounts >= f.cfg.IPAccounts {
			f.emit(c, p, ev, "cred.password-spraying", event.SeverityHigh,
				fmt.Sprintf("Password spraying from %s", c.Key),
				fmt.Sprintf("%d distinct accounts failed to log in from IP %s within %s (threshold %d in %v), %d failures in all.",
					accounts, c.Key, span(w), f.cfg.IPAccounts, f.cfg.Window, n),
				alert.Entities{IP: c.Key})
		} else if n >= f.cfg.IPFailures {
			f.emit(c, p, ev, "cred.brute-force-ip", event.SeverityHigh,
				fmt.Sprintf("Brute force from %s", c.Key),
				fmt.Sprintf("%d failed logins from IP %s within %s (threshold %d in %v) against %d account(s).",
					n, c.Key, span(w), f.cfg.IPFailures, f.cfg.Window, accounts),
				alert.Entities{IP: c.Key, Account: l.Actor.Account})
		}
	}
}

func (f *Failures) successAfterFailures(c *detect.Context, p *twin.Principal, ev *event.Event) {
	w := p.Failures
	w.Prune(ev.Time, f.window)
	if len(w.List) < f.cfg.AccountFailures {
		return
	}
	n := len(w.List)
	f.emit(c, p, ev, "cred.success-after-failures", event.SeverityCritical,
		fmt.Sprintf("Login succeeded on %s after %d failures", c.Key, n),
		fmt.Sprintf("Account %s logged in successfully from IP %s at %s right after %d failed logins within %s (threshold %d in %v): "+
			"the credential was probably guessed.", c.Key, ev.Login.Actor.IP, fmtTime(ev.Time), n, span(w), f.cfg.AccountFailures, f.cfg.Window),
		alert.Entities{Account: c.Key, IP: ev.Login.Actor.IP, Device: ev.Login.Actor.Device})
	w.List = w.List[:0] // this burst is told; start over
}

func (f *Failures) emit(c *detect.Context, p *twin.Principal, ev *event.Event, id string, sev event.Severity, title, expl string, ents alert.Entities) {
	p.LastAlert = ev.Time
	w := p.Failures
	refs := make([]event.Ref, 0, min(len(w.List), f.cfg.MaxEvidence)+1)
	for _, x := range w.List {
		if len(refs) == f.cfg.MaxEvidence {
			break
		}
		refs = append(refs, x.Ref)
	}
	if ev.Login.Result == event.ResultSuccess {
		refs = append(refs, ev.Ref())
	}
	first := ev.Time
	if len(w.List) > 0 {
		first = w.List[0].At
	}
	c.Emit(&alert.Alert{
		Detector:    id,
		Time:        ev.Time,
		FirstSeen:   first,
		LastSeen:    ev.Time,
		Severity:    sev,
		Title:       title,
		Explanation: expl,
		Entities:    ents,
		Evidence:    refs,
	})
}

// OnTimer is unused: the detector sets no timers.
func (f *Failures) OnTimer(*detect.Context, detect.State, int64) {}

func span(w *twin.FailureWindow) string {
	if len(w.List) < 2 {
		return "0s"
	}
	return time.Duration(w.List[len(w.List)-1].At - w.List[0].At).Round(time.Second).String()
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
