package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// A statement a transaction had to prepare is prepared by the pool after
// it, and the next transactions take the pool's: none compiles it again.
func TestTxReusesPoolStatements(t *testing.T) {
	ctx := context.Background()
	db, c := writerDB(t)
	if _, err := db.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	const q = "INSERT INTO t (x) VALUES (?)"
	var missed []string
	run := func(x int) {
		t.Helper()
		err := inTx(ctx, db, c, nil, func(tx *Tx) error {
			_, err := tx.Exec(ctx, q, x)
			missed = tx.missed
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	run(1)
	if len(missed) != 1 {
		t.Fatalf("first transaction: missed %v, want the insert", missed)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.cached(q) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the pool never prepared the statement")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 2; i <= 5; i++ {
		run(i)
		if len(missed) != 0 {
			t.Fatalf("transaction %d prepared %v again", i, missed)
		}
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 5 {
		t.Fatalf("%d rows, %v: want 5", n, err)
	}
}

// closeAll waits for the pool's background prepares: none holds a
// connection after the store's Close, and none starts after it.
func TestCloseWaitsForWarming(t *testing.T) {
	ctx := context.Background()
	db, c := writerDB(t)
	qs := []string{"SELECT 1", "SELECT 2", "SELECT 3", "SELECT 4"}
	err := inTx(ctx, db, c, nil, func(tx *Tx) error {
		for _, q := range qs {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.closeAll() // at once: the prepares may still be running
	c.mu.Lock()
	n, warming := len(c.m), len(c.warming)
	c.mu.Unlock()
	if n != 0 || warming != 0 {
		t.Fatalf("after closeAll: %d statements, %d being prepared", n, warming)
	}
	c.warm(qs)
	c.warms.Wait()
	if c.cached(qs[0]) != nil {
		t.Error("warm prepared after closeAll")
	}
}

// What a transaction runs on the driver's connection (Tx.Raw) is part of
// it: rolled back with it, committed with it, and seen by its own
// statements in between.
func TestTxRawIsPartOfTheTransaction(t *testing.T) {
	ctx := context.Background()
	db, c := writerDB(t)
	if _, err := db.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	rawInsert := func(tx *Tx, x int64) error {
		return tx.Raw(func(dc any) error {
			_, err := dc.(driver.ExecerContext).ExecContext(ctx, "INSERT INTO t (x) VALUES (?)", []driver.NamedValue{{Ordinal: 1, Value: x}})
			return err
		})
	}
	failed := errors.New("the transaction fails")
	err := inConnTx(ctx, db, c, func(tx *Tx) error {
		if err := rawInsert(tx, 1); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("inConnTx: %v", err)
	}
	err = inConnTx(ctx, db, c, func(tx *Tx) error {
		if err := rawInsert(tx, 2); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
			return fmt.Errorf("inside the transaction: %d rows, %v: want the one inserted", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var xs []int64
	rows, err := db.Query("SELECT x FROM t")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var x int64
		rows.Scan(&x)
		xs = append(xs, x)
	}
	rows.Close()
	if len(xs) != 1 || xs[0] != 2 {
		t.Fatalf("rows %v: want only the committed transaction's 2", xs)
	}
	// A transaction of the shared pool has no connection of its own.
	err = inTx(ctx, db, c, nil, func(tx *Tx) error { return rawInsert(tx, 3) })
	if err == nil {
		t.Fatal("Raw on a pooled transaction: no error")
	}
}

// writerDB opens a SQLite database of one connection, as the store's
// writer (a pool-wide prepare inside a transaction would wait forever),
// and its statement cache.
func writerDB(t *testing.T) (*sql.DB, *stmtCache) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	return db, &stmtCache{db: db, rebind: func(q string) string { return q }, prepare: true, m: map[string]*sql.Stmt{}}
}
