package alert

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/snapshot"
)

// Snapshots of the manager: the alert ids it has seen, the fingerprints of
// recent alerts, the open incidents and which entities they hold, and its
// counters. The processor checkpoints them with the engine's, so after a
// restart a repeat is still suppressed and an alert still joins the
// incident it would have joined.

var managerMagic = snapshot.Magic{'V', 'G', 'A', 'M'}

const managerVersion = 1

// Snapshot writes the manager's state to w.
func (m *Manager) Snapshot(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Every incident reachable from the maps, merged ones included.
	index := map[*Incident]int{}
	var incs []*Incident
	var add func(*Incident)
	add = func(inc *Incident) {
		if inc == nil {
			return
		}
		if _, ok := index[inc]; !ok {
			index[inc] = -1
			incs = append(incs, inc)
			add(inc.mergedInto)
		}
	}
	for _, fp := range slices.Sorted(maps.Keys(m.prints)) {
		add(m.prints[fp].incident)
	}
	for _, k := range slices.Sorted(maps.Keys(m.byKey)) {
		add(m.byKey[k])
	}
	slices.SortFunc(incs, func(a, b *Incident) int { return cmp.Compare(a.ID, b.ID) })
	for i, inc := range incs {
		index[inc] = i
	}
	ref := func(inc *Incident) uint64 {
		if inc == nil {
			return 0
		}
		return uint64(index[inc]) + 1
	}
	wr := snapshot.NewWriter(nil)
	wr.Uvarint(uint64(len(incs)))
	for _, inc := range incs {
		wr.Str(inc.ID)
		wr.Sym(inc.Tenant)
		wr.Varint(inc.FirstSeen)
		wr.Varint(inc.LastSeen)
		wr.Uint8(uint8(inc.Severity))
		wr.Int(inc.Alerts)
		wr.Int(inc.Duplicates)
		wr.Uvarint(uint64(len(inc.Categories)))
		for _, c := range inc.Categories {
			wr.Uint8(uint8(c))
		}
		wr.Uvarint(ref(inc.mergedInto))
	}
	wr.Uvarint(uint64(len(m.prints)))
	for _, fp := range slices.Sorted(maps.Keys(m.prints)) {
		r := m.prints[fp]
		wr.Str(fp)
		wr.Varint(r.last)
		wr.Uvarint(ref(r.incident))
	}
	wr.Uvarint(uint64(len(m.byKey)))
	for _, k := range slices.Sorted(maps.Keys(m.byKey)) {
		wr.Str(k)
		wr.Uvarint(ref(m.byKey[k]))
	}
	wr.Uvarint(uint64(len(m.ids)))
	for _, id := range slices.Sorted(maps.Keys(m.ids)) {
		wr.Str(id)
		wr.Varint(m.ids[id])
	}
	for _, n := range []int{m.open, m.total, m.shadow, m.dups} {
		wr.Int(n)
	}
	wr.Uvarint(uint64(len(m.suppressed)))
	for _, reason := range slices.Sorted(maps.Keys(m.suppressed)) {
		wr.Str(reason)
		wr.Int(m.suppressed[reason])
	}
	wr.Varint(m.maxTime)
	wr.Varint(m.lastTidy)
	return snapshot.Write(w, managerMagic, managerVersion, wr.Bytes())
}

// Restore replaces the manager's state with a snapshot's. On error the
// state is left as it was; the error wraps snapshot.ErrCorrupt or
// ErrVersion.
func (m *Manager) Restore(rd io.Reader) error {
	_, body, err := snapshot.Read(rd, managerMagic, managerVersion)
	if err != nil {
		return fmt.Errorf("alert manager: %w", err)
	}
	r := snapshot.NewReader(body)
	incs := make([]*Incident, r.Count(8))
	for i := range incs {
		incs[i] = &Incident{}
	}
	merged := make([]uint64, len(incs))
	for i, inc := range incs {
		inc.ID, inc.Tenant = r.Str(), r.Sym()
		inc.FirstSeen, inc.LastSeen = r.Varint(), r.Varint()
		inc.Severity = event.Severity(r.Uint8())
		inc.Alerts, inc.Duplicates = r.Int(), r.Int()
		if n := r.Count(1); n > 0 {
			inc.Categories = make([]Category, n)
			for j := range inc.Categories {
				inc.Categories[j] = Category(r.Uint8())
				if inc.Categories[j].String() == "" && !r.Failed() {
					r.Fail("incident %s: unknown category %d", inc.ID, inc.Categories[j])
				}
			}
		}
		merged[i] = r.Uvarint()
	}
	get := func(n uint64) *Incident {
		if n == 0 {
			return nil
		}
		if n > uint64(len(incs)) {
			r.Fail("incident %d of %d", n, len(incs))
			return nil
		}
		return incs[n-1]
	}
	for i, inc := range incs {
		inc.mergedInto = get(merged[i])
	}
	for _, inc := range incs { // a merge chain must end
		seen := 0
		for x := inc; x.mergedInto != nil && !r.Failed(); x = x.mergedInto {
			if seen++; seen > len(incs) {
				r.Fail("incident %s is merged into itself", inc.ID)
			}
		}
	}
	prints := map[string]*printRec{}
	for range r.Count(3) {
		fp := r.Str()
		rec := &printRec{last: r.Varint(), incident: get(r.Uvarint())}
		rec.tenant = printTenant(fp, rec.incident)
		prints[fp] = rec
	}
	byKey := map[string]*Incident{}
	for range r.Count(2) {
		k := r.Str()
		inc := get(r.Uvarint())
		if inc == nil && !r.Failed() {
			r.Fail("entity %q in no incident", k)
		}
		byKey[k] = inc
	}
	ids := map[string]int64{}
	for range r.Count(2) {
		id := r.Str()
		ids[id] = r.Varint()
	}
	var counts [4]int
	for i := range counts {
		counts[i] = r.Int()
	}
	suppressed := map[string]int{}
	for range r.Count(2) {
		reason := r.Str()
		suppressed[reason] = r.Int()
	}
	maxTime, lastTidy := r.Varint(), r.Varint()
	if err := r.End(); err != nil {
		return fmt.Errorf("alert manager: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids, m.prints, m.byKey, m.suppressed = ids, prints, byKey, suppressed
	m.open, m.total, m.shadow, m.dups = counts[0], counts[1], counts[2], counts[3]
	m.maxTime, m.lastTidy = maxTime, lastTidy
	return nil
}
