package sqlstore

import (
	"errors"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/vigil-project/vigil/internal/store"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []cursor{
		{kind: cursorEvents, order: store.NewestFirst, fp: 7, a: 1772435645120000000, b: 42},
		{kind: cursorAlerts, order: store.OldestFirst, fp: 0xffffffff, a: -1, b: 0},
		{kind: cursorIncidents, a: 1 << 62, b: -(1 << 62)},
	} {
		got, err := decodeCursor(c.encode(), c.kind, c.order, c.fp)
		if err != nil || got != c {
			t.Fatalf("round trip of %+v: %+v, %v", c, got, err)
		}
	}
	c := cursor{kind: cursorEvents, fp: 7, a: 1, b: 2}
	for name, try := range map[string]func() error{
		"other kind":  func() error { _, err := decodeCursor(c.encode(), cursorAlerts, c.order, c.fp); return err },
		"other order": func() error { _, err := decodeCursor(c.encode(), c.kind, store.OldestFirst, c.fp); return err },
		"other query": func() error { _, err := decodeCursor(c.encode(), c.kind, c.order, 8); return err },
		"trailing":    func() error { _, err := decodeCursor(c.encode()+"AA", c.kind, c.order, c.fp); return err },
	} {
		if err := try(); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzDecodeCursor: cursors come from API clients; any string must give
// either a cursor or ErrInvalid, never a panic.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(cursor{kind: cursorEvents, fp: 7, a: 1, b: 2}.encode())
	f.Add("")
	f.Add("AQ")
	f.Add("////////////////////////////")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s, cursorEvents, store.NewestFirst, 7)
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if again, err := decodeCursor(c.encode(), cursorEvents, store.NewestFirst, 7); err != nil || again != c {
			t.Fatalf("re-encoding %+v: %+v, %v", c, again, err)
		}
	})
}

func TestQueryIn(t *testing.T) {
	for _, c := range []struct {
		vals []string
		sql  string
		args []any
	}{
		{nil, " AND 1 = 0", nil},
		{[]string{"a"}, " AND t IN (?)", []any{"a"}},
		{[]string{"a", "b", "c"}, " AND t IN (?, ?, ?, ?)", []any{"a", "b", "c", "c"}},
	} {
		q := &query{}
		q.in("t", c.vals)
		if q.String() != c.sql || !reflect.DeepEqual(q.args, c.args) {
			t.Errorf("in(%v) = %q %v, want %q %v", c.vals, q.String(), q.args, c.sql, c.args)
		}
	}
	q := &query{}
	q.scope("t", store.AllTenants())
	if q.String() != "" {
		t.Errorf("all tenants: %q, want no filter", q.String())
	}
	q.scope("t", store.Scope{})
	if q.String() != " AND 1 = 0" {
		t.Errorf("empty scope: %q, want a filter that matches nothing", q.String())
	}
}

func TestLoadMigrations(t *testing.T) {
	ok := fstest.MapFS{"m/001_init.sql": {Data: []byte("A")}, "m/002_more.sql": {Data: []byte("B")}}
	ms, err := LoadMigrations(ok, "m")
	if err != nil || len(ms) != 2 || ms[1].Version != 2 || ms[1].Name != "more" || ms[1].SQL != "B" {
		t.Fatalf("LoadMigrations: %+v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":      {"m/001_init.sql": {}, "m/003_x.sql": {}},
		"bad name": {"m/001_init.sql": {}, "m/2_x.sql": {}},
		"not sql":  {"m/001_init.txt": {}},
	} {
		if _, err := LoadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
