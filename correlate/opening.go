package correlate

import (
	"context"
	"sync"
	"time"
)

// Opening is the Index of a run that creates a new index, while that
// index is still being opened on another goroutine.
//
// Why: creating an on-disk index (Badger's files, their first pages, the
// directory syncs) takes 15-25 ms, and a run that waited for it read no
// log meanwhile. A new index holds nothing, so what a run asks first is
// answered at once: Load returns an empty snapshot and Sources none.
// Append keeps the messages, in order, until the index is there; Commit
// and every other call wait for it, then pass everything on. An index
// that failed to open fails every call after that, Close included.
//
// Use it only for a directory that did not exist: for an index with
// contents, Load and Sources would be wrong.
type Opening struct {
	done chan struct{} // closed when idx or err is set
	idx  Index
	err  error

	mu      sync.Mutex
	pending [][]*Message     // appended before idx was there
	release func([]*Message) // for SetRelease, once idx is there
	sent    bool             // pending and release were handed to idx
}

// OpenNew starts open on its own goroutine and returns the Index that
// stands for its result.
func OpenNew(open func() (Index, error)) *Opening {
	o := &Opening{done: make(chan struct{})}
	go func() {
		o.idx, o.err = open()
		close(o.done)
	}()
	return o
}

// Ready reports whether the open has finished (well or not).
func (o *Opening) Ready() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

// Index waits for the open and returns the index it made, with the
// messages appended so far handed to it.
func (o *Opening) Index(ctx context.Context) (Index, error) {
	select {
	case <-o.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if o.err != nil {
		return nil, o.err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sent {
		return o.idx, nil
	}
	o.sent = true
	if o.release != nil {
		if r, ok := o.idx.(interface{ SetRelease(func([]*Message)) }); ok {
			r.SetRelease(o.release)
		}
	}
	pending := o.pending
	o.pending = nil
	for _, msgs := range pending {
		if err := o.idx.Append(ctx, msgs); err != nil {
			return nil, err
		}
	}
	return o.idx, nil
}

// Load returns an empty snapshot: the index is new.
func (o *Opening) Load(ctx context.Context) (*Snapshot, error) {
	if o.Ready() {
		idx, err := o.Index(ctx)
		if err != nil {
			return nil, err
		}
		return idx.Load(ctx)
	}
	return &Snapshot{}, nil
}

// Sources returns none while the new index opens.
func (o *Opening) Sources(ctx context.Context) ([]Source, error) {
	if o.Ready() {
		idx, err := o.Index(ctx)
		if err != nil {
			return nil, err
		}
		return idx.Sources(ctx)
	}
	return nil, nil
}

// Append keeps msgs until the index is open, then passes them on.
func (o *Opening) Append(ctx context.Context, msgs []*Message) error {
	if o.Ready() {
		idx, err := o.Index(ctx)
		if err != nil {
			return err
		}
		return idx.Append(ctx, msgs)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sent {
		// Index handed the pending messages over between Ready and here.
		return o.idx.Append(ctx, msgs)
	}
	if len(msgs) > 0 {
		o.pending = append(o.pending, msgs)
	}
	return nil
}

// Commit waits for the index and commits on it.
func (o *Opening) Commit(ctx context.Context, c *Checkpoint) error {
	idx, err := o.Index(ctx)
	if err != nil {
		return err
	}
	return idx.Commit(ctx, c)
}

// Messages waits for the index and queries it.
func (o *Opening) Messages(ctx context.Context, q Query, fn func(*Message) error) error {
	idx, err := o.Index(ctx)
	if err != nil {
		return err
	}
	return idx.Messages(ctx, q, fn)
}

// Hours waits for the index and queries it.
func (o *Opening) Hours(ctx context.Context, since, until time.Time, fn func(*Hour) error) error {
	idx, err := o.Index(ctx)
	if err != nil {
		return err
	}
	return idx.Hours(ctx, since, until, fn)
}

// SetRelease is the index's SetRelease (when it has one), set once it is
// open: an on-disk index hands written messages back for reuse.
func (o *Opening) SetRelease(fn func([]*Message)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.sent {
		o.release = fn
		return
	}
	if r, ok := o.idx.(interface{ SetRelease(func([]*Message)) }); ok {
		r.SetRelease(fn)
	}
}

// Close waits for the open and closes the index (messages appended and
// not committed are dropped, as the index drops them); it returns the
// open's error when there is no index.
func (o *Opening) Close() error {
	<-o.done
	if o.err != nil {
		return o.err
	}
	return o.idx.Close()
}
