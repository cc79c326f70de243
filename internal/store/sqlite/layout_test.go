//go:build unix

package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkEventKey measures designs of the events table that the store
// does not use, against the one it does, so that the choice can be
// checked again: the idempotency key as the unique index over (id, source,
// tenant) (what migration 006 has), over (tenant, source, id) (what it had
// before), or as a 64-bit hash with a plain index (probed in one query per
// batch, then inserted), and rows inserted
// one statement each or 100 to a statement. Event ids count up (as the
// simulator's do) or are random (as UUIDs are). Transactions of 4,000
// events, as group commit makes them under load; no timeline. Pages are
// 16 KiB (Open's page_size) unless the name says otherwise.
func BenchmarkEventKey(b *testing.B) {
	for _, c := range []struct {
		name  string
		key   string
		uuid  bool
		multi int
		page  int
	}{
		{"key=id-first/ids=counted", keyIDFirst, false, 1, 16384},
		{"key=tenant-first/ids=counted", keyTenantFirst, false, 1, 16384},
		{"key=hash/ids=counted", keyHash, false, 1, 16384},
		{"key=id-first/ids=uuid", keyIDFirst, true, 1, 16384},
		{"key=tenant-first/ids=uuid", keyTenantFirst, true, 1, 16384},
		{"key=hash/ids=uuid", keyHash, true, 1, 16384},
		{"key=id-first/ids=counted/rows=100", keyIDFirst, false, 100, 16384},
		{"key=id-first/ids=counted/page=8192", keyIDFirst, false, 1, 8192},
		{"key=id-first/ids=counted/page=4096", keyIDFirst, false, 1, 4096},
	} {
		b.Run(c.name, func(b *testing.B) {
			db := layoutDB(b, c.key, c.page)
			const group = 4000
			var seq int64
			cpu0 := cpuNow()
			for n := range b.N {
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				rows := make([][]any, group)
				for i := range rows {
					rows[i] = layoutRow(int64(n*group+i), c.uuid)
				}
				if c.key == keyHash {
					insertHashed(b, tx, rows, &seq)
				} else {
					insertText(b, tx, rows, &seq, c.multi)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuNow()-cpu0)/float64(time.Microsecond)/float64(b.N*group), "cpu-µs/event")
		})
	}
}

// The designs of the idempotency key that BenchmarkEventKey compares.
const (
	keyIDFirst     = "CREATE UNIQUE INDEX events_key ON events (id, source, tenant);"
	keyTenantFirst = "CREATE UNIQUE INDEX events_key ON events (tenant, source, id);"
	keyHash        = "CREATE INDEX events_khash ON events (khash);"
)

func layoutDB(b *testing.B, key string, page int) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "k.db")+
		fmt.Sprintf("?_pragma=page_size(%d)&_journal_mode=WAL&_synchronous=FULL&_pragma=cache_size(-65536)&_txlock=immediate", page))
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	schema := `CREATE TABLE events (seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, source TEXT NOT NULL, id TEXT NOT NULL,
type TEXT NOT NULL, time INTEGER NOT NULL, subject TEXT, arrived INTEGER NOT NULL, raw BLOB NOT NULL, khash INTEGER);` + key
	if _, err := db.Exec(schema); err != nil {
		b.Fatal(err)
	}
	return db
}

// layoutRow is tenant, source, id, type, time, subject, arrived, raw.
func layoutRow(n int64, uuid bool) []any {
	id := "b1f2e3d4-tm-" + strconv.FormatInt(n, 10)
	if uuid {
		h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(n)))
		id = fmt.Sprintf("%x-%x-%x-%x-%x", h[:4], h[4:6], h[6:8], h[8:10], h[10:16])
	}
	vin := fmt.Sprintf("WVWZZZ1JZXW%06d", uint64(n)*2654435761%10_000)
	raw := fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"tsp/telematics-gw-eu1","type":"vehicle.telemetry",`+
		`"time":"2026-03-02T07:14:05.120Z","subject":%q,"tenant":"fleet-a","data":{"position":{"lat":48.137154,"lon":11.576124,`+
		`"heading":87.5,"accuracy":4.2},"speed":42.5,"seq":10231,"signals":{"Vehicle.TraveledDistance":48211000},`+
		`"device":{"imei":"356938035643809","iccid":"8949022000001234567","ip":"10.64.1.9","firmware":"4.2.1"}}}`, id, vin)
	return []any{"fleet-a", "tsp/telematics-gw-eu1", id, "vehicle.telemetry", int64(1.7e18) + n*1e7, vin, time.Now().UnixNano(), raw}
}

func insertText(b *testing.B, tx *sql.Tx, rows [][]any, seq *int64, multi int) {
	q := "INSERT INTO events (seq, tenant, source, id, type, time, subject, arrived, raw) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?), ", multi), ", ") +
		" ON CONFLICT (tenant, source, id) DO NOTHING RETURNING seq"
	if multi == 1 {
		q = strings.TrimSuffix(q, " RETURNING seq")
	}
	st, err := tx.Prepare(q)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	args := make([]any, 0, 9*multi)
	for i := 0; i < len(rows); i += multi {
		args = args[:0]
		for _, r := range rows[i : i+multi] {
			*seq++
			args = append(append(args, *seq), r...)
		}
		if multi == 1 {
			res, err := st.Exec(args...)
			if err == nil {
				_, err = res.RowsAffected()
			}
			if err != nil {
				b.Fatal(err)
			}
			continue
		}
		rs, err := st.Query(args...)
		if err != nil {
			b.Fatal(err)
		}
		for rs.Next() {
		}
		rs.Close()
	}
}

// insertHashed probes the batch's keys in one query (a hit would compare
// the real columns) and inserts without a conflict clause.
func insertHashed(b *testing.B, tx *sql.Tx, rows [][]any, seq *int64) {
	keys := make([]int64, len(rows))
	var list strings.Builder
	list.WriteByte('[')
	for i, r := range rows {
		h := sha256.Sum256([]byte(r[0].(string) + "\x00" + r[1].(string) + "\x00" + r[2].(string)))
		keys[i] = int64(binary.BigEndian.Uint64(h[:]))
		if i > 0 {
			list.WriteByte(',')
		}
		list.WriteString(strconv.FormatInt(keys[i], 10))
	}
	list.WriteByte(']')
	hits, err := tx.Query("SELECT seq, tenant, source, id FROM events WHERE khash IN (SELECT value FROM json_each(?))", list.String())
	if err != nil {
		b.Fatal(err)
	}
	for hits.Next() {
		b.Fatal("a new event's key is taken")
	}
	hits.Close()
	st, err := tx.Prepare("INSERT INTO events (seq, tenant, source, id, type, time, subject, arrived, raw, khash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for i, r := range rows {
		*seq++
		if _, err := st.Exec(append(append([]any{*seq}, r...), keys[i])...); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuNow is the process's CPU time (user and system).
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
