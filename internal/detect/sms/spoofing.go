// Package sms holds the detectors of abuse of the SMS channel to vehicles.
package sms

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// Config configures the SMS spoofing detector.
type Config struct {
	// Gateways are the originators (MSISDNs, short codes) the TSP's SMS
	// gateway sends command SMS from. Empty: originators are not checked.
	Gateways []string `yaml:"gateways"`
	// Tenants replaces Gateways for the tenants it names.
	Tenants map[string][]string `yaml:"tenants"`
	// Window is how far apart in event time a command SMS and the back-end
	// vehicle.command behind it may be, either way. Default 2 minutes.
	Window time.Duration `yaml:"window"`
}

// Spoofing raises sms-spoofing on SMS sent to a vehicle (direction mt):
//
//   - a command or config SMS from an originator not on the gateway
//     allow-list (sms.unknown-originator);
//   - a command or config SMS whose authentication is invalid or absent
//     (sms.unauthenticated);
//   - any SMS carrying a nonce the vehicle was already sent: each vehicle
//     remembers its last twin.MaxNonces nonces (sms.replayed-nonce);
//   - a command or config SMS that passes those checks but has no back-end
//     vehicle.command for the vehicle within the window either side
//     (sms.no-backend-command), decided on event time once the window has
//     closed. When the SMS names a known command, the back-end command must
//     be of that kind.
//
// One alert per SMS names every problem found.
type Spoofing struct {
	window   int64
	gateways map[string]struct{}
	tenants  map[string]map[string]struct{}
}

// New returns the detector.
func New(cfg Config) *Spoofing {
	if cfg.Window <= 0 {
		cfg.Window = 2 * time.Minute
	}
	s := &Spoofing{window: int64(cfg.Window), gateways: set(cfg.Gateways), tenants: map[string]map[string]struct{}{}}
	for t, g := range cfg.Tenants {
		s.tenants[t] = set(g)
	}
	return s
}

func set(list []string) map[string]struct{} {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(list))
	for _, x := range list {
		m[x] = struct{}{}
	}
	return m
}

var _ detect.Detector = (*Spoofing)(nil)

// Info describes the detector.
func (s *Spoofing) Info() detect.Info {
	return detect.Info{
		ID:       "sms.spoofing",
		Category: alert.SMSSpoofing,
		Title:    "Spoofed SMS to a vehicle",
		Description: fmt.Sprintf("A command or config SMS to a vehicle from an originator not on the gateway allow-list (%d number(s)), "+
			"with invalid or absent authentication, or with no back-end command within %v either side; or any SMS that repeats one "+
			"of the last %d nonces sent to the vehicle.", len(s.gateways), time.Duration(s.window), twin.MaxNonces),
		Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeSMS, event.TypeCommand}}},
	}
}

// problem is one thing wrong with an SMS.
type problem struct {
	id, text string
}

// OnEvent checks an SMS, or closes the SMS findings a back-end command explains.
func (s *Spoofing) OnEvent(c *detect.Context, st detect.State, ev *event.Event) {
	v := st.Vehicle
	if ev.Type == event.TypeCommand {
		if m := v.MoreIfAny(); m != nil && len(m.Awaiting) > 0 {
			kind := ev.Command.Command
			m.Resolve(twin.AwaitSMSCommand, func(a *twin.Awaiting) bool {
				return ev.Time >= a.At-s.window && ev.Time <= a.Deadline && compatible(a.What, kind)
			})
		}
		return
	}
	m := ev.SMS
	if m.Direction != event.DirMT {
		return
	}
	commandLike := m.Kind == event.SMSCommand || m.Kind == event.SMSConfig
	var probs []problem
	if commandLike {
		if gw := s.allowed(c.Tenant); gw != nil {
			if _, ok := gw[m.Originator]; !ok {
				probs = append(probs, problem{"sms.unknown-originator",
					fmt.Sprintf("originator %s is not among the %d gateway number(s) allowed to send command SMS", orNone(m.Originator), len(gw))})
			}
		}
		switch m.Auth {
		case event.AuthInvalid:
			probs = append(probs, problem{"sms.unauthenticated", "the gateway found its authentication invalid"})
		case event.AuthAbsent, event.AuthUnset:
			probs = append(probs, problem{"sms.unauthenticated", "it carries no authentication"})
		}
	}
	if m.Nonce != "" {
		h := twin.HashID(m.Nonce)
		x := v.More()
		if x.Nonces.Seen(h) {
			probs = append(probs, problem{"sms.replayed-nonce",
				fmt.Sprintf("its nonce %s was already used in an SMS to this vehicle (a replay)", m.Nonce)})
		} else {
			x.Nonces.Add(h)
		}
	}
	if len(probs) > 0 {
		s.emit(c, ev, probs)
		return
	}
	if commandLike && !s.explained(v, ev.Time, m.Command) {
		x := v.More()
		a := twin.Awaiting{Kind: twin.AwaitSMSCommand, At: ev.Time, Deadline: ev.Time + s.window, Ref: ev.Ref(),
			Who: m.Originator, What: smsWhat(m)}
		if old, full := x.Await(a); full {
			s.absent(c, old)
		}
		c.After(a.Deadline)
	}
}

func (s *Spoofing) allowed(tenant string) map[string]struct{} {
	if g, ok := s.tenants[tenant]; ok {
		return g
	}
	return s.gateways
}

// explained reports whether a command transaction the twin knows lies
// within the window of time t and is of the kind the SMS names.
func (s *Spoofing) explained(v *twin.Vehicle, t int64, text string) bool {
	cmds := v.Commands()
	for i := range cmds {
		tx := &cmds[i]
		if tx.At <= t+s.window && tx.Last >= t-s.window && compatible(text, tx.Kind) {
			return true
		}
	}
	return false
}

// smsWhat is what a command SMS asks for, as stored in its finding.
func smsWhat(m *event.SMS) string {
	if m.Command != "" {
		return m.Command
	}
	return m.Kind.String()
}

// compatible reports whether a back-end command of kind k can be the one
// behind an SMS asking for text: always, unless text names a known command
// of another kind.
func compatible(text string, k event.CommandKind) bool {
	want := parseCommand(text)
	return want == event.CmdUnset || k == event.CmdUnset || k == event.CmdOther || want == k
}

func parseCommand(s string) event.CommandKind {
	for k := event.CmdUnlock; k < event.CmdOther; k++ {
		if k.String() == s {
			return k
		}
	}
	return event.CmdUnset
}

// OnTimer decides the command SMS whose window closed with no back-end command.
func (s *Spoofing) OnTimer(c *detect.Context, st detect.State, deadline int64) {
	m := st.Vehicle.MoreIfAny()
	if m == nil {
		return
	}
	m.Due(twin.AwaitSMSCommand, deadline, func(a twin.Awaiting) { s.absent(c, a) })
}

func (s *Spoofing) absent(c *detect.Context, a twin.Awaiting) {
	c.Emit(&alert.Alert{
		Detector:  "sms.no-backend-command",
		Time:      a.Deadline,
		FirstSeen: a.At,
		LastSeen:  a.At,
		Severity:  severityOf(a.What),
		Title:     fmt.Sprintf("Command SMS to %s with no back-end command", c.Key),
		Explanation: fmt.Sprintf("An SMS asking vehicle %s for %q came from %s at %s, but no back-end command of that kind for the vehicle "+
			"was seen between %s and %s (window %v either side, closed on event time): the SMS did not come from the command service.",
			c.Key, a.What, orNone(a.Who), fmtTime(a.At), fmtTime(a.At-s.window), fmtTime(a.Deadline), time.Duration(s.window)),
		Entities: alert.Entities{Vehicle: c.Key, MSISDN: a.Who},
		Evidence: []event.Ref{a.Ref},
	})
}

func (s *Spoofing) emit(c *detect.Context, ev *event.Event, probs []problem) {
	m := ev.SMS
	texts := make([]string, len(probs))
	for i, p := range probs {
		texts[i] = p.text
	}
	what := m.Kind.String() + " SMS"
	if m.Command != "" {
		what += fmt.Sprintf(" %q", m.Command)
	}
	c.Emit(&alert.Alert{
		Detector: probs[0].id,
		Time:     ev.Time,
		Severity: severityOf(m.Command),
		Title:    fmt.Sprintf("Spoofed SMS to %s", c.Key),
		Explanation: fmt.Sprintf("A %s from %s to vehicle %s (recipient %s) at %s is suspect: %s.",
			what, orNone(m.Originator), c.Key, orNone(m.Recipient), fmtTime(ev.Time), strings.Join(texts, "; ")),
		Entities: alert.Entities{Vehicle: c.Key, MSISDN: m.Originator},
		Evidence: []event.Ref{ev.Ref()},
	})
}

// severityOf is critical for SMS that ask for physical access or control.
func severityOf(command string) event.Severity {
	switch parseCommand(command) {
	case event.CmdUnlock, event.CmdEngineStart, event.CmdEngineStop, event.CmdImmobilize, event.CmdTrunkOpen, event.CmdKeyAdd:
		return event.SeverityCritical
	}
	return event.SeverityHigh
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
