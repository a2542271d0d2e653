package tuning

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Suggestion is one line of a configuration change. A change that needs
// several lines (a transport: master.cf, main.cf and transport_maps) is
// several Suggestions with the same ID, Rationale and Evidence.
//
// The JSON form is part of pfdiag's stable report interface.
type Suggestion struct {
	ID        string `json:"id"`                  // the change: "slow-transport:yahoodns.net", "ipv4", "resolver", "process-limit", "queue-lifetime", "bounce-lifetime"
	File      string `json:"file"`                // "main.cf", "master.cf", a transport_maps file, "resolv.conf"
	Parameter string `json:"parameter,omitempty"` // main.cf parameter; empty for lines of other files
	Value     string `json:"value"`               // the parameter's value, or the whole line for other files
	Current   string `json:"current,omitempty"`   // the current value (from --postconf, else Postfix's default), main.cf only
	Rationale string `json:"rationale"`           // one line: what was seen and why this helps
	Evidence  int64  `json:"evidence"`            // how many log records support it
}

// Line returns the suggestion as it goes into its file.
func (s *Suggestion) Line() string {
	if s.Parameter != "" {
		return s.Parameter + " = " + s.Value
	}
	return s.Value
}

// Thresholds below which nothing is suggested: one odd deferral is not a
// pattern.
const (
	minThrottle     = 5   // rate-limit/too-many-connections attempts at one provider…
	minShare        = 5   // …making up this percentage of all of them…
	manyThrottle    = 100 // …or at least this many
	minIPv6         = 3   // IPv6 network-unreachable attempts
	minDNSTemp      = 10  // "Host not found, try again" attempts…
	minDNSProviders = 5   // …over this many unrelated registered domains
	minSlowB        = 20  // attempts with b ≥ 5 s…
	slowBShare      = 20  // …and at least 1/20 of all attempts with delays=
	maxTransportMap = 50  // domains listed per slow transport
)

// Suggest decides the configuration changes the collected evidence
// supports, given the current configuration (the zero Postconf means
// Postfix's defaults). The order is stable: slow transports (most
// evidence first), IPv4, resolver, process limit, queue lifetimes.
func Suggest(c *Collector, pc Postconf) []Suggestion {
	var out []Suggestion
	out = append(out, slowTransports(c, pc)...)
	out = append(out, ipv4(c, pc)...)
	out = append(out, resolver(c)...)
	out = append(out, processLimit(c, pc)...)
	out = append(out, lifetimes(c, pc)...)
	return out
}

type providerGroup struct {
	name       string
	rate, conn int64
	peak       int32 // busiest hour's attempts to one of its domains
	peakDomain string
	domains    []string // throttled domains, most throttled first
	weights    map[string]int64
	sample     string
}

func slowTransports(c *Collector, pc Postconf) []Suggestion {
	groups := map[string]*providerGroup{}
	var total int64
	for d, s := range c.domains {
		if s.rate == 0 && s.conn == 0 {
			continue
		}
		p := s.provider
		if p == "" {
			p = registered(d)
		}
		if p == "" {
			continue
		}
		g := groups[p]
		if g == nil {
			g = &providerGroup{name: p, weights: map[string]int64{}}
			groups[p] = g
		}
		g.rate += s.rate
		g.conn += s.conn
		total += s.rate + s.conn
		g.weights[d] = s.rate + s.conn
		g.domains = append(g.domains, d)
		if s.sample != "" && (g.sample == "" || s.sample < g.sample) {
			g.sample = s.sample
		}
	}
	// The busiest hour over every domain of the provider (the throttled
	// ones and those that merely share its MX hosts).
	for d, s := range c.domains {
		p := s.provider
		if p == "" {
			p = registered(d)
		}
		g := groups[p]
		if g == nil {
			continue
		}
		for _, hc := range s.hours {
			if n := hc.n; n > g.peak || (n == g.peak && d < g.peakDomain) {
				g.peak, g.peakDomain = n, d
			}
		}
	}
	// Concentrated: a provider with a real share of the throttling (or a
	// lot of it in absolute terms) gets its own transport; a few stray
	// deferrals at many providers do not make one each.
	var list []*providerGroup
	for _, g := range groups {
		if n := g.rate + g.conn; n >= minThrottle && (n*100 >= total*minShare || n >= manyThrottle) {
			list = append(list, g)
		}
	}
	slices.SortFunc(list, func(a, b *providerGroup) int {
		if x := (b.rate + b.conn) - (a.rate + a.conn); x != 0 {
			if x > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a.name, b.name)
	})
	var out []Suggestion
	mapSuggested := false
	for _, g := range list {
		lines := slowTransport(g, total, pc, !mapSuggested)
		for _, l := range lines {
			if l.Parameter == "transport_maps" {
				mapSuggested = true
			}
		}
		out = append(out, lines...)
	}
	return out
}

// transportName makes a master.cf service name from a provider domain:
// "slow_" and its first label, [a-z0-9] only.
func transportName(provider string) string {
	label, _, _ := strings.Cut(provider, ".")
	var b strings.Builder
	b.WriteString("slow_")
	for i := 0; i < len(label) && b.Len() < 30; i++ {
		if c := label[i]; c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		}
	}
	if b.Len() == len("slow_") {
		b.WriteString("provider")
	}
	return b.String()
}

// slowTransport makes the change for one provider; withMap says whether
// transport_maps itself still has to be set (once for all transports).
// Every line of the change carries the same rationale and evidence.
func slowTransport(g *providerGroup, total int64, pc Postconf, withMap bool) []Suggestion {
	name := transportName(g.name)
	ev := g.rate + g.conn
	slices.SortFunc(g.domains, func(a, b string) int {
		if x := g.weights[b] - g.weights[a]; x != 0 {
			if x > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	what := "rate-limit"
	switch {
	case g.rate > 0 && g.conn > 0:
		what = "rate-limit and too-many-connections"
	case g.conn > 0:
		what = "too-many-connections"
	}
	why := fmt.Sprintf("%d %s deferrals (%.0f%% of all such) came from %s's servers",
		ev, what, 100*float64(ev)/float64(max(total, 1)), g.name)

	concParam := name + "_destination_concurrency_limit"
	delayParam := name + "_destination_rate_delay"
	curConc, concSet := pc.Set(concParam)
	curDelay, delaySet := pc.Set(delayParam)
	defConc := pc.Get("default_destination_concurrency_limit")
	type kv struct{ param, value, current string }
	var params []kv
	if g.rate > 0 {
		// Pace deliveries: a non-zero rate delay makes Postfix deliver to
		// the destination one message at a time, with that pause in
		// between. Bursts of parallel sessions are what trips most
		// limits: spread the busiest hour's volume evenly over the hour
		// (rounding down, so that the hour still fits).
		delay := 1
		if g.peak > 0 {
			delay = int(math.Floor(3600 / float64(g.peak)))
		}
		delay = min(max(delay, 1), 30)
		if g.peak > 0 {
			why += fmt.Sprintf("; the busiest hour had %d attempts to %s: one delivery at a time, every %ds (up to %d an hour per domain), spreads that volume evenly instead of in bursts",
				g.peak, g.peakDomain, delay, 3600/delay)
		} else {
			why += "; deliver one message at a time, with a pause in between"
		}
		if delaySet {
			if cur, ok := parseTime(curDelay, 's'); ok && cur >= time.Duration(delay)*time.Second {
				delay = min(int(2*cur/time.Second), 120)
				why += fmt.Sprintf("; %s is already %s: double it (if it was in place during the logged period)", delayParam, curDelay)
			}
		}
		if !(delaySet && curDelay == strconv.Itoa(delay)+"s") {
			params = append(params, kv{delayParam, strconv.Itoa(delay) + "s", currentOr(curDelay, delaySet, pc.Get("default_destination_rate_delay"))})
		}
		// A rate delay serialises delivery anyway; the explicit limit of 1
		// says so to whoever reads main.cf.
		if !(concSet && curConc == "1") {
			params = append(params, kv{concParam, "1", currentOr(curConc, concSet, defConc)})
		}
	} else {
		conc := 2
		if concSet {
			if n, err := strconv.Atoi(curConc); err == nil && n <= conc {
				conc = max(n-1, 1)
			}
		}
		why += fmt.Sprintf("; at most %d parallel sessions per destination (instead of %s) keeps under their per-IP connection limit", conc, currentOr(curConc, concSet, defConc))
		if !(concSet && curConc == strconv.Itoa(conc)) {
			params = append(params, kv{concParam, strconv.Itoa(conc), currentOr(curConc, concSet, defConc)})
		}
	}
	if len(params) == 0 {
		return nil
	}
	table, tableSet := transportTable(pc)
	why += fmt.Sprintf("; a dedicated transport keeps these limits away from other destinations (then: postmap %s; postfix reload)", table)
	id := "slow-transport:" + g.name
	var out []Suggestion
	// The transport itself, unless the configuration already tunes it
	// (then master.cf has it).
	if !concSet && !delaySet {
		out = append(out, Suggestion{File: "master.cf", Value: name + "  unix  -  -  n  -  -  smtp -o syslog_name=postfix/" + name})
	}
	for _, p := range params {
		out = append(out, Suggestion{File: "main.cf", Parameter: p.param, Value: p.value, Current: p.current})
	}
	if !tableSet && withMap {
		out = append(out, Suggestion{File: "main.cf", Parameter: "transport_maps", Value: "hash:" + table, Current: pc.Get("transport_maps")})
	}
	n := 0
	for _, d := range g.domains {
		if !validDomain(d) {
			continue // log text never goes into a map file unchecked
		}
		if n == maxTransportMap {
			break
		}
		n++
		out = append(out, Suggestion{File: table, Value: d + "  " + name + ":"})
	}
	for i := range out {
		out[i].ID, out[i].Rationale, out[i].Evidence = id, why, ev
	}
	return out
}

func currentOr(v string, set bool, def string) string {
	if set {
		return v
	}
	return def
}

// transportTable returns the file of the first hash/lmdb/cdb/btree table
// of transport_maps, or /etc/postfix/transport when none is configured.
func transportTable(pc Postconf) (string, bool) {
	v := pc.Get("transport_maps")
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		typ, path, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		switch typ {
		case "hash", "lmdb", "cdb", "btree", "dbm", "texthash":
			return path, true
		}
	}
	return "/etc/postfix/transport", v != ""
}

func ipv4(c *Collector, pc Postconf) []Suggestion {
	if c.ipv6 < minIPv6 || pc.Get("inet_protocols") == "ipv4" {
		return nil
	}
	why := fmt.Sprintf("%d deliveries failed with \"Network is unreachable\" on an IPv6 address (e.g. %s): this host has no IPv6 route", c.ipv6, clip(c.ipv6Sample, 120))
	if pc.Get("smtp_address_preference") == "ipv4" {
		return []Suggestion{{ID: "ipv4", File: "main.cf", Parameter: "inet_protocols", Value: "ipv4", Current: pc.Get("inet_protocols"),
			Rationale: why + "; IPv4 is already preferred, so stop using IPv6 altogether (postfix stop; postfix start)", Evidence: c.ipv6}}
	}
	return []Suggestion{{ID: "ipv4", File: "main.cf", Parameter: "smtp_address_preference", Value: "ipv4", Current: pc.Get("smtp_address_preference"),
		Rationale: why + "; try IPv4 addresses first (or set inet_protocols = ipv4 if IPv6 is never routed)", Evidence: c.ipv6}}
}

func resolver(c *Collector) []Suggestion {
	if c.dnsTemp < minDNSTemp {
		return nil
	}
	regs := map[string]bool{}
	fine := 0
	n := 0
	for d, s := range c.domains {
		if s.dnsTemp == 0 {
			continue
		}
		n++
		if r := registered(d); r != "" {
			regs[r] = true
		}
		if s.sent > 0 {
			fine++
		}
	}
	if len(regs) < minDNSProviders {
		return nil
	}
	why := fmt.Sprintf("%d deferrals \"Host not found, try again\" for %d unrelated domains", c.dnsTemp, n)
	if fine > 0 {
		why += fmt.Sprintf(", %d of which took mail at other times", fine)
	}
	why += ": the fault is the resolver Postfix uses, not their DNS; use a local caching resolver (unbound) and copy resolv.conf into the chroot (/var/spool/postfix/etc/) when smtp runs chrooted"
	return []Suggestion{{ID: "resolver", File: "resolv.conf", Value: "nameserver 127.0.0.1", Rationale: why, Evidence: c.dnsTemp}}
}

func processLimit(c *Collector, pc Postconf) []Suggestion {
	if c.bSlow < minSlowB || c.bSlow*slowBShare < c.withDelays {
		return nil
	}
	cur := pc.Int("default_process_limit", 100)
	why := fmt.Sprintf("%d of %d deliveries waited %d s or more in the queue manager (b of delays=a/b/c/d; %d over %d s, longest %.0f s): the active queue is congested waiting for delivery agents; raise the limit if CPU, memory and bandwidth have headroom",
		c.bSlow, c.withDelays, slowB, c.bVerySlow, verySlowB, c.bMax)
	return []Suggestion{{ID: "process-limit", File: "main.cf", Parameter: "default_process_limit", Value: strconv.Itoa(2 * cur),
		Current: pc.Get("default_process_limit"), Rationale: why, Evidence: c.bSlow}}
}

func lifetimes(c *Collector, pc Postconf) []Suggestion {
	var out []Suggestion
	curMax, ok := pc.Duration("maximal_queue_lifetime", 'd')
	if !ok {
		curMax = 5 * 24 * time.Hour
	}
	if ev := c.deferredDays + c.expired; ev > 0 && c.deferredDays > 0 {
		// Keep every recipient that did get through late: the new
		// lifetime is above the latest successful delivery, and at
		// least two days (a weekend outage at the receiver).
		days := max(2, int(math.Ceil(c.lateSentMax/day)))
		want := time.Duration(days) * 24 * time.Hour
		if want < curMax {
			why := fmt.Sprintf("%d deferrals of mail queued a day or more (oldest %s)", c.deferredDays, age(c.oldestDeferred))
			if c.expired > 0 {
				why += fmt.Sprintf(", %d recipients expired", c.expired)
			}
			if c.lateSent > 0 {
				why += fmt.Sprintf("; the latest late success came after %s", age(c.lateSentMax))
			} else {
				why += "; nothing queued over a day was delivered"
			}
			why += fmt.Sprintf(": tell senders after %dd instead of retrying for %s", days, age(curMax.Seconds()))
			out = append(out, Suggestion{ID: "queue-lifetime", File: "main.cf", Parameter: "maximal_queue_lifetime", Value: fmtDays(want),
				Current: pc.Get("maximal_queue_lifetime"), Rationale: why, Evidence: ev})
		}
	}
	curBounce, ok := pc.Duration("bounce_queue_lifetime", 'd')
	if !ok {
		curBounce = 5 * 24 * time.Hour
	}
	if c.ndrDeferredDays > 0 && curBounce > 24*time.Hour {
		out = append(out, Suggestion{ID: "bounce-lifetime", File: "main.cf", Parameter: "bounce_queue_lifetime", Value: "1d",
			Current: pc.Get("bounce_queue_lifetime"), Evidence: c.ndrDeferredDays,
			Rationale: fmt.Sprintf("%d deferrals of non-delivery notices queued a day or more: their (often forged) senders cannot be reached; give up after a day", c.ndrDeferredDays)})
	}
	return out
}

// age formats seconds as days and hours ("3d04h", "5d"), hours and
// minutes, or seconds.
func age(sec float64) string {
	s := int64(sec)
	switch {
	case s >= 86400 && s%86400 == 0:
		return fmt.Sprintf("%dd", s/86400)
	case s >= 86400:
		return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
	case s >= 3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	case s >= 60:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}

// clip shortens s to n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
