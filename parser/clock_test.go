package parser

import (
	"math/rand/v2"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the system has installed
)

// TestHourCacheIsTimeDate: the cached hour gives exactly what time.Date
// gives (same instant, zone and representation), minute by minute across
// DST changes (including Lord Howe's half-hour one and zones with
// non-hour offsets), for out-of-range fields, and in random order.
func TestHourCacheIsTimeDate(t *testing.T) {
	var zones []*time.Location
	for _, name := range []string{"UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham", "Pacific/Kiritimati"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, loc)
	}
	zones = append(zones, time.FixedZone("", 5*3600+45*60))
	check := func(h *hourCache, y, mo, d, hr, mi, sec, nsec int, loc *time.Location) {
		t.Helper()
		got := h.date(y, mo, d, hr, mi, sec, nsec, loc)
		want := time.Date(y, time.Month(mo), d, hr, mi, sec, nsec, loc)
		if got != want {
			t.Fatalf("%s %04d-%02d-%02d %02d:%02d:%02d.%09d: got %v, want %v", loc, y, mo, d, hr, mi, sec, nsec, got, want)
		}
	}
	for _, loc := range zones {
		var h hourCache
		// Every minute (and a few seconds) of the days around 2024's
		// transitions in both hemispheres.
		for _, day := range []time.Time{
			time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 30, 0, 0, 0, 0, time.UTC),
			time.Date(2024, 4, 6, 0, 0, 0, 0, time.UTC), time.Date(2024, 9, 28, 0, 0, 0, 0, time.UTC),
			time.Date(2024, 10, 5, 0, 0, 0, 0, time.UTC), time.Date(2024, 10, 26, 0, 0, 0, 0, time.UTC),
			time.Date(2024, 11, 2, 0, 0, 0, 0, time.UTC),
		} {
			for m := 0; m < 3*24*60; m++ {
				u := day.Add(time.Duration(m) * time.Minute)
				for _, sec := range []int{0, 7, 59} {
					check(&h, u.Year(), int(u.Month()), u.Day(), u.Hour(), u.Minute(), sec, 123456, loc)
				}
			}
		}
		// Fields time.Date normalises.
		for _, f := range [][7]int{{2023, 2, 29, 10, 5, 5, 0}, {2024, 4, 31, 23, 59, 59, 0}, {2024, 12, 31, 24, 0, 1, 0},
			{2024, 6, 1, 10, 60, 0, 0}, {2024, 6, 1, 10, 59, 60, 0}, {2024, 6, 1, 10, -1, 0, 0}, {2024, 6, 1, 10, 0, 0, 1e9}} {
			check(&h, f[0], f[1], f[2], f[3], f[4], f[5], f[6], loc)
			check(&h, f[0], f[1], f[2], f[3], 30, 30, 0, loc)
		}
		// Random times, often in the hour just cached.
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 20000; i++ {
			y, mo, d, hr := 2020+r.IntN(6), 1+r.IntN(12), 1+r.IntN(28), r.IntN(24)
			for j := 0; j < 3; j++ {
				check(&h, y, mo, d, hr, r.IntN(60), r.IntN(60), r.IntN(1e9), loc)
			}
		}
	}
}

// TestLastHourIsResolve: Resolve's shortcut for a line in the same hour
// as the previous one gives what the full inference gives, on random
// sequences of stamps (mostly in one hour, with month jumps, 29
// February, leap seconds, lines near Ref, zones, and Ref, Year and Loc
// changing between lines as pfdiag tail may change them).
func TestLastHourIsResolve(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	locs := []*time.Location{nil, time.UTC, berlin}
	r := rand.New(rand.NewPCG(3, 4))
	for run := 0; run < 300; run++ {
		ref := time.Date(2024+r.IntN(3), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), 0, 0, 0, time.UTC)
		fast := Clock{Ref: ref, Loc: locs[r.IntN(len(locs))]}
		if r.IntN(4) == 0 {
			fast.Year = 2023
		}
		plain := fast
		s := Stamp{Month: int(ref.Month()), Day: ref.Day(), Hour: ref.Hour()}
		for i := 0; i < 2000; i++ {
			switch k := r.IntN(100); {
			case k < 2:
				s.Month = 1 + r.IntN(12)
			case k < 4:
				s.Month, s.Day = 2, 29
			case k < 8:
				s.Day = 1 + r.IntN(31)
			case k < 14:
				s.Hour = r.IntN(24)
			case k < 15:
				fast.Ref = fast.Ref.Add(time.Duration(r.IntN(7200)-3600) * time.Second)
			case k < 16:
				fast.Year = []int{0, 2022}[r.IntN(2)]
			case k < 17:
				fast.Loc = locs[r.IntN(len(locs))]
			case k < 18:
				s.Year, s.HasZone, s.Offset = 2025, r.IntN(2) == 0, 3600*(r.IntN(5)-2)
			case k < 19:
				s.Year = 0
			}
			plain.Ref, plain.Year, plain.Loc = fast.Ref, fast.Year, fast.Loc
			s.Min, s.Sec, s.Nsec = r.IntN(60), r.IntN(60), r.IntN(1e9)
			if r.IntN(50) == 0 {
				s.Sec = 60
			}
			got := fast.Resolve(&s)
			plain.last.ok = false
			want := plain.Resolve(&s)
			if got != want {
				t.Fatalf("run %d line %d %+v: got %v, want %v", run, i, s, got, want)
			}
		}
	}
}
