// Package memindex is an in-memory correlate.Index: for `--index :memory:`
// (a throwaway index for one command) and as the reference the Badger
// index is checked against (correlate/indextest runs on both).
//
// Records are stored in their binary encoding, as the Badger index stores
// them, so what a caller reads back is a copy decoded from the same
// bytes: mutating a message after Append or Commit does not change the
// index, and the codec is exercised by every test that uses this index.
//
// It does not persist anything and is not safe for concurrent use.
package memindex

import (
	"context"
	"slices"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
)

// Index is an in-memory correlate.Index. The zero value is not usable;
// call New.
type Index struct {
	staged  [][]byte
	done    [][]byte
	open    map[correlate.Ref][]byte
	hours   map[int64][]byte
	sources map[string]correlate.Source
	state   []byte
	closed  bool
}

// New returns an empty index.
func New() *Index {
	return &Index{
		open:    map[correlate.Ref][]byte{},
		hours:   map[int64][]byte{},
		sources: map[string]correlate.Source{},
	}
}

var _ correlate.Index = (*Index)(nil)

func refKey(r correlate.Ref) correlate.Ref {
	r.First = time.UnixMicro(r.First.UnixMicro())
	return r
}

func (x *Index) check(ctx context.Context) error {
	if x.closed {
		return errClosed
	}
	return ctx.Err()
}

type indexError string

func (e indexError) Error() string { return string(e) }

const errClosed = indexError("memindex: index is closed")

// Load returns the committed open messages, sources and state.
func (x *Index) Load(ctx context.Context) (*correlate.Snapshot, error) {
	if err := x.check(ctx); err != nil {
		return nil, err
	}
	s := &correlate.Snapshot{State: slices.Clone(x.state)}
	keys := make([]correlate.Ref, 0, len(x.open))
	for k := range x.open {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b correlate.Ref) int { return a.First.Compare(b.First) })
	for _, k := range keys {
		m, err := correlate.DecodeMessage(x.open[k])
		if err != nil {
			return nil, err
		}
		s.Open = append(s.Open, m)
	}
	srcs, _ := x.Sources(ctx)
	s.Sources = srcs
	return s, nil
}

// Append stages finished messages until the next Commit.
func (x *Index) Append(ctx context.Context, msgs []*correlate.Message) error {
	if err := x.check(ctx); err != nil {
		return err
	}
	for _, m := range msgs {
		x.staged = append(x.staged, correlate.AppendMessage(nil, m))
	}
	return nil
}

// Commit publishes the staged messages and applies c.
func (x *Index) Commit(ctx context.Context, c *correlate.Checkpoint) error {
	if err := x.check(ctx); err != nil {
		return err
	}
	if c == nil {
		c = &correlate.Checkpoint{}
	}
	x.done = append(x.done, x.staged...)
	x.staged = nil
	for _, r := range c.Closed {
		delete(x.open, refKey(r))
	}
	for _, m := range c.Open {
		x.open[refKey(m.Ref)] = correlate.AppendMessage(nil, m)
	}
	for _, h := range c.Hours {
		idx := h.Start.Unix() / 3600
		if old, ok := x.hours[idx]; ok {
			stored, err := correlate.DecodeHour(old)
			if err != nil {
				return err
			}
			stored.Merge(h)
			h = stored
		}
		x.hours[idx] = correlate.AppendHour(nil, h)
	}
	for _, s := range c.Sources {
		x.sources[s.Fingerprint] = s
	}
	if c.State != nil {
		x.state = slices.Clone(c.State)
	}
	return nil
}

// Messages calls fn for the committed messages matching q: finished
// ones in the order they were appended, then open ones.
func (x *Index) Messages(ctx context.Context, q correlate.Query, fn func(*correlate.Message) error) error {
	if err := x.check(ctx); err != nil {
		return err
	}
	visit := func(b []byte) error {
		m, err := correlate.DecodeMessage(b)
		if err != nil {
			return err
		}
		if q.Match(m) {
			return fn(m)
		}
		return nil
	}
	for i, b := range x.done {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := visit(b); err != nil {
			return err
		}
	}
	keys := make([]correlate.Ref, 0, len(x.open))
	for k := range x.open {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b correlate.Ref) int { return a.First.Compare(b.First) })
	for _, k := range keys {
		if err := visit(x.open[k]); err != nil {
			return err
		}
	}
	return nil
}

// Hours calls fn for each stored hour in [since, until), in time order.
func (x *Index) Hours(ctx context.Context, since, until time.Time, fn func(*correlate.Hour) error) error {
	if err := x.check(ctx); err != nil {
		return err
	}
	idxs := make([]int64, 0, len(x.hours))
	for idx := range x.hours {
		idxs = append(idxs, idx)
	}
	slices.Sort(idxs)
	for _, idx := range idxs {
		start := time.Unix(idx*3600, 0)
		if !since.IsZero() && start.Before(since.Truncate(time.Hour)) {
			continue
		}
		if !until.IsZero() && !start.Before(until) {
			continue
		}
		h, err := correlate.DecodeHour(x.hours[idx])
		if err != nil {
			return err
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	return nil
}

// Sources returns the stored sources, ordered by name then fingerprint.
func (x *Index) Sources(ctx context.Context) ([]correlate.Source, error) {
	if err := x.check(ctx); err != nil {
		return nil, err
	}
	out := make([]correlate.Source, 0, len(x.sources))
	for _, s := range x.sources {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b correlate.Source) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		if a.Fingerprint < b.Fingerprint {
			return -1
		}
		if a.Fingerprint > b.Fingerprint {
			return 1
		}
		return 0
	})
	return out, nil
}

// Close drops staged messages and makes the index unusable.
func (x *Index) Close() error {
	x.staged = nil
	x.closed = true
	return nil
}
