package sim

// queue is a binary min-heap ordered by (at, seq). seq is the push order, so
// ties pop first-in first-out and the output never depends on heap layout.
type queue[T any] struct {
	items []item[T]
	seq   uint64
}

type item[T any] struct {
	at  int64
	seq uint64
	v   T
}

func (q *queue[T]) Len() int { return len(q.items) }

// peek returns the smallest time; the queue must not be empty.
func (q *queue[T]) peek() int64 { return q.items[0].at }

func (q *queue[T]) less(i, j int) bool {
	a, b := &q.items[i], &q.items[j]
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

func (q *queue[T]) push(at int64, v T) {
	q.seq++
	q.items = append(q.items, item[T]{at: at, seq: q.seq, v: v})
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.items[i], q.items[p] = q.items[p], q.items[i]
		i = p
	}
}

func (q *queue[T]) pop() (int64, T) {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	var zero item[T]
	q.items[last] = zero // drop the reference for the GC
	q.items = q.items[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		m := l
		if r := l + 1; r < last && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
	return top.at, top.v
}
