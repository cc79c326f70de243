package gate

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/event"
)

// CommandRequest asks whether a remote command may go to a vehicle.
type CommandRequest struct {
	Tenant  string `json:"tenant,omitempty"` // default "default"
	Vehicle string `json:"vehicle"`
	Command string `json:"command"` // a command name of the ingest contract, or the TSP's own
	Channel string `json:"channel,omitempty"`
	// CommandID is the TSP's id of the command, kept in the decision log
	// to tie the decision to the vehicle.command events that follow.
	CommandID string       `json:"command_id,omitempty"`
	Actor     CommandActor `json:"actor"`
}

// CommandActor is who asks for the command: an account or an API client at least.
type CommandActor struct {
	Account  string `json:"account,omitempty"`
	Device   string `json:"device,omitempty"`
	IP       string `json:"ip,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Role     string `json:"role,omitempty"`
}

// Limits of a request.
const (
	maxBodyBytes = 8 << 10
	maxAttrBytes = 256 // tenant, vehicle, account, device, client_id, command_id (the ingest contract's attribute limit)
)

// parsed is a validated request with its enums resolved.
type parsed struct {
	CommandRequest
	kind    event.CommandKind // CmdOther for a name outside the contract
	channel event.Channel
	role    event.Role
}

// names resolves the contract's command and channel names.
type names struct {
	commands map[string]event.CommandKind
	channels map[string]event.Channel
}

func newNames() names {
	n := names{commands: map[string]event.CommandKind{}, channels: map[string]event.Channel{}}
	for k := event.CmdUnset + 1; k < event.CmdOther; k++ {
		n.commands[k.String()] = k
	}
	for c := event.ChannelUnset + 1; c.String() != ""; c++ {
		n.channels[c.String()] = c
	}
	return n
}

func (n names) channelList() string {
	var out []string
	for c := event.ChannelUnset + 1; c.String() != ""; c++ {
		out = append(out, c.String())
	}
	return strings.Join(out, ", ")
}

func invalid(field, format string, args ...any) *problem.Error {
	e := problem.New(problem.InvalidParameter, "%s: "+format, append([]any{field}, args...)...)
	e.Field = field
	return e
}

// decodeRequest reads one request strictly: one JSON object, known keys
// only, each once, strings only, every value within its limit. Errors name
// the field.
func decodeRequest(body []byte, n names) (*parsed, *problem.Error) {
	if len(body) > maxBodyBytes {
		return nil, problem.New(problem.BodyTooLarge, "the body is %d bytes, the limit is %d", len(body), maxBodyBytes)
	}
	s := &scanner{b: body}
	var p parsed
	a := &p.Actor
	err := s.object("", func(key, path string) *problem.Error {
		switch key {
		case "tenant":
			return s.value(path, &p.Tenant)
		case "vehicle":
			return s.value(path, &p.Vehicle)
		case "command":
			return s.value(path, &p.Command)
		case "channel":
			return s.value(path, &p.Channel)
		case "command_id":
			return s.value(path, &p.CommandID)
		case "actor":
			return s.object(path, func(key, path string) *problem.Error {
				switch key {
				case "account":
					return s.value(path, &a.Account)
				case "device":
					return s.value(path, &a.Device)
				case "ip":
					return s.value(path, &a.IP)
				case "client_id":
					return s.value(path, &a.ClientID)
				case "role":
					return s.value(path, &a.Role)
				}
				return invalid(path, "unknown field: the actor has account, device, ip, client_id and role")
			})
		}
		return invalid(path, "unknown field: a request has tenant, vehicle, command, channel, command_id and actor")
	})
	if err != nil {
		return nil, err
	}
	if s.ws(); s.i < len(s.b) { // peek's 0 would let a NUL byte end the body
		return nil, problem.New(problem.BadRequest, "the body holds more after its JSON object, at byte %d: send exactly one request", s.i)
	}
	if err := p.validate(n); err != nil {
		return nil, err
	}
	return &p, nil
}

// validate checks every field against its limit and resolves the names.
func (p *parsed) validate(n names) *problem.Error {
	attr := func(field, v string, required bool) *problem.Error {
		switch {
		case v == "" && required:
			return invalid(field, "is required")
		case len(v) > maxAttrBytes:
			return invalid(field, "longer than %d bytes", maxAttrBytes)
		case !utf8.ValidString(v):
			return invalid(field, "is not valid UTF-8")
		case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return invalid(field, "contains control characters")
		}
		return nil
	}
	if p.Tenant == "" {
		p.Tenant = event.DefaultTenant
	}
	a := &p.Actor
	for _, c := range []struct {
		field, v string
		required bool
	}{
		{"tenant", p.Tenant, true}, {"vehicle", p.Vehicle, true}, {"command_id", p.CommandID, false},
		{"actor.account", a.Account, false}, {"actor.device", a.Device, false}, {"actor.client_id", a.ClientID, false},
	} {
		if err := attr(c.field, c.v, c.required); err != nil {
			return err
		}
	}
	switch {
	case p.Command == "":
		return invalid("command", "is required")
	case !validCommandName(p.Command):
		return invalid("command", "%q is not a command name: use the ingest contract's (unlock, lock, engine_start, engine_stop, immobilize, …) or one of 1 to 64 characters of a-z, 0-9, _, - or .", clip(p.Command))
	}
	if k, ok := n.commands[p.Command]; ok {
		p.kind = k
	} else {
		p.kind = event.CmdOther
	}
	if p.Channel != "" {
		c, ok := n.channels[p.Channel]
		if !ok {
			return invalid("channel", "%q is not one of %s", clip(p.Channel), n.channelList())
		}
		p.channel = c
	}
	if a.Account == "" && a.ClientID == "" {
		return invalid("actor", "name the account or the API client that asks for the command (actor.account or actor.client_id)")
	}
	if a.IP != "" {
		if len(a.IP) > 64 {
			return invalid("actor.ip", "longer than 64 bytes")
		}
		if _, err := netip.ParseAddr(a.IP); err != nil {
			return invalid("actor.ip", "%q is not an IPv4 or IPv6 address", clip(a.IP))
		}
	}
	if a.Role != "" {
		r, ok := event.ParseRole(a.Role)
		if !ok {
			return invalid("actor.role", "%q is not one of owner, driver, fleet_manager, dealer, staff, service, third_party", clip(a.Role))
		}
		p.role = r
	}
	return nil
}

// clip shortens a value quoted back in an error.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", strings.ToValidUTF8(s[:64], ""), len(s))
}
