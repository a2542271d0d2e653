package reports

import (
	"context"

	"github.com/pfdiag/pfdiag/correlate"
)

// FromIndex builds the report over what idx holds: the hours and the
// messages of the filter's window. A --sender filter is answered with the
// index's sender lookup instead of a scan.
func FromIndex(ctx context.Context, idx correlate.Index, opts Options) (*Report, error) {
	b := NewBuilder(opts)
	f := &opts.Filter
	if err := idx.Hours(ctx, f.Since, f.Until, func(h *correlate.Hour) error {
		b.AddHour(h)
		return nil
	}); err != nil {
		return nil, err
	}
	q := correlate.Query{Since: f.Since, Until: f.Until}
	if f.Sender != "" {
		q.By, q.Value = correlate.BySender, f.Sender
	}
	if err := idx.Messages(ctx, q, func(m *correlate.Message) error {
		b.AddMessage(m)
		return nil
	}); err != nil {
		return nil, err
	}
	return b.Report(), nil
}
