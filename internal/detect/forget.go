package detect

import "github.com/vigil-project/vigil/internal/twin"

// Forgetter is implemented by detectors that remember entities outside
// the keyed twin and principal state — in their shard-local state (rule
// correlations, IDS campaigns) or in a mirror outside the engine (the
// command gate's view) — so that erasing a data subject (docs/privacy.md)
// reaches it. The engine calls Forget once per subject on every shard's
// goroutine, between two items, with c.Tenant the subject's tenant and
// c.Local the shard's state; it must drop what names s.Value as s.Kind.
// State that names no one (learned firmware digests, verified signatures,
// counts) needs no Forgetter. Forget must not call c.After or c.Emit.
type Forgetter interface {
	Forget(c *Context, s twin.Subject)
}
