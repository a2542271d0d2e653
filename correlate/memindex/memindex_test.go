package memindex_test

import (
	"testing"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/indextest"
	"github.com/pfdiag/pfdiag/correlate/memindex"
)

func TestConformance(t *testing.T) {
	indextest.Run(t, func() correlate.Index { return memindex.New() })
}
