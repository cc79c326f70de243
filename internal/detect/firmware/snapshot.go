package firmware

import (
	"bytes"
	"slices"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/snapshot"
)

var _ detect.Snapshotter = (*shardState)(nil)

// AppendSnapshot writes the images learned from campaigns, by tenant. The
// cache of verified signatures is left out: it only saves work, and is
// filled again by the next installs.
func (st *shardState) AppendSnapshot(w *snapshot.Writer) error {
	tenants := make([]string, 0, len(st.learned))
	for t := range st.learned {
		tenants = append(tenants, t)
	}
	slices.Sort(tenants)
	w.Uvarint(uint64(len(tenants)))
	for _, t := range tenants {
		m := st.learned[t]
		ds := make([][32]byte, 0, len(m))
		for d := range m {
			ds = append(ds, d)
		}
		slices.SortFunc(ds, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
		w.Sym(t)
		w.Uvarint(uint64(len(ds)))
		for _, d := range ds {
			w.Raw(d[:])
		}
	}
	return nil
}

// LoadSnapshot reads what AppendSnapshot wrote.
func (st *shardState) LoadSnapshot(r *snapshot.Reader) error {
	for range r.Count(2) {
		t := r.Sym()
		if _, dup := st.learned[t]; dup && !r.Failed() {
			r.Fail("tenant %q twice", t)
		}
		n := r.Count(33)
		m := make(map[[32]byte]struct{}, n)
		for range n {
			d := r.Part()
			if len(d) != 32 && !r.Failed() {
				r.Fail("an image digest of %d bytes", len(d))
			}
			if r.Failed() {
				return r.Err()
			}
			m[[32]byte(d)] = struct{}{}
		}
		st.learned[t] = m
	}
	return r.Err()
}
