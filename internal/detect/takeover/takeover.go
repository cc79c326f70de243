// Package takeover holds the detectors of account takeover: a stolen
// credential turned into control of a vehicle.
package takeover

import (
	"fmt"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// Config configures the takeover detector. Zero fields take the documented
// defaults.
type Config struct {
	// Window is how close in event time the steps of a takeover must be:
	// the contact or credential change, the new device or key, and the
	// command all lie within it. Default 30m.
	Window time.Duration `yaml:"window"`
	// PINFailures is how many wrong PINs on a device, within Window before
	// a command from that device, make a stolen phone. Default 4.
	PINFailures int `yaml:"pin_failures"`
	// NewDeviceWindow is how soon after a login from a device the account
	// never used an unlock from that device must follow. Default 10m.
	NewDeviceWindow time.Duration `yaml:"new_device_window"`
	// Warmup is how long an account must have been watched before a device
	// counts as never seen on it. Default 168h (a week).
	Warmup time.Duration `yaml:"warmup"`
	// Cooldown is the quiet time per account or device after an alert.
	// Default 1h.
	Cooldown time.Duration `yaml:"cooldown"`
	// IncludeConfirmed makes a change the previous contact confirmed a
	// step of a takeover too (told as medium). Off by default: an owner
	// with a new phone who resets a forgotten password through the known
	// e-mail goes through the same three steps.
	IncludeConfirmed bool `yaml:"include_confirmed"`
}

func (c *Config) defaults() {
	if c.Window <= 0 {
		c.Window = 30 * time.Minute
	}
	if c.PINFailures <= 0 {
		c.PINFailures = 4
	}
	if c.NewDeviceWindow <= 0 {
		c.NewDeviceWindow = 10 * time.Minute
	}
	if c.Warmup <= 0 {
		c.Warmup = 7 * 24 * time.Hour
	}
	if c.Cooldown <= 0 {
		c.Cooldown = time.Hour
	}
}

// Takeover raises account-takeover on three patterns:
//
//   - ato.change-device-command: on one account, a contact or credential
//     change (email, phone, password, password reset, MFA) and a new device
//     or digital key, then a remote command, all within the window. Critical
//     when the change was not confirmed through the previous contact, high
//     when nothing says; a confirmed change counts only with
//     IncludeConfirmed (then medium).
//   - ato.stolen-phone: wrong PINs on a device, then a remote command from
//     that device.
//   - ato.new-device-unlock: a login from a device the account never used,
//     directly followed by an unlock from it.
//
// An account keeps nothing until it changes a contact or credential or adds
// a device or key, and forgets it once the window has passed; the devices an
// account uses cost 32 bytes per account that logs in from one.
type Takeover struct {
	cfg detect.PerTenant[Config]
}

// New returns the detector; cfg.Default applies to tenants without an entry
// of their own.
func New(cfg detect.PerTenant[Config]) *Takeover {
	cfg = cfg.With((*Config).defaults) // the caller's settings stay as they were
	return &Takeover{cfg: cfg}
}

var _ detect.Detector = (*Takeover)(nil)

// Info describes the detector.
func (d *Takeover) Info() detect.Info {
	c := &d.cfg.Default
	return detect.Info{
		ID:       "ato.takeover",
		Category: alert.AccountTakeover,
		Title:    "Account takeover",
		Description: fmt.Sprintf("A contact, password or MFA change (not confirmed through the previous contact) and a new device or "+
			"digital key on one account, then a remote command by it, within %v (critical when the change was explicitly unconfirmed); "+
			"%d or more wrong PINs on a device, then a command from it within %v; a login from a device never seen on the account "+
			"(watched for %v or more) followed by an unlock from it within %v.", c.Window, c.PINFailures, c.Window, c.Warmup, c.NewDeviceWindow),
		Subscribe: []detect.Subscription{
			{Kind: detect.KindAccount, Types: []event.Type{event.TypeAccountChange, event.TypeLogin, event.TypeCommand}},
			{Kind: detect.KindDevice, Types: []event.Type{event.TypeLogin, event.TypeCommand}},
		},
	}
}

// OnEvent follows each account's and each device's steps.
func (d *Takeover) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	cfg := d.cfg.For(c.Tenant)
	p := s.Principal
	if c.Kind == detect.KindDevice {
		d.device(c, cfg, p, ev)
		return
	}
	switch ev.Type {
	case event.TypeAccountChange:
		d.change(c, cfg, p, ev)
	case event.TypeLogin:
		d.login(cfg, p, ev)
	case event.TypeCommand:
		d.command(c, cfg, p, ev)
	}
}

// sensitive reports whether a change hands the account to whoever made it.
func sensitive(k event.ChangeKind) bool {
	switch k {
	case event.ChangeEmail, event.ChangePhone, event.ChangePassword, event.ChangePasswordReset, event.ChangeMFA:
		return true
	}
	return false
}

func (d *Takeover) change(c *detect.Context, cfg *Config, p *twin.Principal, ev *event.Event) {
	ac := ev.AccountChange
	added := ac.Change == event.ChangeDeviceRegistered || ac.Change == event.ChangeDigitalKeyAdded
	if !added && (!sensitive(ac.Change) || (ac.ConfirmedByPreviousContact == event.True && !cfg.IncludeConfirmed)) {
		return
	}
	if ac.Change == event.ChangeDeviceRegistered && ac.Actor.Device != "" {
		// A registered device is one the account uses from now on.
		if p.Devices == nil {
			p.Devices = &twin.KnownDevices{}
		}
		p.Devices.Add(twin.DeviceHash(ac.Actor.Device))
	}
	t := d.trail(cfg, p, ev.Time)
	if t == nil {
		t = &twin.TakeoverTrail{}
		p.Takeover = t
		c.After(ev.Time + int64(cfg.Window)) // forget it then, even if the account goes quiet
	}
	if added {
		t.Added, t.AddedAt, t.AddedRef, t.AddedDevice = ac.Change, ev.Time, ev.Ref(), ac.Actor.Device
		return
	}
	t.Change, t.Confirmed, t.ChangeAt, t.ChangeRef, t.ChangeIP = ac.Change, ac.ConfirmedByPreviousContact, ev.Time, ev.Ref(), ac.Actor.IP
}

// trail returns the account's takeover trail, forgetting it once all its
// steps and its last alert's cooldown are older than the window.
func (d *Takeover) trail(cfg *Config, p *twin.Principal, now int64) *twin.TakeoverTrail {
	t := p.Takeover
	if t != nil && now-t.Newest() > int64(cfg.Window) && now-t.LastAlert > int64(cfg.Cooldown) {
		p.Takeover, t = nil, nil
	}
	return t
}

func (d *Takeover) command(c *detect.Context, cfg *Config, p *twin.Principal, ev *event.Event) {
	cmd := ev.Command
	if cmd.Stage != event.StageRequested {
		return
	}
	d.newDeviceCommand(c, cfg, p, ev)
	t := d.trail(cfg, p, ev.Time)
	if t == nil || t.Change == event.ChangeUnset || t.Added == event.ChangeUnset {
		return
	}
	if t.ChangeAt <= t.LastAlert || t.AddedAt <= t.LastAlert {
		return // told already: a later takeover needs steps of its own
	}
	w := int64(cfg.Window)
	first := min(t.ChangeAt, t.AddedAt)
	if ev.Time < t.Newest() || ev.Time-first > w {
		return
	}
	change, confirmed, changeAt, changeRef, changeIP := t.Change, t.Confirmed, t.ChangeAt, t.ChangeRef, t.ChangeIP
	added, addedAt, addedRef, addedDevice := t.Added, t.AddedAt, t.AddedRef, t.AddedDevice
	// The steps are told: the takeover's next commands do not tell them
	// again. They stay on the trail until the window has passed: the
	// command gate asks for a step-up while they are there, across a
	// restart too (the trail is in the snapshot).
	t.LastAlert = ev.Time
	sev, conf := event.SeverityHigh, "nothing says whether the previous contact confirmed it"
	switch confirmed {
	case event.False:
		sev, conf = event.SeverityCritical, "the previous contact did not confirm it"
	case event.True:
		sev, conf = event.SeverityMedium, "the previous contact confirmed it"
	}
	from, what := "", "a new device"
	if added == event.ChangeDigitalKeyAdded {
		what = "a new digital key"
	} else if addedDevice != "" && addedDevice == cmd.Actor.Device {
		from = " from that new device"
	}
	order := [2]event.Ref{changeRef, addedRef}
	if addedAt < changeAt {
		order = [2]event.Ref{addedRef, changeRef}
	}
	c.Emit(&alert.Alert{
		Detector: "ato.change-device-command", Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: sev,
		Title: fmt.Sprintf("Takeover of %s: %s change, %s, then %s", c.Key, change, what, cmd.Command),
		Explanation: fmt.Sprintf("Account %s: %s change at %s from IP %s (%s), %s at %s, then command %s to %s at %s%s: "+
			"three steps of a takeover within %s (window %v).",
			c.Key, change, fmtTime(changeAt), orNone(changeIP), conf, added, fmtTime(addedAt), cmd.Command, ev.Subject,
			fmtTime(ev.Time), from, fmtSpan(first, ev.Time), cfg.Window),
		Entities: alert.Entities{Account: c.Key, Vehicle: ev.Subject, Device: cmd.Actor.Device, IP: cmd.Actor.IP},
		Evidence: []event.Ref{order[0], order[1], ev.Ref()},
	})
}

// login learns the account's devices and notes a login from a new one.
func (d *Takeover) login(cfg *Config, p *twin.Principal, ev *event.Event) {
	l := ev.Login
	if l.Result != event.ResultSuccess || l.Actor.Device == "" {
		return
	}
	h := twin.DeviceHash(l.Actor.Device)
	k := p.Devices
	if k == nil {
		k = &twin.KnownDevices{}
		p.Devices = k
	}
	if k.Knows(h) {
		k.Add(h)
		return
	}
	established := k.N > 0 && p.FirstSeen != 0 && ev.Time-p.FirstSeen >= int64(cfg.Warmup)
	k.Add(h)
	if established {
		k.Pending = &twin.NewDeviceLogin{At: ev.Time, Device: l.Actor.Device, IP: l.Actor.IP, Ref: ev.Ref()}
	}
}

// newDeviceCommand judges the first command after a login from a new device.
func (d *Takeover) newDeviceCommand(c *detect.Context, cfg *Config, p *twin.Principal, ev *event.Event) {
	k := p.Devices
	if k == nil || k.Pending == nil {
		return
	}
	n, cmd := k.Pending, ev.Command
	if cmd.Actor.Device != n.Device {
		return // another device of the account: says nothing about the new one
	}
	k.Pending = nil // directly followed: only the first command counts
	if cmd.Command != event.CmdUnlock || ev.Time < n.At || ev.Time-n.At > int64(cfg.NewDeviceWindow) {
		return
	}
	c.Emit(&alert.Alert{
		Detector: "ato.new-device-unlock", Time: ev.Time, FirstSeen: n.At, LastSeen: ev.Time, Severity: event.SeverityHigh,
		Title: fmt.Sprintf("Unlock right after a login from a new device on %s", c.Key),
		Explanation: fmt.Sprintf("Account %s logged in at %s from device %s (IP %s), which it had never used in %s of history, "+
			"and its first command from it, %s after, unlocked %s (window %v).", c.Key, fmtTime(n.At), n.Device, orNone(n.IP),
			fmtSpan(p.FirstSeen, n.At), fmtSpan(n.At, ev.Time), ev.Subject, cfg.NewDeviceWindow),
		Entities: alert.Entities{Account: c.Key, Vehicle: ev.Subject, Device: n.Device, IP: cmd.Actor.IP},
		Evidence: []event.Ref{n.Ref, ev.Ref()},
	})
}

// device follows wrong PINs on a device and the commands sent from it.
func (d *Takeover) device(c *detect.Context, cfg *Config, p *twin.Principal, ev *event.Event) {
	w := int64(cfg.Window)
	switch ev.Type {
	case event.TypeLogin:
		l := ev.Login
		if l.Result != event.ResultFailure || (l.Reason != event.ReasonBadPIN && (l.Reason != event.ReasonUnset || l.Method != event.MethodPIN)) {
			return
		}
		if p.Phone == nil {
			p.Phone = &twin.DeviceFailures{}
		}
		p.Phone.Fails.Add(twin.Failure{At: ev.Time, Ref: ev.Ref(), Other: l.Actor.Account}, w, 4*cfg.PINFailures)
	case event.TypeCommand:
		f, cmd := p.Phone, ev.Command
		if f == nil || cmd.Stage != event.StageRequested {
			return
		}
		f.Fails.Prune(ev.Time, w)
		n := 0
		for _, x := range f.Fails.List {
			if x.At <= ev.Time {
				n++
			}
		}
		if n == 0 {
			p.Phone = nil
			return
		}
		if n < cfg.PINFailures || (f.LastAlert != 0 && ev.Time-f.LastAlert < int64(cfg.Cooldown)) {
			return
		}
		f.LastAlert = ev.Time
		first := f.Fails.List[0]
		defer func() { f.Fails.List = f.Fails.List[:0] }() // told: new guesses start over
		sev := event.SeverityHigh
		switch cmd.Command {
		case event.CmdUnlock, event.CmdEngineStart, event.CmdTrunkOpen, event.CmdKeyAdd:
			sev = event.SeverityCritical
		}
		refs := make([]event.Ref, 0, min(n, 10)+1)
		for _, x := range f.Fails.List[:min(n, 10)] {
			refs = append(refs, x.Ref)
		}
		refs = append(refs, ev.Ref())
		c.Emit(&alert.Alert{
			Detector: "ato.stolen-phone", Time: ev.Time, FirstSeen: first.At, LastSeen: ev.Time, Severity: sev,
			Title: fmt.Sprintf("Command %s from device %s after %d wrong PINs", cmd.Command, c.Key, n),
			Explanation: fmt.Sprintf("Device %s failed its PIN %d times between %s and %s (threshold %d within %v), "+
				"then account %s sent command %s to %s from it at %s: the phone is probably in someone else's hands.",
				c.Key, n, fmtTime(first.At), fmtTime(f.Fails.List[n-1].At), cfg.PINFailures, cfg.Window,
				orNone(cmd.Actor.Account), cmd.Command, ev.Subject, fmtTime(ev.Time)),
			Entities: alert.Entities{Device: c.Key, Account: cmd.Actor.Account, Vehicle: ev.Subject, IP: cmd.Actor.IP},
			Evidence: refs,
		})
	}
}

// OnTimer forgets an account's takeover trail once it is old, or looks
// again when the trail has moved on since the timer was set.
func (d *Takeover) OnTimer(c *detect.Context, s detect.State, deadline int64) {
	p := s.Principal
	if c.Kind != detect.KindAccount || p.Takeover == nil {
		return
	}
	cfg := d.cfg.For(c.Tenant)
	if t := d.trail(cfg, p, deadline+1); t != nil {
		c.After(max(t.Newest()+int64(cfg.Window), t.LastAlert+int64(cfg.Cooldown)))
	}
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func fmtSpan(first, last int64) string {
	return time.Duration(last - first).Round(time.Second).String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
