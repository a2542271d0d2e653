package reports

import (
	"math"
	"slices"
)

// Delays in Postfix logs carry at most two significant digits (delays=
// values below 1 s have one, whole seconds above), so a histogram with one
// bucket per two-significant-digit value gives exact percentiles with a
// fixed, small amount of memory: 90 buckets per decade from 0.01 s to
// 10^8 s, plus one for zero.
const (
	histMinExp  = -2 // 0.01 s
	histDecades = 10
	histSize    = 1 + histDecades*90
)

// decades are the lower bounds of the histogram's decades, 0.01 s to
// 10^7 s, and units the size of a two-digit step in each: a table
// instead of Log10 and Pow on every delay.
func decades() [histDecades + 1]float64 {
	return [histDecades + 1]float64{0.01, 0.1, 1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}
}

// histKey returns the bucket of v (seconds).
func histKey(v float64) int {
	if !(v >= 0.01) { // also NaN
		return 0
	}
	dec := decades()
	d := 0
	for d < histDecades && v >= dec[d+1] {
		d++
	}
	if d >= histDecades {
		return histSize - 1
	}
	m := int(math.Round(v / dec[d] * 10)) // 10..100
	if m >= 100 {
		if d+1 >= histDecades {
			return histSize - 1
		}
		d, m = d+1, 10
	}
	m = max(m, 10)
	return 1 + d*90 + (m - 10)
}

// keyCache remembers the buckets of recent values, by the value's bits:
// Postfix writes delays with two significant digits, so a log holds a few
// hundred distinct values, and a hit costs a multiplication and a
// compare instead of histKey's search, division and rounding. Each
// delivery looks up five or six values. The zero value is ready to use
// (an empty entry holds the bits of 0, whose bucket is 0).
type keyCache [512]keyEntry

type keyEntry struct {
	bits uint64
	k    uint16
}

// key returns histKey(v).
func (c *keyCache) key(v float64) int {
	bits := math.Float64bits(v)
	e := &c[(bits*0x9E3779B97F4A7C15)>>(64-9)]
	if e.bits == bits {
		return int(e.k)
	}
	k := histKey(v)
	e.bits, e.k = bits, uint16(k)
	return k
}

// histValue is the value a bucket stands for.
func histValue(k int) float64 {
	if k <= 0 {
		return 0
	}
	k--
	d, m := k/90, k%90+10
	return float64(m) * math.Pow(10, float64(d+histMinExp-1))
}

// hist is a dense histogram (for the few delay stages).
type hist struct {
	n   int64
	max float64
	c   [histSize]int64
}

func (h *hist) add(v float64) { h.addKey(histKey(v), v) }

// addKey adds v, whose bucket is k.
func (h *hist) addKey(k int, v float64) {
	h.c[k]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

// quantile returns the nearest-rank q-quantile, NaN when empty.
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var c int64
	for k, v := range h.c {
		c += v
		if c >= rank {
			return round2(histValue(k))
		}
	}
	return h.max
}

// sparseHist is a histogram for the many small populations (one per
// recipient domain and relay): the buckets in use, sorted, in one slice
// (a map per domain cost a hashed lookup in scattered memory for every
// delivery). New values wait in pend, beside the record's counters, and
// are counted into the slice a few at a time: most deliveries then touch
// no memory of the slice.
type sparseHist struct {
	b    []histBin
	pend [6]uint16 // buckets of values not counted in b yet
	np   uint8
}

type histBin struct {
	k uint16
	n int64
}

func (h *sparseHist) add(v float64) { h.addKey(histKey(v)) }

// addKey adds a value whose bucket is k.
func (h *sparseHist) addKey(k int) {
	if int(h.np) == len(h.pend) {
		h.flush()
	}
	h.pend[h.np] = uint16(k)
	h.np++
}

// flush counts the pending values into b.
func (h *sparseHist) flush() {
	p := h.pend[:h.np]
	h.np = 0
	for i := 1; i < len(p); i++ { // insertion sort: a handful of keys
		for j := i; j > 0 && p[j] < p[j-1]; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
	lo := 0
	for _, k := range p {
		hi := len(h.b)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if h.b[m].k < k {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < len(h.b) && h.b[lo].k == k {
			h.b[lo].n++
			continue
		}
		h.b = slices.Insert(h.b, lo, histBin{k, 1})
	}
}

// median returns the nearest-rank median, -1 when empty.
func (h *sparseHist) median() float64 {
	h.flush()
	var n int64
	for _, b := range h.b {
		n += b.n
	}
	if n == 0 {
		return -1
	}
	rank := (n + 1) / 2
	var c int64
	for _, b := range h.b {
		c += b.n
		if c >= rank {
			return round2(histValue(int(b.k)))
		}
	}
	return -1
}

// round2 removes float noise from bucket values (0.30000000000000004).
func round2(v float64) float64 {
	if v >= 100 {
		return math.Round(v)
	}
	return math.Round(v*1000) / 1000
}
