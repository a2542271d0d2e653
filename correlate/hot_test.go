package correlate

import (
	"strings"
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

func TestLastQueuedAs(t *testing.T) {
	for _, s := range []string{
		"", "q", "queued as", "queued as ", "250 2.0.0 Ok: queued as 3F2A1258B01",
		"250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 3F2A1258B01",
		"queued as A queued as B", "qqueued as X", "queued asqueued as Y", "no such thing", "250 2.0.0 <r@x> q1 Saved",
	} {
		if got, want := lastQueuedAs([]byte(s)), strings.LastIndex(s, "queued as "); got != want {
			t.Errorf("lastQueuedAs(%q) = %d, want %d", s, got, want)
		}
	}
}

// StartAggregator and StopAggregator run a Correlator's hour aggregates
// on their own goroutine, as an Ingester's Read does (for BenchmarkProcess).
func StartAggregator(c *Correlator) { c.startAggregator() }

// StopAggregator ends what StartAggregator started.
func StopAggregator(c *Correlator) { c.stopAggregator() }
