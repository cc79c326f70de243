package gate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/twin"
)

// Every decision is recorded twice, neither on the decision's path:
//
//   - in a ring of the most recent decisions in memory, shown by
//     GET /v1/gate/decisions;
//   - in an append-only NDJSON file in the data directory
//     (gate/decisions.ndjson), written by one goroutine that fsyncs every
//     SyncInterval and rotates the file at MaxFileBytes, keeping MaxFiles
//     rotated files.
//
// The audit log is not the place: it records analysts' actions in a hash
// chain, one transaction each, and 5,000 decisions a second would swamp it
// and the store's writer that ingest needs. A decision is answered before
// its record is durable: a crash can lose the last SyncInterval of the file
// (the TSP, which acted on the answer, holds its own copy).

// DecisionRecord is one decision as logged and listed.
type DecisionRecord struct {
	DecisionID string           `json:"decision_id"`
	DecidedAt  string           `json:"decided_at"`
	Decision   string           `json:"decision"`
	Reasons    []DecisionReason `json:"reasons"`
	Tenant     string           `json:"tenant"`
	Vehicle    string           `json:"vehicle"`
	Command    string           `json:"command"`
	Channel    string           `json:"channel,omitempty"`
	CommandID  string           `json:"command_id,omitempty"`
	Actor      CommandActor     `json:"actor"`
	// DecideMicros is the time the gate took to decide, in µs (the
	// request's decoding and answer excluded).
	DecideMicros int64 `json:"decide_us"`

	at int64 // decided_at in Unix ns, for filtering
}

// ring keeps the most recent records.
type ring struct {
	mu   sync.Mutex
	buf  []*DecisionRecord
	next int
	n    int
}

func newRing(size int) *ring { return &ring{buf: make([]*DecisionRecord, size)} }

func (r *ring) add(rec *DecisionRecord) {
	r.mu.Lock()
	r.buf[r.next] = rec
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
	r.mu.Unlock()
}

// newest returns up to limit records matching keep, newest first.
func (r *ring) newest(limit int, keep func(*DecisionRecord) bool) []*DecisionRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*DecisionRecord
	for i := 1; i <= r.n && len(out) < limit; i++ {
		rec := r.buf[(r.next-i+len(r.buf))%len(r.buf)]
		if keep(rec) {
			out = append(out, rec)
		}
	}
	return out
}

// fileLog appends records to the rotated NDJSON file. A decision adds its
// record to a slice under a mutex and goes on; the writer takes the slice
// every drainEvery. Waking the writer per decision (a channel send) cost
// the decisions more in scheduling delay than all their own work.
type fileLog struct {
	dir      string
	cfg      LogConfig
	mu       sync.Mutex
	queue    []*DecisionRecord // waiting for the writer, at most cfg.Queue
	closed   atomic.Bool
	dropped  atomic.Int64 // queue full or the writer gone
	failed   atomic.Int64 // write, sync or rotation errors
	written  atomic.Int64
	f        *os.File
	bw       *bufio.Writer
	size     int64
	lastWarn time.Time
	log      func(msg string, args ...any)
	erasures chan eraseReq
	stopped  chan struct{} // closed when run returns
}

const logName = "decisions.ndjson"

func newFileLog(dir string, cfg LogConfig, warn func(string, ...any)) (*fileLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("gate: creating the decision log directory: %w", err)
	}
	l := &fileLog{dir: dir, cfg: cfg, log: warn, erasures: make(chan eraseReq), stopped: make(chan struct{})}
	// A rewrite cut short by a crash left its copy; the file it copied is
	// whole (the copy replaces it only once synced).
	if left, err := filepath.Glob(filepath.Join(dir, "*.erasing")); err == nil {
		for _, p := range left {
			os.Remove(p)
		}
	}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *fileLog) open() error {
	f, err := os.OpenFile(filepath.Join(l.dir, logName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("gate: opening the decision log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("gate: opening the decision log: %w", err)
	}
	l.f, l.size = f, st.Size()
	if l.bw == nil {
		l.bw = bufio.NewWriterSize(f, 256<<10)
	} else {
		l.bw.Reset(f)
	}
	return nil
}

// append queues a record; it never blocks on the writer.
func (l *fileLog) append(rec *DecisionRecord) {
	l.mu.Lock()
	if l.closed.Load() || len(l.queue) >= l.cfg.Queue {
		l.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	l.queue = append(l.queue, rec)
	l.mu.Unlock()
}

// take swaps the queue for spare and returns what was queued.
func (l *fileLog) take(spare []*DecisionRecord) []*DecisionRecord {
	l.mu.Lock()
	q := l.queue
	l.queue = spare[:0]
	l.mu.Unlock()
	return q
}

// drainEvery is how often the writer takes the queued records.
const drainEvery = 10 * time.Millisecond

// run writes queued records until ctx ends, then writes what is queued,
// syncs and closes the file.
func (l *fileLog) run(ctx context.Context) {
	defer close(l.stopped)
	drain := time.NewTicker(drainEvery)
	defer drain.Stop()
	lastSync := time.Now()
	dirty := false
	var line []byte
	var spare []*DecisionRecord
	write := func() {
		q := l.take(spare)
		for i, rec := range q {
			line = append(appendRecord(line[:0], rec), '\n')
			q[i] = nil
			if err := l.write(line); err != nil {
				l.fail("writing the decision log failed", err)
				continue
			}
			l.written.Add(1)
			dirty = true
		}
		spare = q
	}
	for {
		select {
		case <-drain.C:
			write()
			if dirty && time.Since(lastSync) >= l.cfg.SyncInterval {
				l.sync()
				dirty, lastSync = false, time.Now()
			}
		case req := <-l.erasures:
			write()
			req.done <- l.eraseFiles(req)
		case <-ctx.Done():
			l.mu.Lock()
			l.closed.Store(true)
			l.mu.Unlock()
			write()
			l.sync()
			if err := l.f.Close(); err != nil {
				l.fail("closing the decision log failed", err)
			}
			return
		}
	}
}

func (l *fileLog) write(line []byte) error {
	if l.size > 0 && l.size+int64(len(line)) > l.cfg.MaxFileBytes {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	n, err := l.bw.Write(line)
	l.size += int64(n)
	return err
}

func (l *fileLog) sync() {
	if err := l.bw.Flush(); err != nil {
		l.fail("writing the decision log failed", err)
		return
	}
	if err := l.f.Sync(); err != nil {
		l.fail("syncing the decision log failed", err)
	}
}

// rotate closes the current file under a time-stamped name, drops the
// oldest rotated files beyond MaxFiles and opens a new one.
func (l *fileLog) rotate() error {
	if err := l.bw.Flush(); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	if err := l.f.Close(); err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(filepath.Join(l.dir, logName), filepath.Join(l.dir, "decisions-"+stamp+".ndjson")); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(l.dir, "decisions-*.ndjson"))
	if err == nil && len(old) > l.cfg.MaxFiles {
		slices.Sort(old) // the stamps sort in time order
		for _, p := range old[:len(old)-l.cfg.MaxFiles] {
			if err := os.Remove(p); err != nil {
				l.fail("removing an old decision log failed", err)
			}
		}
	}
	return l.open()
}

func (l *fileLog) fail(msg string, err error) {
	l.failed.Add(1)
	if time.Since(l.lastWarn) > time.Minute {
		l.lastWarn = time.Now()
		l.log("gate: "+msg+"; decisions stay in memory (GET /v1/gate/decisions)", "dir", l.dir, "err", err)
	}
}

// rotatedFiles lists the log's files, oldest first (for tests and docs).
func rotatedFiles(dir string) []string {
	old, _ := filepath.Glob(filepath.Join(dir, "decisions-*.ndjson"))
	slices.Sort(old)
	if _, err := os.Stat(filepath.Join(dir, logName)); err == nil {
		old = append(old, filepath.Join(dir, logName))
	}
	for i, p := range old {
		old[i] = strings.TrimPrefix(p, dir+string(filepath.Separator))
	}
	return old
}

// eraseReq asks the writer to remove the records naming subjects.
type eraseReq struct {
	tenant   string
	subjects []twin.Subject
	done     chan eraseRes
}

type eraseRes struct {
	removed int
	err     error
}

// erase hands the request to the writer, which owns the files.
func (l *fileLog) erase(ctx context.Context, tenant string, subjects []twin.Subject) (int, error) {
	req := eraseReq{tenant: tenant, subjects: subjects, done: make(chan eraseRes, 1)}
	select {
	case l.erasures <- req:
	case <-l.stopped:
		return 0, errors.New("gate: the decision log is closed; its files were not erased")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case r := <-req.done:
		return r.removed, r.err
	case <-ctx.Done():
		// The writer finishes the rewrite; asking again is safe.
		return 0, ctx.Err()
	}
}

// eraseFiles runs on the writer: it writes out what is queued (a record
// queued before the erasure must not reach the file after it), then
// rewrites every file without the records naming the subjects.
func (l *fileLog) eraseFiles(req eraseReq) eraseRes {
	if err := l.bw.Flush(); err != nil {
		return eraseRes{err: fmt.Errorf("gate: decision log: %w", err)}
	}
	removed := 0
	for _, name := range rotatedFiles(l.dir) {
		n, err := l.rewrite(filepath.Join(l.dir, name), req)
		removed += n
		if err != nil {
			return eraseRes{removed: removed, err: fmt.Errorf("gate: erasing from the decision log %s: %w", name, err)}
		}
	}
	// The current file was replaced: append to the new one.
	if err := l.f.Close(); err != nil {
		l.fail("closing the decision log failed", err)
	}
	if err := l.open(); err != nil {
		return eraseRes{removed: removed, err: err}
	}
	if d, err := os.Open(l.dir); err == nil {
		err = d.Sync() // the renames
		d.Close()
		if err != nil {
			return eraseRes{removed: removed, err: fmt.Errorf("gate: syncing the decision log directory: %w", err)}
		}
	}
	return eraseRes{removed: removed}
}

// rewrite copies path without the lines naming the request's subjects. A
// line that does not parse (a record torn by a crash) goes when it holds
// one of their values whole.
func (l *fileLog) rewrite(path string, req eraseReq) (int, error) {
	in, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil // rotated away meanwhile
		}
		return 0, err
	}
	defer in.Close()
	tmp := path + ".erasing"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp) // after a failure; gone after the rename
	// Each value as it appears inside a JSON string: only lines holding
	// one are decoded, so the rewrite costs the reading, not the parsing.
	quoted := make([][]byte, len(req.subjects))
	for i, s := range req.subjects {
		q, _ := json.Marshal(s.Value)
		quoted[i] = q[1 : len(q)-1]
	}
	br := bufio.NewReaderSize(in, 64<<10)
	bw := bufio.NewWriterSize(out, 256<<10)
	removed := 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Longer than any record the gate writes: not one of ours
			// whole; judge it by its values like a torn one.
			var long []byte
			long = append(long, line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 {
			if namesAny(line, req, quoted) {
				removed++
			} else if _, werr := bw.Write(line); werr != nil {
				out.Close()
				return 0, werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			out.Close()
			return 0, err
		}
	}
	if removed == 0 {
		out.Close()
		return 0, nil // nothing to erase: leave the file as it is
	}
	if err := bw.Flush(); err != nil {
		out.Close()
		return 0, err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return 0, err
	}
	if err := out.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	return removed, nil
}

func namesAny(line []byte, req eraseReq, quoted [][]byte) bool {
	holds := false
	for _, q := range quoted {
		holds = holds || len(q) > 0 && bytes.Contains(line, q)
	}
	if !holds {
		return false
	}
	var rec DecisionRecord
	if err := json.Unmarshal(line, &rec); err != nil {
		// Torn: it goes when it holds a value as a word of its own.
		for _, q := range quoted {
			if containsWord(string(line), string(q)) {
				return true
			}
		}
		return false
	}
	for _, s := range req.subjects {
		if rec.names(req.tenant, s) {
			return true
		}
	}
	return false
}
