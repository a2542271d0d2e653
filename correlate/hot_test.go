package correlate

import (
	"testing"
	"time"
)

func TestHourBefore(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 500, time.UTC)
	for _, d := range []time.Duration{0, time.Hour - 1, time.Hour, time.Hour + 1, time.Hour + time.Second, -time.Hour, 3 * time.Hour, 200 * 365 * 24 * time.Hour} {
		for _, t0 := range []time.Time{now.Add(-d), now.Add(-d).Add(-499), now.Add(-d).Add(501)} {
			if got, want := hourBefore(t0, now), now.Sub(t0) > time.Hour; got != want {
				t.Errorf("hourBefore(now-%v) = %v, want %v", now.Sub(t0), got, want)
			}
		}
	}
}

// PooledBlocks returns the message blocks waiting in the Ingester's pool
// and in its correlator's hands (for TestReleaseChangesNothing).
func PooledBlocks(in *Ingester) int {
	in.c.pool.mu.Lock()
	defer in.c.pool.mu.Unlock()
	return len(in.c.pool.free) + len(in.c.spare)
}
