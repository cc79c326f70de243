package event

import (
	"bytes"
	"slices"
)

// Clone returns a deep copy of e: nothing reachable from the copy can be
// changed through it and seen in e (strings, being immutable, are shared).
// For whoever rewrites an event it does not own — pseudonymisation does —
// so that a caller retrying with e finds it as it was.
// TestCloneSharesNothing fails when a field is added that Clone misses.
func (e *Event) Clone() *Event {
	c := newLike(e)
	if own(&c.Telemetry, e.Telemetry) {
		own(&c.Telemetry.Device, e.Telemetry.Device)
		own(&c.Telemetry.Cell, e.Telemetry.Cell)
	}
	if own(&c.VehicleEvent, e.VehicleEvent) {
		c.VehicleEvent.Detail = bytes.Clone(e.VehicleEvent.Detail)
	}
	own(&c.Command, e.Command)
	own(&c.Login, e.Login)
	own(&c.AccountChange, e.AccountChange)
	if own(&c.APIAccess, e.APIAccess) {
		c.APIAccess.Vehicles = slices.Clone(e.APIAccess.Vehicles)
	}
	own(&c.SMS, e.SMS)
	if own(&c.Firmware, e.Firmware) && own(&c.Firmware.Signature, e.Firmware.Signature) {
		c.Firmware.Signature.Value = bytes.Clone(e.Firmware.Signature.Value)
	}
	if own(&c.IDS, e.IDS) {
		c.IDS.Context = bytes.Clone(e.IDS.Context)
	}
	own(&c.Stats, e.Stats)
	return c
}

// own points *p at a copy of orig, unless newLike already made one; it
// reports whether there is one.
func own[T any](p **T, orig *T) bool {
	if orig == nil {
		return false
	}
	if *p == orig {
		x := *orig
		*p = &x
	}
	return true
}

// newLike copies e and the payload its type names in one allocation, as
// the decoder lays them out; other payloads still point at e's.
func newLike(e *Event) *Event {
	switch {
	case e.Type == TypeTelemetry && e.Telemetry != nil:
		x := &telemetryEvent{Event: *e, d: *e.Telemetry}
		x.Telemetry = &x.d
		return &x.Event
	case e.Type == TypeVehicleEvent && e.VehicleEvent != nil:
		x := &vehicleEventEvent{Event: *e, d: *e.VehicleEvent}
		x.VehicleEvent = &x.d
		return &x.Event
	case e.Type == TypeCommand && e.Command != nil:
		x := &commandEvent{Event: *e, d: *e.Command}
		x.Command = &x.d
		return &x.Event
	case e.Type == TypeLogin && e.Login != nil:
		x := &loginEvent{Event: *e, d: *e.Login}
		x.Login = &x.d
		return &x.Event
	case e.Type == TypeAccountChange && e.AccountChange != nil:
		x := &accountChangeEvent{Event: *e, d: *e.AccountChange}
		x.AccountChange = &x.d
		return &x.Event
	case e.Type == TypeAPIAccess && e.APIAccess != nil:
		x := &apiAccessEvent{Event: *e, d: *e.APIAccess}
		x.APIAccess = &x.d
		return &x.Event
	case e.Type == TypeSMS && e.SMS != nil:
		x := &smsEvent{Event: *e, d: *e.SMS}
		x.SMS = &x.d
		return &x.Event
	case e.Type == TypeFirmware && e.Firmware != nil:
		x := &firmwareEvent{Event: *e, d: *e.Firmware}
		x.Firmware = &x.d
		return &x.Event
	case e.Type == TypeIDS && e.IDS != nil:
		x := &idsEvent{Event: *e, d: *e.IDS}
		x.IDS = &x.d
		return &x.Event
	}
	c := *e
	return &c
}
