package credential

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// StuffingConfig configures the credential stuffing detector. Zero fields
// take the documented defaults.
type StuffingConfig struct {
	// Window is the sliding event-time window. Default 15m.
	Window time.Duration `yaml:"window"`
	// Accounts is how many distinct accounts or user names must be tried
	// from one IP or one subnet within the window. Default 20.
	Accounts int `yaml:"accounts"`
	// MaxSuccessRatio is the highest share of successful attempts that
	// still looks like replaying a leaked list. Default 0.2.
	MaxSuccessRatio float64 `yaml:"max_success_ratio"`
	// SubnetIPs is how many distinct addresses of one subnet must take part
	// for the subnet to alert (one busy address alerts on its own key).
	// Default 3.
	SubnetIPs int `yaml:"subnet_ips"`
	// Cooldown is the quiet time per IP or subnet after an alert. Default 30m.
	Cooldown time.Duration `yaml:"cooldown"`
	// MaxEvidence bounds the events named as evidence. Default 20.
	MaxEvidence int `yaml:"max_evidence"`
}

func (c *StuffingConfig) defaults() {
	if c.Window <= 0 {
		c.Window = 15 * time.Minute
	}
	if c.Accounts <= 0 {
		c.Accounts = 20
	}
	if c.MaxSuccessRatio <= 0 {
		c.MaxSuccessRatio = 0.2
	}
	if c.SubnetIPs <= 0 {
		c.SubnetIPs = 3
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 30 * time.Minute
	}
	if c.MaxEvidence <= 0 {
		c.MaxEvidence = 20
	}
}

// Stuffing raises credential-attack when one IP address, or several
// addresses of one subnet (/24, /48), try many distinct accounts or user
// names with a low success ratio: a leaked list of credentials replayed
// against the login. A success inside such a burst is critical: that
// account's password was in the list.
//
// Attempts are remembered once one of them failed, so an address that only
// ever succeeds costs nothing; successes before its first failure are not
// counted.
type Stuffing struct {
	cfg detect.PerTenant[StuffingConfig]
}

// NewStuffing returns the detector; cfg.Default applies to tenants without
// an entry of their own.
func NewStuffing(cfg detect.PerTenant[StuffingConfig]) *Stuffing {
	cfg = cfg.With((*StuffingConfig).defaults) // the caller's settings stay as they were
	return &Stuffing{cfg: cfg}
}

var _ detect.Detector = (*Stuffing)(nil)

// Info describes the detector.
func (d *Stuffing) Info() detect.Info {
	c := &d.cfg.Default
	return detect.Info{
		ID:       "cred.stuffing",
		Category: alert.CredentialAttack,
		Title:    "Credential stuffing",
		Description: fmt.Sprintf("%d or more distinct accounts or user names tried from one IP (or from %d or more addresses of one /24 or /48) "+
			"within %v with at most %.0f%% of attempts succeeding; a success inside the burst is critical.",
			c.Accounts, c.SubnetIPs, c.Window, c.MaxSuccessRatio*100),
		Subscribe: []detect.Subscription{
			{Kind: detect.KindIP, Types: []event.Type{event.TypeLogin}},
			{Kind: detect.KindSubnet, Types: []event.Type{event.TypeLogin}},
		},
	}
}

// OnEvent records the attempt and judges the window.
func (d *Stuffing) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	p, l := s.Principal, ev.Login
	ok := l.Result == event.ResultSuccess
	if p.Logins == nil {
		if ok {
			return
		}
		p.Logins = &twin.LoginWindow{}
	}
	cfg := d.cfg.For(c.Tenant)
	who, unknown := twin.HashID(l.Actor.Account), false
	if l.Actor.Account == "" {
		who, unknown = twin.HashID(l.UsernameHash)^userNameSalt, true
	}
	w := p.Logins
	w.Add(twin.LoginAttempt{At: ev.Time, Who: who, IP: l.Actor.IP, Account: l.Actor.Account, Ref: ev.Ref(), OK: ok,
		Unknown: unknown || l.Reason == event.ReasonUnknownUser}, int64(cfg.Window), 4*cfg.Accounts)
	inCooldown := w.LastAlert != 0 && ev.Time-w.LastAlert < int64(cfg.Cooldown)
	if inCooldown {
		if ok && w.LastHit < w.LastAlert {
			d.success(c, cfg, w, ev)
		}
		return
	}
	st := tally(w)
	if st.fails < cfg.Accounts || float64(st.ok) > cfg.MaxSuccessRatio*float64(st.total) {
		return
	}
	if st.accounts = distinctWho(w, cfg.Accounts); st.accounts < cfg.Accounts {
		return
	}
	st.ips = distinctIPs(w, cfg.SubnetIPs)
	if c.Kind == detect.KindSubnet && st.ips < cfg.SubnetIPs {
		return // one address: its own key tells it
	}
	st.accounts, st.ips = distinctWho(w, len(w.List)), distinctIPs(w, len(w.List)) // exact, for the explanation
	d.emit(c, cfg, w, ev, st)
}

// userNameSalt keeps the hash of a user name apart from that of an account
// id spelled the same.
const userNameSalt = 0x9e3779b97f4a7c15

type stuffingTally struct {
	total, ok, fails, unknown, accounts, ips int
}

func tally(w *twin.LoginWindow) stuffingTally {
	var st stuffingTally
	for i := range w.List {
		a := &w.List[i]
		st.total++
		switch {
		case a.OK:
			st.ok++
		case a.Unknown:
			st.unknown++
			st.fails++
		default:
			st.fails++
		}
	}
	return st
}

// distinctWho counts the distinct accounts tried, stopping at enough.
func distinctWho(w *twin.LoginWindow, enough int) int {
	n := 0
	for i := range w.List {
		seen := false
		for j := range i {
			if w.List[j].Who == w.List[i].Who {
				seen = true
				break
			}
		}
		if !seen {
			if n++; n >= enough {
				return n
			}
		}
	}
	return n
}

func distinctIPs(w *twin.LoginWindow, enough int) int {
	n := 0
	for i := range w.List {
		seen := false
		for j := range i {
			if w.List[j].IP == w.List[i].IP {
				seen = true
				break
			}
		}
		if !seen {
			if n++; n >= enough {
				return n
			}
		}
	}
	return n
}

// busiest is the address with the most attempts in the window.
func busiest(w *twin.LoginWindow) string {
	best, bestN := "", 0
	for i := range w.List {
		ip := w.List[i].IP
		if ip == best {
			continue
		}
		n := 0
		for j := range w.List {
			if w.List[j].IP == ip {
				n++
			}
		}
		if n > bestN {
			best, bestN = ip, n
		}
	}
	return best
}

func keyName(c *detect.Context) string {
	if c.Kind == detect.KindSubnet {
		return "subnet " + c.Key
	}
	return "IP " + c.Key
}

func (d *Stuffing) where(c *detect.Context, st stuffingTally) string {
	if c.Kind == detect.KindSubnet {
		return fmt.Sprintf("%d addresses of subnet %s", st.ips, c.Key)
	}
	return "IP " + c.Key
}

func (d *Stuffing) emit(c *detect.Context, cfg *StuffingConfig, w *twin.LoginWindow, ev *event.Event, st stuffingTally) {
	w.LastAlert, w.AlertFirst = ev.Time, w.List[0].At
	sev := event.SeverityHigh
	var hits []string
	hitAccount := ""
	for i := range w.List {
		if a := &w.List[i]; a.OK {
			hits = append(hits, a.Account+" (event "+a.Ref.ID+")")
			if hitAccount == "" {
				hitAccount = a.Account
			}
		}
	}
	expl := fmt.Sprintf("%d login attempts on %d distinct accounts or user names from %s within %s (threshold %d accounts in %v); "+
		"%d failed, %d of them for unknown user names; %d succeeded (%.1f%%, at most %.0f%% for stuffing).",
		st.total, st.accounts, d.where(c, st), fmtSpan(w.List[0].At, w.List[len(w.List)-1].At), cfg.Accounts, cfg.Window,
		st.fails, st.unknown, st.ok, 100*float64(st.ok)/float64(st.total), cfg.MaxSuccessRatio*100)
	ents := alert.Entities{IP: c.Key}
	if c.Kind == detect.KindSubnet {
		ents.IP = busiest(w)
	}
	if st.ok > 0 {
		sev = event.SeverityCritical
		w.LastHit = ev.Time
		ents.Account = hitAccount
		expl += " The logins that succeeded inside the burst used a leaked password: " + strings.Join(hits, ", ") + "."
	}
	refs := make([]event.Ref, 0, min(len(w.List), cfg.MaxEvidence))
	for i := range w.List {
		if len(refs) == cfg.MaxEvidence {
			break
		}
		refs = append(refs, w.List[i].Ref)
	}
	c.Emit(&alert.Alert{
		Detector: "cred.stuffing", Time: ev.Time, FirstSeen: w.List[0].At, LastSeen: ev.Time, Severity: sev,
		Title:       "Credential stuffing from " + d.where(c, st),
		Explanation: expl, Entities: ents, Evidence: refs,
	})
}

// success reports a login that succeeded inside a burst already told.
func (d *Stuffing) success(c *detect.Context, cfg *StuffingConfig, w *twin.LoginWindow, ev *event.Event) {
	w.LastHit = ev.Time
	l := ev.Login
	c.Emit(&alert.Alert{
		Detector: "cred.stuffing-success", Time: ev.Time, FirstSeen: w.AlertFirst, LastSeen: ev.Time,
		Severity: event.SeverityCritical,
		Title:    fmt.Sprintf("Login succeeded for %s during credential stuffing", l.Actor.Account),
		Explanation: fmt.Sprintf("Account %s logged in from %s at %s, inside a credential stuffing burst from %s alerted at %s: "+
			"its password was in the attacker's list.", l.Actor.Account, l.Actor.IP, fmtTime(ev.Time), keyName(c), fmtTime(w.LastAlert)),
		Entities: alert.Entities{Account: l.Actor.Account, IP: l.Actor.IP, Device: l.Actor.Device},
		Evidence: []event.Ref{ev.Ref()},
	})
}

// OnTimer is unused: the detector sets no timers.
func (d *Stuffing) OnTimer(*detect.Context, detect.State, int64) {}

func fmtSpan(first, last int64) string {
	return time.Duration(last - first).Round(time.Second).String()
}
