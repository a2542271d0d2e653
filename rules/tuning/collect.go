package tuning

import (
	"slices"
	"strings"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
)

// Categories the collector looks at (taxonomy.md IDs).
const (
	catRate        = "rate_limited"
	catConnections = "too_many_connections"
	catUnreachable = "network_unreachable"
	catDNS         = "dns_lookup_failure"
	catExpired     = "queue_expired"
)

// Bounds that keep a Collector's memory independent of the archive size.
const (
	maxDomains   = 100000 // distinct recipient domains tracked
	maxHourPairs = 200000 // (domain, hour) attempt counters for the busiest-hour estimate
)

// domStat is what the collector knows about one recipient domain.
type domStat struct {
	provider string // registered domain of its MX host, once seen
	attempts int64
	sent     int64
	rate     int64 // rate_limited attempts
	conn     int64 // too_many_connections attempts
	dnsTemp  int64 // "Host not found, try again"
	hours    hourCounts
	sample   string // a throttling reason text

	// The provider of the relay of the domain's last attempt: a domain's
	// attempts go to the same few MX hosts, so this saves most lookups in
	// the collector's relay cache.
	lastRelay, lastProvider string
}

// hourCounts counts attempts per hour (Unix hours), sorted by hour: a
// domain's attempts come roughly in time order, so most of them add to
// the last hour or append one, without a lookup in a map per domain.
type hourCounts []hourCount

type hourCount struct{ h, n int32 }

// find returns the index of hour h, or where it would be inserted.
func (hc hourCounts) find(h int32) (int, bool) {
	if n := len(hc); n > 0 && hc[n-1].h <= h {
		return n - 1 + boolInt(hc[n-1].h < h), hc[n-1].h == h
	}
	lo, hi := 0, len(hc)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if hc[m].h < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(hc) && hc[lo].h == h
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Collector gathers the evidence suggestions are made from. Feed it every
// delivery attempt the report covers (Attempt); it keeps counters, not
// attempts. Not safe for concurrent use.
type Collector struct {
	domains    map[string]*domStat
	hourPairs  int
	attempts   int64 // attempts logged by a delivery agent (expiries excluded)
	withDelays int64
	bSlow      int64   // b ≥ slowB
	bVerySlow  int64   // b ≥ verySlowB
	bMax       float64 //
	ipv6       int64   // network_unreachable on an IPv6 address
	ipv6Sample string
	dnsTemp    int64

	deferredDays    int64   // deferred attempts of mail queued for a day or more
	ndrDeferredDays int64   // the same for notifications (null sender)
	oldestDeferred  float64 // seconds
	lateSent        int64   // sent after a day or more in the queue
	lateSentMax     float64 // seconds
	expired         int64   // recipients returned by qmgr's expiry

	first, last time.Time

	providers map[string]string // relay → provider, a cache: few distinct relays, many attempts

	// gen changes whenever domain records are forgotten (prune): a
	// DomainRef made before is looked up again.
	gen uint64
}

// DomainRef remembers a Collector's record of one recipient domain for a
// caller that keeps its own record of the domain anyway (the report's
// domain table): AttemptRef then skips the Collector's own lookup. The
// zero value is an empty reference.
type DomainRef struct {
	s   *domStat
	gen uint64
}

// maxProviders bounds the relay → provider cache.
const maxProviders = 50000

func (c *Collector) providerOf(relay string) string {
	if p, ok := c.providers[relay]; ok {
		return p
	}
	if len(c.providers) >= maxProviders {
		clear(c.providers)
	}
	p := providerOfRelay(relay)
	c.providers[relay] = p
	return p
}

// Thresholds for the b (queue manager) delay, seconds.
const (
	slowB     = 5
	verySlowB = 60
	day       = 86400
)

// NewCollector returns an empty Collector.
func NewCollector() *Collector {
	return &Collector{domains: map[string]*domStat{}, providers: map[string]string{}}
}

func (c *Collector) domain(d string) *domStat {
	s := c.domains[d]
	if s == nil {
		if len(c.domains) >= maxDomains {
			c.prune()
		}
		s = &domStat{}
		c.domains[d] = s
	}
	return s
}

// prune forgets the quietest domains without any evidence, so that the
// map stays bounded on archives with millions of recipient domains.
func (c *Collector) prune() {
	for limit := int64(1); len(c.domains) >= maxDomains*9/10 && limit < 1<<40; limit *= 2 {
		for d, s := range c.domains {
			if s.rate == 0 && s.conn == 0 && s.dnsTemp == 0 && s.attempts <= limit {
				c.hourPairs -= len(s.hours)
				delete(c.domains, d)
			}
		}
	}
	c.gen++
}

// Attempt adds one delivery attempt to recipient domain (lower case).
// nullSender marks notifications (from=<>), whose queue lifetime is
// bounce_queue_lifetime.
func (c *Collector) Attempt(a *correlate.Attempt, domain string, nullSender bool) {
	c.AttemptRef(a, domain, nil, nullSender)
}

// AttemptRef is Attempt with a reference to the domain's record, kept by
// the caller between attempts to the same domain (nil: none). The result
// is the same as Attempt's.
func (c *Collector) AttemptRef(a *correlate.Attempt, domain string, ref *DomainRef, nullSender bool) {
	if c.first.IsZero() || a.Time.Before(c.first) {
		c.first = a.Time
	}
	if a.Time.After(c.last) {
		c.last = a.Time
	}
	if a.Synthetic {
		if a.Status == correlate.StatusExpired {
			c.expired++
		}
		return
	}
	c.attempts++
	var ds *domStat
	switch {
	case ref == nil:
		ds = c.domain(domain)
	case ref.s != nil && ref.gen == c.gen:
		ds = ref.s
	default:
		ds = c.domain(domain)
		*ref = DomainRef{s: ds, gen: c.gen}
	}
	ds.attempts++
	if a.Relay != ds.lastRelay || ds.lastRelay == "" {
		ds.lastRelay, ds.lastProvider = a.Relay, c.providerOf(a.Relay)
	}
	if p := ds.lastProvider; p != "" && (ds.provider == "" || p < ds.provider) {
		// The smallest name when MX hosts differ: the result must not
		// depend on the order attempts come in.
		ds.provider = p
	}
	if !a.Time.IsZero() {
		h := int32(a.Time.Unix() / 3600)
		i, ok := ds.hours.find(h)
		switch {
		case ok:
			ds.hours[i].n++
		case c.hourPairs < maxHourPairs:
			c.hourPairs++
			ds.hours = slices.Insert(ds.hours, i, hourCount{h, 1})
		}
	}
	if a.HasDelays {
		c.withDelays++
		b := a.Delays[1]
		if b >= slowB {
			c.bSlow++
		}
		if b >= verySlowB {
			c.bVerySlow++
		}
		if b > c.bMax {
			c.bMax = b
		}
	}
	switch a.Status {
	case correlate.StatusSent:
		ds.sent++
		if a.Delay >= day {
			c.lateSent++
			if a.Delay > c.lateSentMax {
				c.lateSentMax = a.Delay
			}
		}
		return
	case correlate.StatusDeferred:
		if a.Delay >= day {
			if nullSender {
				c.ndrDeferredDays++
			} else {
				c.deferredDays++
			}
			if a.Delay > c.oldestDeferred {
				c.oldestDeferred = a.Delay
			}
		}
	}
	switch a.Category {
	case catRate, catConnections:
		if a.Category == catRate {
			ds.rate++
		} else {
			ds.conn++
		}
		if ds.sample == "" || a.Reason < ds.sample {
			ds.sample = a.Reason
		}
		if ds.provider == "" {
			// relay=none ("delivery temporarily suspended: host X[…]
			// refused to talk to me"): the host is in the text.
			if p := providerOfReason(a.Reason); p != "" {
				ds.provider = p
			}
		}
	case catUnreachable:
		if hasIPv6(a.Relay) || hasIPv6(a.Reason) {
			c.ipv6++
			if c.ipv6Sample == "" || a.Reason < c.ipv6Sample {
				c.ipv6Sample = a.Reason
			}
		}
	case catDNS:
		if a.Status == correlate.StatusDeferred && containsFold(a.Reason, "try again") {
			c.dnsTemp++
			ds.dnsTemp++
		}
	}
}

// hasIPv6 reports whether s holds a bracketed IPv6 address, as Postfix
// writes them: "mx.example.com[2001:db8::1]:25".
func hasIPv6(s string) bool {
	for {
		i := strings.IndexByte(s, '[')
		if i < 0 {
			return false
		}
		s = s[i+1:]
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return false
		}
		if strings.Count(s[:j], ":") >= 2 {
			return true
		}
		s = s[j:]
	}
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// providerOfRelay returns the registered domain of the relay's host name
// ("mta5.am0.yahoodns.net[67.195.228.85]:25" → "yahoodns.net"), "" when
// there is none (relay=none, local, a bare IP).
func providerOfRelay(relay string) string {
	host := relay
	if i := strings.IndexByte(host, '['); i >= 0 {
		host = host[:i]
	}
	return registered(host)
}

// providerOfReason finds "host NAME[" in a reason text.
func providerOfReason(reason string) string {
	i := strings.Index(reason, "host ")
	if i < 0 {
		return ""
	}
	rest := reason[i+5:]
	j := strings.IndexByte(rest, '[')
	if j <= 0 {
		return ""
	}
	return registered(rest[:j])
}

// registered returns the last two labels of a host name, three when the
// second-level label is a common public second level (co.uk, com.au…),
// lower-cased; "" for anything that is not a plain DNS name.
func registered(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !validDomain(host) || !strings.Contains(host, ".") {
		return ""
	}
	labels := strings.Split(host, ".")
	n := len(labels)
	if strings.Trim(labels[n-1], "0123456789") == "" {
		return "" // an IPv4 address, not a name
	}
	if n >= 3 && len(labels[n-1]) == 2 {
		switch labels[n-2] {
		case "co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go":
			return strings.Join(labels[n-3:], ".")
		}
	}
	if n >= 2 {
		return labels[n-2] + "." + labels[n-1]
	}
	return host
}

// validDomain reports whether s is a syntactically valid DNS host name in
// lower case: what may be written into a transport_maps file.
func validDomain(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			label++
		case c == '-':
			if label == 0 {
				return false
			}
			label++
		case c == '.':
			if label == 0 || s[i-1] == '-' {
				return false
			}
			label = 0
		default:
			return false
		}
		if label > 63 {
			return false
		}
	}
	return s[len(s)-1] != '-'
}
