package reports

import "slices"

// topOf keeps the n best items it is given, in O(log n) per item, so that
// ranking a table of 100,000 addresses for the 20 busiest neither sorts
// nor copies the table. cmp orders best first (negative when a ranks
// before b) and must be a total order for the result to be stable.
type topOf[T any] struct {
	n   int
	cmp func(a, b *T) int
	h   []T // a heap whose root is the worst item kept
	x   T   // the candidate: compared through a pointer that does not escape per call
}

func newTop[T any](n int, cmp func(a, b *T) int) *topOf[T] {
	return &topOf[T]{n: n, cmp: cmp, h: make([]T, 0, min(n, 1024))}
}

// worse reports whether h[i] ranks after h[j].
func (t *topOf[T]) worse(i, j int) bool { return t.cmp(&t.h[i], &t.h[j]) > 0 }

func (t *topOf[T]) add(x T) {
	if t.n <= 0 {
		return
	}
	if len(t.h) < t.n {
		t.h = append(t.h, x)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !t.worse(i, p) {
				break
			}
			t.h[i], t.h[p] = t.h[p], t.h[i]
			i = p
		}
		return
	}
	t.x = x
	if t.cmp(&t.x, &t.h[0]) >= 0 {
		return // not better than the worst kept
	}
	t.h[0] = t.x
	t.down(0)
}

// down moves h[i] down to its place in the heap.
func (t *topOf[T]) down(i int) {
	for {
		l, r, w := 2*i+1, 2*i+2, i
		if l < len(t.h) && t.worse(l, w) {
			w = l
		}
		if r < len(t.h) && t.worse(r, w) {
			w = r
		}
		if w == i {
			break
		}
		t.h[i], t.h[w] = t.h[w], t.h[i]
		i = w
	}
}

// sorted returns the items kept, best first: a heap sort of a copy
// (slices.SortFunc through cmp's pointers made both items escape: an
// allocation per comparison).
func (t *topOf[T]) sorted() []T {
	out := slices.Clone(t.h)
	s := &topOf[T]{cmp: t.cmp, h: out}
	for n := len(out) - 1; n > 0; n-- {
		out[0], out[n] = out[n], out[0] // the worst left goes last
		s.h = out[:n]
		s.down(0)
	}
	return out
}
