package parser

import "time"

// Clock turns Stamps into times. Classic syslog lines carry no year, so the
// Clock infers it from the order of lines:
//
//   - With Year set (pfdiag --year), the first year-less line is in Year.
//   - Otherwise the first such line gets the latest year that does not put
//     it after Ref (the file's modification time, or now for a stream):
//     a log is never written in the future.
//   - A backward jump of six months or more (Dec → Jan) starts a new year;
//     a forward jump of six months or more (Jan → Dec, files concatenated
//     across a rollover) goes back one. Smaller jumps are out-of-order
//     lines, common with several writers, and change nothing.
//   - Without an explicit Year, a date after Ref is moved back a year.
//   - 29 February in a year that has none belongs to the previous leap year.
//
// Lines with a year or an epoch (RFC 3339, RFC 5424, journald) are taken
// as written and do not disturb the inference. A Clock must see lines in
// file order; it is not safe for concurrent use.
type Clock struct {
	Year int            // year of the first year-less line; 0 to infer from Ref
	Ref  time.Time      // no line is later than this (plus a day of slack)
	Loc  *time.Location // zone of year-less and zone-less stamps; nil = time.Local

	year      int
	lastMonth int
	zones     []zoneCache
	hour      hourCache
	refFor    time.Time // the Ref refSlack was computed for
	refSlack  time.Time // refFor + slack
	last      lastHour
}

// lastHour is the year-less hour Resolve last placed, with everything
// its placement depended on: a classic line in the same hour as the
// previous one (most of them) is then placed without the year inference,
// the check against Ref or the hour cache's comparisons. It is only set
// for an hour the hour cache places exactly and that ends before Ref
// (plus slack), so that no line in it is moved back a year.
type lastHour struct {
	ok              bool
	month, day, hr  int
	year, clockYear int // c.year, c.Year
	loc             *time.Location
	ref             time.Time // c.Ref
	base            int64     // Unix seconds of the hour's start
}

// hourCache remembers the time of one clock hour in one zone: the lines
// of a log mostly fall in the same hour as the previous one, and
// time.Date (a zone lookup, twice per classic line) was a tenth of the
// consumer's time. It is only used for an hour well inside one zone
// period (no transition within a day of it), where time.Date gives
// exactly the hour's start plus the minutes and seconds.
type hourCache struct {
	ok                   bool
	year, month, day, hr int
	loc                  *time.Location
	base                 int64 // Unix seconds of the hour's start
}

type zoneCache struct {
	offset int
	loc    *time.Location
}

// slack allows for clock skew and for a Loc that differs from the writer's.
const slack = 26 * time.Hour

// Resolve returns the time of s, or the zero time when s has none.
func (c *Clock) Resolve(s *Stamp) time.Time {
	loc := c.Loc
	if loc == nil {
		loc = time.Local
	}
	if s.fromEpoch {
		return time.UnixMicro(s.Unix).In(loc)
	}
	if s.Month == 0 {
		return time.Time{}
	}
	if l := &c.last; s.Year == 0 && l.ok && s.Month == l.month && s.Day == l.day && s.Hour == l.hr &&
		s.Month == c.lastMonth && c.year == l.year && c.Year == l.clockYear && loc == l.loc && c.Ref == l.ref &&
		s.Min >= 0 && s.Min < 60 && s.Sec >= 0 && s.Sec < 60 && s.Nsec >= 0 && s.Nsec < 1e9 {
		// What the code below returns for this hour (see lastHour).
		return time.Unix(l.base+int64(s.Min*60+s.Sec), int64(s.Nsec)).In(loc)
	}
	if s.Year != 0 {
		if s.HasZone {
			loc = c.zone(s.Offset)
		}
		return c.hour.date(s.Year, s.Month, s.Day, s.Hour, s.Min, s.Sec, s.Nsec, loc)
	}
	switch {
	case c.year == 0:
		c.year = c.firstYear(s, loc)
	case s.Month+6 <= c.lastMonth:
		c.year++
	case s.Month >= c.lastMonth+6:
		c.year--
	}
	c.lastMonth = s.Month
	y := c.year
	t := c.date(y, s, loc)
	if c.Year == 0 && !c.Ref.IsZero() {
		if c.Ref != c.refFor { // Ref may change between lines (pfdiag tail)
			c.refFor, c.refSlack = c.Ref, c.Ref.Add(slack)
		}
		if t.After(c.refSlack) {
			y--
			c.year = y
			t = c.date(y, s, loc)
		}
	}
	c.rememberHour(s, loc)
	return t
}

// rememberHour sets c.last after Resolve placed the year-less s, if the
// hour cache holds its hour exactly and no line of that hour is after Ref.
func (c *Clock) rememberHour(s *Stamp, loc *time.Location) {
	h := &c.hour
	c.last.ok = false
	if s.Min < 0 || s.Min >= 60 || s.Sec < 0 || s.Sec >= 60 || s.Nsec < 0 || s.Nsec >= 1e9 {
		return // the hour cache was not consulted, and may hold another hour
	}
	if !h.ok || h.month != s.Month || h.day != s.Day || h.hr != s.Hour || h.loc != loc {
		return
	}
	if c.Year == 0 && !c.Ref.IsZero() && c.refSlack.Before(time.Unix(h.base+3600, 0)) {
		return
	}
	c.last = lastHour{ok: true, month: s.Month, day: s.Day, hr: s.Hour, year: c.year, clockYear: c.Year,
		loc: loc, ref: c.Ref, base: h.base}
}

func (c *Clock) firstYear(s *Stamp, loc *time.Location) int {
	if c.Year != 0 {
		return c.Year
	}
	ref := c.Ref
	if ref.IsZero() {
		ref = time.Now()
	}
	y := ref.In(loc).Year()
	if c.date(y, s, loc).After(ref.Add(slack)) {
		y--
	}
	return y
}

// date builds the time, mapping 29 February to the latest leap year ≤ y.
func (c *Clock) date(y int, s *Stamp, loc *time.Location) time.Time {
	if s.Month == 2 && s.Day == 29 {
		for k := 0; k < 8 && !isLeap(y); k++ {
			y--
		}
	}
	return c.hour.date(y, s.Month, s.Day, s.Hour, s.Min, s.Sec, s.Nsec, loc)
}

// date is time.Date, from the cached hour when it can be.
func (h *hourCache) date(y, mo, d, hr, mi, sec, nsec int, loc *time.Location) time.Time {
	inHour := mi >= 0 && mi < 60 && sec >= 0 && sec < 60 && nsec >= 0 && nsec < 1e9
	if h.ok && inHour && y == h.year && mo == h.month && d == h.day && hr == h.hr && loc == h.loc {
		// What time.Date returns: Unix time with the location set.
		return time.Unix(h.base+int64(mi*60+sec), int64(nsec)).In(loc)
	}
	t := time.Date(y, time.Month(mo), d, hr, mi, sec, nsec, loc)
	if !inHour {
		return t
	}
	base := time.Date(y, time.Month(mo), d, hr, 0, 0, 0, loc)
	start, end := base.ZoneBounds()
	const margin = 26 * time.Hour // more than any zone's offset from UTC
	h.ok = (start.IsZero() || !start.After(base.Add(-margin))) &&
		(end.IsZero() || !end.Before(base.Add(time.Hour+margin))) &&
		t.Equal(base.Add(time.Duration(mi*60+sec)*time.Second+time.Duration(nsec)))
	h.year, h.month, h.day, h.hr, h.loc, h.base = y, mo, d, hr, loc, base.Unix()
	return t
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// zone caches fixed zones: time.FixedZone allocates, and an archive has
// only one or two offsets.
func (c *Clock) zone(offset int) *time.Location {
	for _, z := range c.zones {
		if z.offset == offset {
			return z.loc
		}
	}
	loc := time.FixedZone("", offset)
	if offset == 0 {
		loc = time.UTC
	}
	if len(c.zones) < 16 {
		c.zones = append(c.zones, zoneCache{offset, loc})
	}
	return loc
}
