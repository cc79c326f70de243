package pseudo

import (
	"context"

	"github.com/vigil-project/vigil/internal/ingest/httpingest"
)

// Sink pseudonymises accepted events before the sink it wraps stores
// them: a copy of each typed event (what detection sees) and the raw JSON
// (what the archive keeps, re-encoded, with rounded coordinates). Vault
// entries are durable before the batch is handed on, so an acknowledged
// event can always be re-identified. Every source must store through it.
//
// The batch it is given is never changed: a caller retrying it after an
// error (the broker pipeline does, while detection is behind) must hand
// over the values as received, not pseudonyms to pseudonymise again.
type Sink struct {
	p    *Pseudonymiser
	next httpingest.Sink
}

var _ httpingest.Sink = (*Sink)(nil)

// NewSink wraps next.
func NewSink(p *Pseudonymiser, next httpingest.Sink) *Sink { return &Sink{p: p, next: next} }

// Accept rewrites the batch and hands it on. On an error nothing is
// stored and the producer is told to resend.
func (s *Sink) Accept(ctx context.Context, batch []httpingest.Accepted) ([]bool, error) {
	out := make([]httpingest.Accepted, len(batch))
	copy(out, batch)
	var fresh []Mapping
	var arena []byte
	ends := make([]int, len(out)) // end of each rewritten event in arena; -1: kept as sent
	for i := range out {
		ends[i] = -1
		if !s.p.Active(out[i].Event.Tenant) {
			continue
		}
		ev := out[i].Event.Clone()
		out[i].Event = ev
		var err error
		if fresh, err = s.p.Event(ev, fresh); err != nil {
			return nil, err
		}
		arena = s.p.AppendArchive(arena, ev)
		ends[i] = len(arena)
	}
	// Slices of the arena are taken once it no longer grows.
	start := 0
	for i, end := range ends {
		if end >= 0 {
			out[i].Raw = arena[start:end:end]
			start = end
		}
	}
	if err := s.p.Record(ctx, fresh); err != nil {
		return nil, err
	}
	return s.next.Accept(ctx, out)
}
