package httpingest

import (
	"errors"
	"io"
	"sync"
)

// budget is a bound on bytes held at once. Taking never waits: a request
// that does not fit is refused (429) before it reads more of its body, so
// the refusal costs the server nothing.
type budget struct {
	mu   sync.Mutex
	used int64
	max  int64
}

// take reserves n bytes if they fit.
func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

// give returns n bytes taken before.
func (b *budget) give(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

var errOverBudget = errors.New("the in-flight bytes budget is spent")

// budgetStep is how much a budgetReader takes at a time: a body of
// unknown length holds at most this much more than it read, and the
// budget's lock is taken once per step, not per read.
const budgetStep = 256 << 10

// budgetReader takes from a budget, a step ahead, the bytes it reads. A
// growing bytes.Buffer may hold up to twice what it read; the budget
// counts what was read, which bounds the buffer within that factor.
type budgetReader struct {
	r     io.Reader
	b     *budget
	held  *int64 // taken so far, given back by the request's owner
	count int64  // read so far
}

func (br *budgetReader) Read(p []byte) (int, error) {
	n, err := br.r.Read(p)
	br.count += int64(n)
	for br.count > *br.held {
		if !br.b.take(budgetStep) {
			return n, errOverBudget
		}
		*br.held += budgetStep
	}
	return n, err
}
