package detect

// VehicleEvictions is implemented by detectors that mirror vehicles' twin
// state outside the engine (the command gate's view), so that the mirror
// lets go of what the engine lets go of. The engine calls Evicted on the
// shard's goroutine, between two items, for each vehicle of c.Tenant it
// drops as idle (its VehicleTTL of event time), with c.Local the shard's
// state. Evicted must not call c.After or c.Emit.
type VehicleEvictions interface {
	Evicted(c *Context, vehicle string)
}
