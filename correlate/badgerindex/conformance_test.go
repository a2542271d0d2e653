package badgerindex_test

import (
	"testing"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/badgerindex"
	"github.com/pfdiag/pfdiag/correlate/indextest"
)

func TestConformance(t *testing.T) {
	indextest.Run(t, func() correlate.Index {
		idx, err := badgerindex.Open(t.TempDir(), badgerindex.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return idx
	})
}
