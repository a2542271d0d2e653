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

func TestMovesIsAfterOrHourBefore(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 500, time.UTC)
	var ts []time.Time
	for _, d := range []time.Duration{0, 1, -1, 499, 501, time.Second, -time.Second, time.Hour - 1, time.Hour, time.Hour + 1,
		time.Hour + time.Second, -time.Hour, 3 * time.Hour, -3 * time.Hour, 200 * 365 * 24 * time.Hour} {
		ts = append(ts, now.Add(-d), now.Add(-d).Add(-499), now.Add(-d).Add(501), now.Add(-d).In(time.FixedZone("x", 3600)))
	}
	ts = append(ts, time.Time{}, time.Unix(0, 0), time.Unix(-1, 999999999), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC))
	for _, a := range ts {
		for _, b := range ts {
			if got, want := moves(a, b), a.After(b) || hourBefore(a, b); got != want {
				t.Errorf("moves(%v, %v) = %v, want %v", a, b, got, want)
			}
			if got, want := after(a, b), a.After(b); got != want {
				t.Errorf("after(%v, %v) = %v, want %v", a, b, got, want)
			}
		}
	}
}

func TestSameID(t *testing.T) {
	for _, c := range [][2]string{{"", ""}, {"A", ""}, {"", "A"}, {"4A5F6C200C", "4A5F6C200C"}, {"4A5F6C200C", "4A5F6C200D"},
		{"4A5F6C200C", "5A5F6C200C"}, {"4A5F6C200C", "4A5F6C200"}, {"4Y0flr2HlXzPjW8", "4Y0flr2HlXzPjW8"}} {
		if got, want := sameID(c[0], []byte(c[1])), c[0] == c[1]; got != want {
			t.Errorf("sameID(%q, %q) = %v", c[0], c[1], got)
		}
	}
}
