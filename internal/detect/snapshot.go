package detect

import "github.com/vigil-project/vigil/internal/snapshot"

// Snapshotter is implemented by the shard-local state of a detector
// (what ShardLocal.NewShardState returns), so that an engine snapshot
// carries it and a restart resumes with it. The engine refuses to snapshot
// when a detector keeps shard-local state that does not implement it.
type Snapshotter interface {
	// AppendSnapshot writes the state. The engine calls it on the shard's
	// goroutine between two items, with every earlier item handled.
	AppendSnapshot(w *snapshot.Writer) error
	// LoadSnapshot reads what AppendSnapshot wrote into a state fresh from
	// NewShardState, on the shard's goroutine. It reports bytes it cannot
	// use (r.Fail, or an error wrapping snapshot.ErrCorrupt or
	// ErrIncompatible) and must never panic on them.
	LoadSnapshot(r *snapshot.Reader) error
}

// AfterRestorer is implemented by shard-local states that act on a
// restore only once it succeeded on every shard: the engine calls
// AfterRestore on the shard's goroutine then (the rules publish their
// restored counters). A restore that fails drops the loaded states
// without calling it.
type AfterRestorer interface {
	AfterRestore()
}

// Resumer is implemented by detectors that mirror keyed state outside the
// engine (the command gate's view of the twin). After a restore the engine
// calls Resume once for every key of the kinds the detector subscribes to,
// on the key's shard, so the mirror is rebuilt from the restored state.
type Resumer interface {
	Resume(c *Context, s State)
}

// Fingerprinter is implemented by detectors whose configuration shapes
// their state beyond what Info describes (the rules detector: its rule
// set). A snapshot records the fingerprint; restoring it into a detector
// with another one is refused, so the state is rebuilt from the archive.
type Fingerprinter interface {
	Fingerprint() []byte
}
