package sqlstore

import (
	"context"
	"strings"
)

// multiInsert inserts rows with multi-row INSERTs: head is the statement
// up to VALUES ("INSERT INTO t (a, b) VALUES "), tail what follows the
// rows (" ON CONFLICT DO NOTHING", or ""), width the values of a row, and
// appendRow appends row i's to args. A statement carries maxRows rows (a
// power of two), then the powers of two below it, so that few statement
// shapes are prepared: one execution a chunk instead of one a row. It
// returns the rows the statements affected.
func multiInsert(ctx context.Context, tx *Tx, head, tail string, width, maxRows, rows int, appendRow func(args []any, i int) []any) (int64, error) {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	args := make([]any, 0, width*min(rows, maxRows))
	var affected int64
	i := 0
	for size := maxRows; size >= 1; size /= 2 {
		if rows-i < size {
			continue
		}
		q := head + one + strings.Repeat(", "+one, size-1) + tail
		for rows-i >= size {
			args = args[:0]
			for j := i; j < i+size; j++ {
				args = appendRow(args, j)
			}
			res, err := tx.Exec(ctx, q, args...)
			if err != nil {
				return affected, err
			}
			if n, err := res.RowsAffected(); err == nil {
				affected += n
			}
			i += size
		}
	}
	return affected, nil
}
