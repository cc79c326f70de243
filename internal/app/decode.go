package app

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/vigil-project/vigil/internal/event"
)

// decodedChunk is a run of consecutive input events after decoding.
type decodedChunk struct {
	evs     []*event.Event
	rejects []*event.RejectError
	err     error // the input could not be read further (nil at a clean end)
	more    bool  // another chunk was already waiting when this one was handed out
}

// chunkFrames is how many events travel together between the stages.
const chunkFrames = 512

// decodeInOrder frames rd on one goroutine, decodes the frames on one
// worker per CPU and yields the chunks in input order. Decoding is most of
// the cost of reading; framing and the hand-offs are cheap.
func decodeInOrder(ctx context.Context, rd *event.Reader, lim event.Limits) <-chan decodedChunk {
	type work struct {
		seq    int
		arena  []byte
		frames []event.Frame
		err    error
	}
	type done struct {
		seq int
		decodedChunk
	}
	workers := runtime.GOMAXPROCS(0)
	todo := make(chan work, workers)
	results := make(chan done, 2*workers)
	out := make(chan decodedChunk, 2)

	go func() { // framing
		defer close(todo)
		for seq := 0; ; seq++ {
			w := work{seq: seq, arena: make([]byte, 0, 256<<10), frames: make([]event.Frame, 0, chunkFrames)}
			for len(w.frames) < chunkFrames {
				if err := ctx.Err(); err != nil {
					w.err = err
					break
				}
				f, err := rd.NextFrame()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						w.err = err
					}
					todo <- w
					return
				}
				if f.Raw != nil {
					start := len(w.arena)
					w.arena = append(w.arena, f.Raw...)
					f.Raw = w.arena[start:len(w.arena):len(w.arena)]
				}
				w.frames = append(w.frames, f)
			}
			todo <- w
			if w.err != nil {
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := event.NewDecoder(lim)
			for w := range todo {
				d := done{seq: w.seq, decodedChunk: decodedChunk{evs: make([]*event.Event, 0, len(w.frames)), err: w.err}}
				for _, f := range w.frames {
					ev, err := f.Decode(dec)
					if err != nil {
						var re *event.RejectError
						errors.As(err, &re)
						d.rejects = append(d.rejects, re)
						continue
					}
					d.evs = append(d.evs, ev)
				}
				results <- d
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	go func() { // reordering
		defer close(out)
		pending := map[int]decodedChunk{}
		next := 0
		for r := range results {
			pending[r.seq] = r.decodedChunk
			for {
				c, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				next++
				_, c.more = pending[next]
				c.more = c.more || len(results) > 0
				out <- c
				if c.err != nil {
					// Drain: nothing after a read error is passed on.
					for range results {
					}
					return
				}
			}
		}
	}()
	return out
}
