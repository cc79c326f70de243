package ids

import (
	"cmp"
	"slices"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/snapshot"
)

var _ detect.Snapshotter = (*shardState)(nil)

// AppendSnapshot writes every remembered IDS event with its reports, in
// key order.
func (st *shardState) AppendSnapshot(w *snapshot.Writer) error {
	keys := make([]artifactKey, 0, len(st.artifacts))
	for k := range st.artifacts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b artifactKey) int { return cmp.Or(cmp.Compare(a.tenant, b.tenant), cmp.Compare(a.key, b.key)) })
	w.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		a := st.artifacts[k]
		w.Sym(k.tenant)
		w.Str(k.key)
		w.Varint(a.lastAlert)
		w.Varint(a.last)
		w.Uvarint(uint64(len(a.reports)))
		for _, r := range a.reports {
			w.Sym(r.vehicle)
			w.Varint(a.last - r.at)
			w.Sym(r.ref.Source)
			w.Str(r.ref.ID)
		}
	}
	return nil
}

// LoadSnapshot reads what AppendSnapshot wrote.
func (st *shardState) LoadSnapshot(r *snapshot.Reader) error {
	n := r.Count(5)
	if n > maxArtifacts {
		r.Fail("%d IDS events, more than the limit of %d", n, maxArtifacts)
	}
	for range n {
		k := artifactKey{tenant: r.Sym(), key: r.Str()}
		if _, dup := st.artifacts[k]; dup && !r.Failed() {
			r.Fail("IDS event %q of tenant %q twice", k.key, k.tenant)
		}
		a := &artifact{lastAlert: r.Varint(), last: r.Varint()}
		if m := r.Count(4); m > 0 {
			a.reports = make([]report, m)
			for i := range a.reports {
				rp := &a.reports[i]
				rp.vehicle = r.Sym()
				rp.at = a.last - r.Varint()
				rp.ref.Source, rp.ref.ID = r.Sym(), r.Str()
			}
		}
		if r.Failed() {
			return r.Err()
		}
		st.artifacts[k] = a
	}
	return r.Err()
}
