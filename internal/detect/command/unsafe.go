package command

import (
	"fmt"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// UnsafeConfig configures the unsafe command detector.
type UnsafeConfig struct {
	// MinSpeedKmh: a vehicle whose fix shows more than this is moving.
	// Default 10 km/h.
	MinSpeedKmh float64 `yaml:"min_speed_kmh"`
	// MaxFixAge: how old (or how much newer, given delays) the twin's last
	// fix may be for its speed to say the vehicle is moving at the time of
	// the command. Default 2 minutes.
	MaxFixAge time.Duration `yaml:"max_fix_age"`
	// MaxDriveGap: a fix older than MaxFixAge but within this still counts
	// when the ignition is on and that fix showed motion (a tunnel, a dead
	// spot); the alert is high instead of critical. Default 10 minutes.
	MaxDriveGap time.Duration `yaml:"max_drive_gap"`
}

// Unsafe raises unsafe-command when an engine_stop or immobilize command is
// requested or sent while the twin says the vehicle is moving. Each command
// transaction alerts once.
type Unsafe struct {
	cfg            UnsafeConfig
	maxAge, maxGap int64
	minSpeed       float32
}

// NewUnsafe returns the detector.
func NewUnsafe(cfg UnsafeConfig) *Unsafe {
	if cfg.MinSpeedKmh <= 0 {
		cfg.MinSpeedKmh = 10
	}
	if cfg.MaxFixAge <= 0 {
		cfg.MaxFixAge = 2 * time.Minute
	}
	if cfg.MaxDriveGap <= 0 {
		cfg.MaxDriveGap = 10 * time.Minute
	}
	return &Unsafe{cfg: cfg, maxAge: int64(cfg.MaxFixAge), maxGap: int64(cfg.MaxDriveGap), minSpeed: float32(cfg.MinSpeedKmh)}
}

var _ detect.Detector = (*Unsafe)(nil)

// Info describes the detector.
func (u *Unsafe) Info() detect.Info {
	return detect.Info{
		ID:       "cmd.unsafe-command",
		Category: alert.UnsafeCommand,
		Title:    "Engine stop or immobilisation of a moving vehicle",
		Description: fmt.Sprintf("An engine_stop or immobilize command was requested or sent while the vehicle's last fix, at most %v "+
			"away, showed more than %.0f km/h (or, up to %v, while the ignition stayed on after such a fix).",
			u.cfg.MaxFixAge, u.cfg.MinSpeedKmh, u.cfg.MaxDriveGap),
		Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeCommand}}},
	}
}

// OnEvent checks engine stops and immobilisations against the twin's motion.
func (u *Unsafe) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	cmd := ev.Command
	if (cmd.Command != event.CmdEngineStop && cmd.Command != event.CmdImmobilize) ||
		(cmd.Stage != event.StageRequested && cmd.Stage != event.StageSent) {
		return
	}
	v := s.Vehicle
	if v.FixTime == 0 || v.Speed <= u.minSpeed {
		return
	}
	if tx := v.FindCommand(twin.HashID(cmd.CommandID)); tx != nil && (tx.Has(event.StageRequested) || tx.Has(event.StageSent)) {
		return // told on the first of its stages
	}
	age := ev.Time - v.FixTime
	sev := event.SeverityCritical
	switch {
	case abs(age) <= u.maxAge:
	case age > 0 && age <= u.maxGap && v.Ignition == twin.IgnitionOn:
		sev = event.SeverityHigh
	default:
		return
	}
	when := "before"
	if age < 0 {
		when = "after"
	}
	motion := fmt.Sprintf("its last fix, %v %s the command, showed %.0f km/h (above %.0f km/h) at (%.5f, %.5f)",
		time.Duration(abs(age)).Round(time.Second), when, v.Speed, u.cfg.MinSpeedKmh, v.Lat, v.Lon)
	if sev == event.SeverityHigh {
		motion += " and the ignition has stayed on since"
	}
	c.Emit(&alert.Alert{
		ID:        alert.MakeID(c.Info.ID, c.Tenant, c.Kind.String()+":"+c.Key, ev.Ref()), // one per command, not per fix
		Time:      ev.Time,
		FirstSeen: min(v.FixTime, ev.Time),
		LastSeen:  max(v.FixTime, ev.Time),
		Severity:  sev,
		Title:     fmt.Sprintf("%s of moving vehicle %s", commandName(cmd), c.Key),
		Explanation: fmt.Sprintf("Command %s (%s) %s through %s at %s by %s while vehicle %s was moving: %s. "+
			"Stopping the engine or arming the immobiliser at speed endangers the occupants and other road users: the command "+
			"must not be carried out while the vehicle moves; hold or cancel it, and verify the request with the owner.",
			cmd.CommandID, commandName(cmd), stagePhrase(cmd.Stage), channelName(cmd.Channel), fmtTime(ev.Time), who(&cmd.Actor), c.Key,
			motion),
		Entities: alert.Entities{Vehicle: c.Key, Account: cmd.Actor.Account, Device: cmd.Actor.Device, IP: cmd.Actor.IP, ClientID: cmd.Actor.ClientID},
		Evidence: evidenceInOrder(v.FixRef, v.FixTime, ev),
	})
}

// OnTimer is unused: the detector sets no timers.
func (u *Unsafe) OnTimer(*detect.Context, detect.State, int64) {}

// evidenceInOrder lists the fix and the command, the earlier first.
func evidenceInOrder(fix event.Ref, fixAt int64, ev *event.Event) []event.Ref {
	if fixAt > ev.Time {
		return []event.Ref{ev.Ref(), fix}
	}
	return []event.Ref{fix, ev.Ref()}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
