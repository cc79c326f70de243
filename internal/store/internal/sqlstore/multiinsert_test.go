package sqlstore

import (
	"context"
	"testing"
)

// multiInsert writes every row once, in chunks of the powers of two, and
// counts only the rows it inserted.
func TestMultiInsert(t *testing.T) {
	ctx := context.Background()
	db, c := writerDB(t)
	if _, err := db.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	insert := func(from, rows int) int64 {
		t.Helper()
		var n int64
		err := inTx(ctx, db, c, nil, func(tx *Tx) error {
			var err error
			n, err = multiInsert(ctx, tx, "INSERT INTO t (k, v) VALUES ", " ON CONFLICT DO NOTHING", 2, 32, rows,
				func(args []any, i int) []any { return append(args, from+i, "v") })
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct{ from, rows, want int }{
		{0, 0, 0},
		{0, 1, 1},
		{1, 37, 37},    // 32 + 4 + 1
		{38, 300, 300}, // 9 × 32 + 8 + 4
		{0, 100, 0},    // all there: nothing inserted
		{330, 20, 12},  // 8 there, 12 new
	} {
		if got := insert(tc.from, tc.rows); got != int64(tc.want) {
			t.Errorf("rows %d from %d: %d inserted, want %d", tc.rows, tc.from, got, tc.want)
		}
	}
	var n, sum int
	if err := db.QueryRow("SELECT COUNT(*), SUM(k) FROM t").Scan(&n, &sum); err != nil || n != 350 || sum != 349*350/2 {
		t.Fatalf("%d rows summing to %d (%v): want 0 to 349, each once", n, sum, err)
	}
}
