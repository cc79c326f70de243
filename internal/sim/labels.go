package sim

import (
	"time"

	"github.com/vigil-project/vigil/internal/alert"
)

// Label is the ground truth of one injected attack: what an alert about it
// should say.
type Label struct {
	Category string         `json:"category"`
	Scenario string         `json:"scenario"` // e.g. "brute-force", "unlock-without-command"
	Tenant   string         `json:"tenant"`
	Entities alert.Entities `json:"entities"`
	Start    time.Time      `json:"start"` // event time of the attack's first event (an outage: when it begins)
	End      time.Time      `json:"end"`   // event time of its last event (an outage: when it ends)
}

// attackRun follows one attack while it plays: the span of its events and
// its label.
type attackRun struct {
	cat         alert.Category
	label       Label
	first, last int64
	seen        bool
	// window is the span of an attack that is an absence of events (an
	// outage); zero otherwise.
	window [2]int64
	done   bool
}

func (r *attackRun) saw(t int64) {
	if !r.seen || t < r.first {
		r.first = t
	}
	if !r.seen || t > r.last {
		r.last = t
	}
	r.seen = true
}

// finish reports an attack's label once it has played out.
func (s *Simulator) finish(r *attackRun) {
	if r.done {
		return
	}
	r.done = true
	first, last := r.first, r.last
	if r.window != [2]int64{} {
		first, last = r.window[0], r.window[1]
	} else if !r.seen {
		s.missed[r.cat]++
		return
	}
	r.label.Category = r.cat.String()
	r.label.Start = time.Unix(0, first).UTC()
	r.label.End = time.Unix(0, last).UTC()
	s.attacks[r.cat]++
	if s.label != nil && s.err == nil {
		s.err = s.label(r.label)
	}
}

// flushAttacks reports attacks the end of the span cut short.
func (s *Simulator) flushAttacks() error {
	for _, r := range s.runs {
		s.finish(r)
	}
	s.runs = nil
	return s.err
}
