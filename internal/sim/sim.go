// Package sim simulates a connected-car fleet: vehicles that drive, park and
// report telemetry, the people and systems that command and read them, the
// back-end services around them, and labelled attacks of every category of the
// alert contract woven into that traffic. The same Config always gives the same
// stream, byte for byte.
package sim

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// Config describes the fleet and the span to simulate. Zero fields take the
// defaults documented on each.
type Config struct {
	Seed               int64
	Vehicles           int              // fleet size, default 1000
	Start              time.Time        // event time of the first event, default 2026-03-02T00:00:00Z
	Duration           time.Duration    // simulated span, default 24h
	Tenants            int              // tenants "fleet-a", "fleet-b", …; default 2
	Attacks            []alert.Category // categories to inject; empty = none
	AttacksPerCategory int              // default 3
	TelemetryInterval  time.Duration    // while driving, default 10s; parked vehicles send a heartbeat every ~15 min
	Jitter             time.Duration    // max arrival delay behind event time, default 2s; 1ns for events in time order
}

// Limits of Config.
const (
	MaxVehicles           = 2_000_000
	MaxTenants            = 100
	MaxDuration           = 31 * 24 * time.Hour
	MaxAttacksPerCategory = 100
	MinAttackDuration     = 2 * time.Hour // attacks need room to unfold inside the span
)

// defaultStart is the default event time of the first event (a Monday).
var defaultStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func (c Config) withDefaults() Config {
	if c.Vehicles == 0 {
		c.Vehicles = 1000
	}
	if c.Start.IsZero() {
		c.Start = defaultStart
	}
	if c.Duration == 0 {
		c.Duration = 24 * time.Hour
	}
	if c.Tenants == 0 {
		c.Tenants = 2
	}
	if c.AttacksPerCategory == 0 {
		c.AttacksPerCategory = 3
	}
	if c.TelemetryInterval == 0 {
		c.TelemetryInterval = 10 * time.Second
	}
	if c.Jitter == 0 {
		c.Jitter = 2 * time.Second
	}
	return c
}

// Validate reports the first field that is out of range, after zero fields
// have taken their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Vehicles < 1 || c.Vehicles > MaxVehicles:
		return fmt.Errorf("vehicles must be between 1 and %d, got %d", MaxVehicles, c.Vehicles)
	case c.Tenants < 1 || c.Tenants > MaxTenants:
		return fmt.Errorf("tenants must be between 1 and %d, got %d", MaxTenants, c.Tenants)
	case c.Tenants > c.Vehicles:
		return fmt.Errorf("tenants (%d) must not exceed vehicles (%d)", c.Tenants, c.Vehicles)
	case c.Duration < time.Minute || c.Duration > MaxDuration:
		return fmt.Errorf("duration must be between 1m and %s, got %s", MaxDuration, c.Duration)
	case c.TelemetryInterval < time.Second || c.TelemetryInterval > 10*time.Minute:
		return fmt.Errorf("telemetry interval must be between 1s and 10m, got %s", c.TelemetryInterval)
	case c.Jitter < 0 || c.Jitter > 10*time.Minute:
		return fmt.Errorf("jitter must be between 0 and 10m, got %s", c.Jitter)
	case c.AttacksPerCategory < 1 || c.AttacksPerCategory > MaxAttacksPerCategory:
		return fmt.Errorf("attacks per category must be between 1 and %d, got %d", MaxAttacksPerCategory, c.AttacksPerCategory)
	case c.Start.Year() < 2000 || c.Start.Year() > 2200:
		return fmt.Errorf("start must be between the years 2000 and 2200, got %s", c.Start.Format(time.RFC3339))
	}
	seen := map[alert.Category]bool{}
	for _, a := range c.Attacks {
		if a.String() == "" || a == alert.CategoryUnset {
			return fmt.Errorf("attack category %d is not a category of the alert contract", a)
		}
		if seen[a] {
			return fmt.Errorf("attack category %s is listed twice", a)
		}
		seen[a] = true
	}
	if len(c.Attacks) > 0 && c.Duration < MinAttackDuration {
		return fmt.Errorf("duration must be at least %s when attacks are injected, got %s", MinAttackDuration, c.Duration)
	}
	return nil
}

// Stats counts what a Run produced.
type Stats struct {
	Events int64
	// AttackEvents counts the events attack steps produced; the rest is
	// benign traffic (eval's false alarms are per million benign events).
	AttackEvents int64
	ByType       map[event.Type]int64
	Attacks      map[alert.Category]int // labelled attack instances
	Missed       map[alert.Category]int // instances that found no suitable target (tiny fleets, short spans)
}

// Simulator generates one stream. Build it with New; Run it once.
type Simulator struct {
	cfg        Config
	start, end int64 // event-time span, Unix ns
	interval   int64 // telemetry interval while driving, ns
	jitter     int64

	fleet
	fw firmware

	life   *rand.Rand // benign behaviour
	attack *rand.Rand // attack choices, so adding attacks leaves fleet identity alone
	net    *rand.Rand // arrival jitter, so changing Jitter changes nothing else

	procs    queue[process]
	arrivals queue[*event.Event]
	now      int64
	nextID   uint64
	tripPool []*trip

	running   *attackRun   // the attack whose step is running, nil for benign steps
	runs      []*attackRun // every attack started
	attackSeq int
	label     func(Label) error
	err       error // first error from label

	ran          bool
	byType       [16]int64
	events       int64
	attackEvents int64 // events pushed while an attack step ran
	attacks      map[alert.Category]int
	missed       map[alert.Category]int
}

// process is anything with a life in event time: a vehicle, a principal, a
// campaign, an attack. step runs at its wake time, pushes events with time ≥
// now and returns its next wake time, or never.
type process interface {
	step(s *Simulator, now int64) int64
}

const never = int64(1<<63 - 1)

// New builds the fleet. It fails when the Config does not validate.
func New(c Config) (*Simulator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	seed := uint64(c.Seed)
	s := &Simulator{
		cfg:      c,
		start:    c.Start.UnixNano(),
		end:      c.Start.Add(c.Duration).UnixNano(),
		interval: int64(c.TelemetryInterval),
		jitter:   int64(c.Jitter),
		life:     rand.New(rand.NewPCG(seed, 0x11fe)),
		attack:   rand.New(rand.NewPCG(seed, 0xa77ac)),
		net:      rand.New(rand.NewPCG(seed, 0x7e7)),
		attacks:  map[alert.Category]int{},
		missed:   map[alert.Category]int{},
	}
	s.fw = newFirmware(seed, c.Duration)
	s.fleet = buildFleet(rand.New(rand.NewPCG(seed, 0xf1ee7)), c, &s.fw)
	return s, nil
}

// TrustedKeys returns the firmware signing keys the simulated OEM uses, by
// key id, to configure vigil's firmware checks.
func (s *Simulator) TrustedKeys() map[string]ed25519.PublicKey {
	return map[string]ed25519.PublicKey{s.fw.keyID: s.fw.pub}
}

// ReleaseHashes returns the SHA-256 digests of every genuine firmware release
// (the release manifest).
func (s *Simulator) ReleaseHashes() [][32]byte { return s.fw.manifest() }

// Stats returns the counts of the last Run.
func (s *Simulator) Stats() Stats {
	st := Stats{Events: s.events, AttackEvents: s.attackEvents, ByType: map[event.Type]int64{}, Attacks: map[alert.Category]int{}, Missed: map[alert.Category]int{}}
	for _, t := range event.Types() {
		if n := s.byType[t]; n > 0 {
			st.ByType[t] = n
		}
	}
	for k, v := range s.attacks {
		st.Attacks[k] = v
	}
	for k, v := range s.missed {
		st.Missed[k] = v
	}
	return st
}

// Run produces every event in arrival order (event time plus a network delay
// of at most Jitter) and calls emit with a fresh event each time; callers may
// keep events, but must not modify them: slices inside (api.access vehicles,
// signatures) may be shared between events. label is called when an attack
// has played out, before its last events have necessarily been emitted. Run
// stops at the first error from emit or label, or when ctx is done. Either
// callback may be nil.
func (s *Simulator) Run(ctx context.Context, emit func(*event.Event) error, label func(Label) error) error {
	if s.ran {
		return errors.New("sim: Run was already called; build a new Simulator with New")
	}
	s.ran = true
	s.label = label
	s.schedule()

	var n uint
	for {
		next := s.end
		if s.procs.Len() > 0 && s.procs.peek() < next {
			next = s.procs.peek()
		}
		for s.arrivals.Len() > 0 && s.arrivals.peek() <= next {
			if err := s.deliver(emit); err != nil {
				return err
			}
			if n++; n&4095 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		if s.err != nil {
			return s.err
		}
		if s.procs.Len() == 0 || s.procs.peek() >= s.end {
			break
		}
		at, p := s.procs.pop()
		s.now = at
		if next := p.step(s, at); next != never {
			s.procs.push(max(next, at), p)
		}
		if n++; n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	for s.arrivals.Len() > 0 {
		if err := s.deliver(emit); err != nil {
			return err
		}
	}
	if err := s.flushAttacks(); err != nil {
		return err
	}
	return ctx.Err()
}

func (s *Simulator) deliver(emit func(*event.Event) error) error {
	_, e := s.arrivals.pop()
	s.events++
	s.byType[e.Type]++
	if emit == nil {
		return nil
	}
	return emit(e)
}

// schedule starts every process of the fleet and the attacks.
func (s *Simulator) schedule() {
	for i := range s.vehicles {
		v := &s.vehicles[i]
		v.nextBeat = s.start + s.life.Int64N(15*int64(time.Minute))
		s.procs.push(v.nextBeat, v)
	}
	for i := range s.accounts {
		a := &s.accounts[i]
		if at := a.firstWake(s); at != never {
			s.procs.push(at, a)
		}
	}
	for i := range s.partners {
		p := &s.partners[i]
		s.procs.push(p.firstWake(s), p)
	}
	s.scheduleCampaigns()
	s.scheduleAttacks()
}
