package processor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/snapshot"
	"github.com/vigil-project/vigil/internal/store"
)

// Checkpoints. Every SnapshotInterval of wall time, and when Run stops, the
// follower takes a snapshot of the engine and of the alert manager at the
// archive position it has reached (between two events, see
// engine.Snapshot), and a goroutine saves it with that sequence number once
// every alert derived up to there is stored: a checkpoint never covers an
// alert that is not in the store. On start, Run restores the checkpoint and
// follows the archive from the sequence after it. When the checkpoint
// cannot be used (corrupt, another format version, other detectors, rules
// or engine settings), Run logs why, counts it and reads the archive from
// the start, as without checkpoints.
//
// Exactly once holds as before: the state restored is the state after the
// covered sequence number, and every event after it is read again. Alerts
// derived again from those events (stored before a crash, after the
// checkpoint) have the same ids and are upserted: no duplicate, and sinks
// are not told twice (only a newly created alert is published).

// checkpointName is the single-node engine's checkpoint.
const checkpointName = ""

// DefaultSnapshotInterval is how often a checkpoint is written by default.
const DefaultSnapshotInterval = 5 * time.Minute

var checkpointMagic = snapshot.Magic{'V', 'G', 'C', 'P'}

// checkpointVersion 2 adds the alert sequence number (resumeAlerts).
const checkpointVersion = 2

// checkpointer is the follower's checkpoint state.
type checkpointer struct {
	interval time.Duration // ≤ 0: no checkpoints
	last     time.Time     // follower only: when the last one was taken
	seq      int64         // follower only: the sequence it covered
	off      bool          // follower only: snapshots cannot be taken (logged once)
	saving   atomic.Bool   // a save is in flight
	force    atomic.Bool   // an erasure changed the state: take one as soon as no save is in flight
	wg       sync.WaitGroup

	written, failed, fallbacks atomic.Int64
	bytes, savedSeq, restored  atomic.Int64
	// resumeSeq caps the alert sequence number a checkpoint records until
	// detection has caught up (then MaxInt64): the restored one, -1 when
	// there was none. Alerts raised again keep the number they were first
	// stored with, lower than the counter now.
	resumeSeq atomic.Int64
	pauseNs   atomic.Int64 // how long the last snapshot held detection up
}

// resume restores the checkpoint, if any, and returns the sequence number
// to follow the archive after (0: from the start).
func (p *Processor) resume(ctx context.Context) int64 {
	c := &p.ckpt
	c.last = time.Now()
	c.resumeSeq.Store(-1)
	if c.interval <= 0 {
		return 0
	}
	cp, err := p.o.Store.LoadCheckpoint(ctx, checkpointName)
	if errors.Is(err, store.ErrNotFound) {
		p.o.Logger.Info("no checkpoint yet: reading the event archive from the start")
		return 0
	}
	if err == nil {
		t0 := time.Now()
		var alertSeq int64
		if alertSeq, err = p.restore(cp.Snapshot); err == nil {
			c.restored.Store(cp.Seq)
			c.seq = cp.Seq
			p.processed.Store(cp.Seq)
			for {
				cur := p.stored.Load()
				if cp.Seq <= cur || p.stored.CompareAndSwap(cur, cp.Seq) {
					break
				}
			}
			p.o.Logger.Info("restored the engine from its checkpoint; reading the archive after it", "seq", cp.Seq,
				"saved", time.Unix(0, cp.Saved).UTC().Format(time.RFC3339), "bytes", len(cp.Snapshot), "took", time.Since(t0).Round(time.Millisecond))
			c.resumeSeq.Store(alertSeq)
			p.resumeAlerts(ctx, alertSeq)
			return cp.Seq
		}
	}
	c.fallbacks.Add(1)
	p.o.Logger.Warn("the checkpoint cannot be used: reading the event archive from the start instead (slower, same result)", "err", err)
	return 0
}

// restore loads a checkpoint's snapshot into the new engine and manager,
// and returns the alert sequence number it was taken at (-1: unknown); on
// error both are as new.
func (p *Processor) restore(data []byte) (int64, error) {
	eng, mgr, alertSeq, err := decodeCheckpoint(data)
	if err != nil {
		return 0, err
	}
	// The manager first: its Restore changes nothing on error, and a new
	// manager's snapshot undoes it when the engine's fails (an engine
	// restored cannot be undone).
	if err := p.mgr.Restore(bytes.NewReader(mgr)); err != nil {
		return 0, err
	}
	if err := p.eng.Restore(bytes.NewReader(eng)); err != nil {
		var empty bytes.Buffer
		if alert.NewManager(alert.ManagerOptions{}).Snapshot(&empty) == nil {
			p.mgr.Restore(&empty)
		}
		return 0, err
	}
	return alertSeq, nil
}

// maxResumeAlerts bounds the alerts resumeAlerts reads: a day of a busy
// fleet's alerts since a checkpoint five minutes old is far fewer.
const maxResumeAlerts = 200_000

// resumeAlerts reads the alerts stored since the checkpoint was taken
// (delivery sequence above alertSeq) and tells the alert manager the
// incident each was stored with: reading the archive again raises them
// again, and their incidents go on under the same ids (alert.Manager.Resume).
// Without them, the store keeps each alert in its first incident, but new
// alerts may open incidents beside them.
func (p *Processor) resumeAlerts(ctx context.Context, alertSeq int64) {
	if alertSeq < 0 {
		return // unknown: a version 1 checkpoint, or the number could not be read
	}
	stored := map[string]string{}
	for after := alertSeq; ; {
		page, err := p.o.Store.AlertsAfter(ctx, store.AllTenants(), after, store.MaxPageSize)
		if err != nil {
			p.o.Logger.Warn("reading the alerts stored since the checkpoint failed: alerts raised again may open new incidents beside theirs", "err", err)
			return
		}
		for _, a := range page {
			if a.Incident != "" && !a.Shadow {
				stored[a.ID] = a.Incident
			}
			after = a.Seq
		}
		if len(page) < store.MaxPageSize {
			break
		}
		if len(stored) >= maxResumeAlerts {
			p.o.Logger.Warn("more alerts stored since the checkpoint than the manager takes back: later ones raised again may open new incidents", "taken", len(stored))
			break
		}
	}
	if len(stored) > 0 {
		p.o.Logger.Info("alerts stored since the checkpoint resume their incidents", "alerts", len(stored))
		p.mgr.Resume(stored)
	}
}

// takeSnapshot returns the checkpoint bytes of the engine and the manager
// at the follower's position: the two snapshots one after the other, and
// alertSeq (8 bytes), behind a header of their own.
func (p *Processor) takeSnapshot(alertSeq int64) ([]byte, error) {
	t0 := time.Now()
	out := bytes.NewBuffer(make([]byte, snapshot.HeaderLen, snapshot.HeaderLen+int(p.ckpt.bytes.Load())+4096))
	if err := p.eng.Snapshot(out); err != nil {
		return nil, err
	}
	if err := p.mgr.Snapshot(out); err != nil {
		return nil, err
	}
	out.Write(binary.BigEndian.AppendUint64(nil, uint64(alertSeq)))
	p.ckpt.pauseNs.Store(int64(time.Since(t0)))
	data := out.Bytes()
	snapshot.Seal(data, checkpointMagic, checkpointVersion)
	return data, nil
}

// maybeCheckpoint takes a checkpoint at after when one is due, and hands it
// to a goroutine that saves it once the alerts before it are stored.
func (p *Processor) maybeCheckpoint(after int64) {
	c := &p.ckpt
	if c.interval <= 0 || c.off || c.saving.Load() {
		return
	}
	force := c.force.Load()
	if !force && time.Since(c.last) < c.interval {
		return
	}
	c.last = time.Now()
	if after == c.seq && !force {
		return // nothing new since the last one
	}
	c.force.Store(false)
	gen := p.erasureGen()
	data, ok := p.snapshotAt(after)
	if !ok {
		p.covered(gen, errors.New("the engine could not be snapshotted (see the log)"))
		return
	}
	fence := make(chan bool, 1)
	p.alerts <- pending{fence: fence}
	c.saving.Store(true)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.saving.Store(false)
		if <-fence {
			p.covered(gen, p.save(after, data))
		} else {
			p.covered(gen, errors.New("alerts it covers could not be stored"))
		}
	}()
}

// snapshotAt takes the snapshot for a checkpoint at after. The alert
// sequence number is read first: every alert derived from an event after
// after is stored later, with a higher one (resumeAlerts).
func (p *Processor) snapshotAt(after int64) ([]byte, bool) {
	c := &p.ckpt
	// One row; detection waits for it, so not for long: without it the
	// checkpoint is still saved, and a start from it does not resume.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	alertSeq, err := p.o.Store.LatestAlertSeq(ctx, store.AllTenants())
	cancel()
	if err != nil {
		p.o.Logger.Warn("reading the alert sequence for a checkpoint failed: a start from it will not resume incidents", "err", err)
		alertSeq = -1
	}
	alertSeq = min(alertSeq, c.resumeSeq.Load()) // still catching up: what was restored
	data, err := p.takeSnapshot(alertSeq)
	if err != nil {
		c.failed.Add(1)
		c.off = true
		p.o.Logger.Error("cannot snapshot the engine: no more checkpoints until restart, a restart reads the whole archive", "err", err)
		return nil, false
	}
	c.seq = after
	return data, true
}

// finalCheckpoint is taken when Run stops, before the engine stops. gen
// is the erasures it covers.
func (p *Processor) finalCheckpoint(after int64) (data []byte, gen int64) {
	c := &p.ckpt
	if c.interval <= 0 || c.off || (after == c.seq && !c.force.Load()) {
		return nil, 0
	}
	gen = p.erasureGen()
	data, _ = p.snapshotAt(after)
	return data, gen
}

// erasureGen is the number of erasures applied so far: a snapshot taken now
// covers them.
func (p *Processor) erasureGen() int64 {
	e := &p.erasures
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gen
}

// save writes a checkpoint, unless an alert it covers was lost.
func (p *Processor) save(seq int64, data []byte) error {
	c := &p.ckpt
	if n := p.lost.Load(); n > 0 {
		p.o.Logger.Warn("checkpoint not saved: alerts it covers could not be stored; the next start derives them again", "seq", seq, "lost", n)
		return fmt.Errorf("checkpoint not saved: %d alerts it covers could not be stored", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := p.o.Store.Checkpoint(ctx, store.Checkpoint{Name: checkpointName, Seq: seq, Snapshot: data}); err != nil {
		c.failed.Add(1)
		p.o.Logger.Error("saving the checkpoint failed; the previous one stays", "seq", seq, "bytes", len(data), "err", err)
		return fmt.Errorf("saving the checkpoint: %w", err)
	}
	c.written.Add(1)
	c.bytes.Store(int64(len(data)))
	c.savedSeq.Store(seq)
	p.o.Logger.Info("checkpoint saved", "seq", seq, "bytes", len(data), "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// CheckpointStats are the checkpoints' counters.
type CheckpointStats struct {
	Written   int64 // checkpoints saved
	Failed    int64 // snapshots or saves that failed (logged)
	Fallbacks int64 // starts whose checkpoint could not be used (the archive was read from the start)
	Bytes     int64 // size of the last checkpoint saved
	Seq       int64 // archive sequence number the last saved checkpoint covers
	Restored  int64 // sequence number of the checkpoint this process started from, 0 if none
	Pause     time.Duration
}

// CheckpointStats returns the checkpoints' counters.
func (p *Processor) CheckpointStats() CheckpointStats {
	c := &p.ckpt
	return CheckpointStats{Written: c.written.Load(), Failed: c.failed.Load(), Fallbacks: c.fallbacks.Load(),
		Bytes: c.bytes.Load(), Seq: c.savedSeq.Load(), Restored: c.restored.Load(), Pause: time.Duration(c.pauseNs.Load())}
}

var (
	mCheckpoints = prometheus.NewDesc("vigil_checkpoints_total", "Engine checkpoints by outcome: written, failed, "+
		"and fallback (a start whose checkpoint could not be used read the archive from the start).", []string{"outcome"}, nil)
	mCheckpointBytes = prometheus.NewDesc("vigil_checkpoint_bytes", "Size of the last engine checkpoint saved.", nil, nil)
	mCheckpointSeq   = prometheus.NewDesc("vigil_checkpoint_seq", "Archive sequence number the last saved checkpoint covers.", nil, nil)
	mCheckpointPause = prometheus.NewDesc("vigil_checkpoint_pause_seconds", "How long the last snapshot held detection up.", nil, nil)
)

// Collector returns the checkpoint metrics (for api.Metrics).
func (p *Processor) Collector() prometheus.Collector { return checkpointCollector{p} }

type checkpointCollector struct{ p *Processor }

func (c checkpointCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mCheckpoints, mCheckpointBytes, mCheckpointSeq, mCheckpointPause} {
		ch <- d
	}
}

func (c checkpointCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.p.CheckpointStats()
	for outcome, n := range map[string]int64{"written": st.Written, "failed": st.Failed, "fallback": st.Fallbacks} {
		ch <- prometheus.MustNewConstMetric(mCheckpoints, prometheus.CounterValue, float64(n), outcome)
	}
	ch <- prometheus.MustNewConstMetric(mCheckpointBytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(mCheckpointSeq, prometheus.GaugeValue, float64(st.Seq))
	ch <- prometheus.MustNewConstMetric(mCheckpointPause, prometheus.GaugeValue, st.Pause.Seconds())
}

// decodeCheckpoint checks a checkpoint's bytes and returns its engine and
// alert manager snapshots and the alert sequence number it was taken at
// (-1 in a version 1 checkpoint, which has none).
func decodeCheckpoint(data []byte) (engine, manager []byte, alertSeq int64, err error) {
	v, body, err := snapshot.Read(bytes.NewReader(data), checkpointMagic, checkpointVersion)
	if err == nil {
		engine, body, err = snapshot.Split(body)
	}
	if err == nil {
		manager, body, err = snapshot.Split(body)
	}
	alertSeq = -1
	if err == nil && v >= 2 {
		if len(body) < 8 {
			err = fmt.Errorf("%w: %d bytes after the alert manager's snapshot, not the alert sequence number's 8", snapshot.ErrCorrupt, len(body))
		} else {
			alertSeq, body = int64(binary.BigEndian.Uint64(body)), body[8:]
			if alertSeq < -1 { // -1: could not be read when it was taken
				err = fmt.Errorf("%w: alert sequence number %d", snapshot.ErrCorrupt, alertSeq)
			}
		}
	}
	if err == nil && len(body) > 0 {
		err = fmt.Errorf("%w: %d bytes after the checkpoint's end", snapshot.ErrCorrupt, len(body))
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("checkpoint: %w", err)
	}
	return engine, manager, alertSeq, nil
}
