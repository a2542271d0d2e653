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
	if s.Year != 0 {
		if s.HasZone {
			loc = c.zone(s.Offset)
		}
		return time.Date(s.Year, time.Month(s.Month), s.Day, s.Hour, s.Min, s.Sec, s.Nsec, loc)
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
	if c.Year == 0 && !c.Ref.IsZero() && c.date(y, s, loc).After(c.Ref.Add(slack)) {
		y--
		c.year = y
	}
	return c.date(y, s, loc)
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
	return time.Date(y, time.Month(s.Month), s.Day, s.Hour, s.Min, s.Sec, s.Nsec, loc)
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
