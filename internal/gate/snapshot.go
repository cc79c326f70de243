package gate

import (
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/snapshot"
)

// The observer in engine snapshots. Its shard state is the vehicles whose
// last event waits to be copied into the view, and whether its timer is
// set. Only the flag is kept: the view is not in the snapshot, and after a
// restore the engine hands every vehicle and account to Resume, which
// copies what the gate needs from the restored state (pending vehicles
// included). An engine that goes on after a snapshot copies its pending
// vehicles at the next event, as always.

var (
	_ detect.Snapshotter = (*shardState)(nil)
	_ detect.Resumer     = (*observer)(nil)
)

// AppendSnapshot writes whether the observer's timer is set.
func (ls *shardState) AppendSnapshot(w *snapshot.Writer) error {
	w.Bool(ls.timer)
	return nil
}

// LoadSnapshot reads what AppendSnapshot wrote.
func (ls *shardState) LoadSnapshot(r *snapshot.Reader) error {
	ls.timer = r.Bool()
	return r.Err()
}

// Resume copies a restored vehicle or account into the view.
func (o *observer) Resume(c *detect.Context, s detect.State) {
	k := vkey{c.Tenant, c.Key}
	switch {
	case c.Kind == detect.KindAccount && s.Principal != nil:
		o.copyTrail(k, s.Principal.Takeover)
	case c.Kind == detect.KindVehicle && s.Vehicle != nil:
		ls := c.Local.(*shardState)
		ls.pending = append(ls.pending, pendingVehicle{k: k, v: s.Vehicle, links: true})
		o.flush(ls)
	}
}
