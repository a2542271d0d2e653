package metrics

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/reports/live"
)

// Options configure Metrics.
type Options struct {
	// TopDomains recipient domains get a label of their own in the
	// per-destination metrics; the others are "other". Default 20.
	TopDomains int
	// TopHosts syslog hosts get a label of their own. Default 50.
	TopHosts int
	// Categories are created at zero so that alerting rules see them
	// before the first failure (the delivery categories of the rules).
	Categories []string
	// Finding returns the operational-finding category of a group of
	// warning lines ("" to leave it out); nil counts none.
	Finding func(k correlate.WarningKey) string
}

// Other is the label value of everything beyond the top N.
const Other = "other"

// Stages are the delays= stages, in order: before the queue manager, in
// the queue manager, connection set-up, transmission (postconf(5),
// "delays").
var stageNames = [4]string{"a", "b", "c", "d"}

// histStatuses are the statuses whose delays are histogrammed: expiries
// have no delays= of their own.
var histStatuses = []correlate.Status{correlate.StatusSent, correlate.StatusDeferred, correlate.StatusBounced}

type hist struct {
	counts correlate.Histogram
	sum    float64
}

type pair struct{ a, b string }

// Metrics holds the values and is a prometheus.Collector. Its methods are
// safe for concurrent use (the tail loop updates, scrapes read).
type Metrics struct {
	opts Options
	d    descs

	mu              sync.Mutex
	lines, unparsed float64
	deliveries      map[string]float64 // status
	diagnoses       map[string]float64 // category
	rejects         map[string]float64 // category
	findings        map[string]float64 // category
	delay           map[string]*hist   // status
	stages          map[pair]*hist     // status, stage
	domains         *topN
	hosts           *topN
	dests           *topN
	domainDel       map[pair]float64 // domain, status
	domainDiag      map[pair]float64 // domain, category
	hostDel         map[pair]float64 // host, status
	deferred        float64
	problems        map[[3]string]float64 // scope, destination, category
	nProblems       float64
	lastLine        time.Time
	lastCheckpoint  time.Time
	checkpoints     float64
	follow          map[string]float64 // follower note kinds
	missed          float64
}

type descs struct {
	lines, unparsed, deliveries, diagnoses, rejects, findings *prometheus.Desc
	delay, stages, domainDel, domainDiag, hostDel, deferred   *prometheus.Desc
	active, problem, lastLine, lastCheckpoint, checkpoints    *prometheus.Desc
	follow, missed                                            *prometheus.Desc
}

// New returns empty Metrics.
func New(opts Options) *Metrics {
	if opts.TopDomains <= 0 {
		opts.TopDomains = 20
	}
	if opts.TopHosts <= 0 {
		opts.TopHosts = 50
	}
	m := &Metrics{
		opts:       opts,
		deliveries: map[string]float64{},
		diagnoses:  map[string]float64{},
		rejects:    map[string]float64{},
		findings:   map[string]float64{},
		delay:      map[string]*hist{},
		stages:     map[pair]*hist{},
		domains:    newTopN(opts.TopDomains),
		hosts:      newTopN(opts.TopHosts),
		dests:      newTopN(opts.TopDomains),
		domainDel:  map[pair]float64{},
		domainDiag: map[pair]float64{},
		hostDel:    map[pair]float64{},
		problems:   map[[3]string]float64{},
		follow:     map[string]float64{},
	}
	for _, s := range []correlate.Status{correlate.StatusSent, correlate.StatusDeferred, correlate.StatusBounced, correlate.StatusExpired} {
		m.deliveries[s.String()] = 0
	}
	for _, s := range histStatuses {
		m.delay[s.String()] = &hist{}
		for _, st := range stageNames {
			m.stages[pair{s.String(), st}] = &hist{}
		}
	}
	for _, c := range opts.Categories {
		m.diagnoses[c] = 0
	}
	n := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	m.d = descs{
		lines:          n("pfdiag_lines_total", "Log lines read, of every kind."),
		unparsed:       n("pfdiag_unparsed_lines_total", "Lines pfdiag did not understand: without a syslog header, unknown Postfix lines, other programs' lines."),
		deliveries:     n("pfdiag_deliveries_total", "Delivery attempts by status: one per to= line (sent, deferred, bounced…), and one per recipient still pending when its message expired (expired).", "status"),
		diagnoses:      n("pfdiag_diagnoses_total", "Failed delivery attempts (deferred, bounced, expired) by diagnosed category (taxonomy id).", "category"),
		rejects:        n("pfdiag_rejects_total", "Rejected SMTP commands and messages (smtpd, postscreen, cleanup, milters) by diagnosed category.", "category"),
		findings:       n("pfdiag_findings_total", "warning:, error:, fatal: and panic: lines by operational finding (map_outdated, queue_disk_full, process_crash…).", "category"),
		delay:          n("pfdiag_delivery_delay_seconds", "delay= of delivery attempts: seconds from the message's arrival to the end of the attempt.", "status"),
		stages:         n("pfdiag_delivery_stage_delay_seconds", "delays= of delivery attempts by stage: a before the queue manager, b in the queue manager, c connection set-up (DNS, HELO, TLS), d transmission.", "status", "stage"),
		domainDel:      n("pfdiag_destination_deliveries_total", "Delivery attempts by recipient domain (the top domains; the rest are \"other\") and status.", "domain", "status"),
		domainDiag:     n("pfdiag_destination_diagnoses_total", "Failed delivery attempts by recipient domain (top domains, else \"other\") and diagnosed category.", "domain", "category"),
		hostDel:        n("pfdiag_host_deliveries_total", "Delivery attempts by syslog host (for a central log server; top hosts, else \"other\") and status.", "host", "status"),
		deferred:       n("pfdiag_deferred_messages", "Messages the log shows in the queue with at least one recipient deferred (not yet delivered, bounced or expired)."),
		active:         n("pfdiag_active_problems", "Problems active now: a category above its threshold for a destination within the window (see pfdiag tail)."),
		problem:        n("pfdiag_problem_active", "Active problems by scope (domain, relay, host), destination (top destinations, else \"other\") and category.", "scope", "destination", "category"),
		lastLine:       n("pfdiag_last_line_timestamp_seconds", "Time written in the newest line read (Unix seconds): a log that stopped moving."),
		lastCheckpoint: n("pfdiag_last_checkpoint_timestamp_seconds", "When the index last committed what was read (Unix seconds, wall clock)."),
		checkpoints:    n("pfdiag_checkpoints_total", "Checkpoints committed to the index (read position and state, atomically)."),
		follow:         n("pfdiag_follow_events_total", "What happened to the followed log: rotated (renamed or deleted), truncated (copytruncate), rest (rotated content read), missed (content gone before it was read).", "event"),
		missed:         n("pfdiag_follow_missed_bytes_total", "Bytes of log that could not be read because they were gone (when their size is known)."),
	}
	return m
}

// Seed adds the index's aggregates at start: counters continue from what
// the index holds. Destinations and hosts get their own labels by volume.
func (m *Metrics) Seed(hours []*correlate.Hour) {
	vol := map[string]int64{}
	hostVol := map[string]int64{}
	for _, h := range hours {
		for k, d := range h.Deliveries {
			vol[k.Domain] += d.Count
			hostVol[k.Host] += d.Count
		}
	}
	m.mu.Lock()
	m.domains.seed(vol)
	m.hosts.seed(hostVol)
	m.mu.Unlock()
	m.Add(hours...)
}

// Add adds aggregate deltas (what a checkpoint committed).
func (m *Metrics) Add(hours ...*correlate.Hour) {
	var findings map[correlate.WarningKey]string
	if m.opts.Finding != nil {
		// Classify outside the lock: the rules engine may take a while
		// on a text it has not seen.
		findings = map[correlate.WarningKey]string{}
		for _, h := range hours {
			for k := range h.Warnings {
				if _, ok := findings[k]; !ok {
					findings[k] = m.opts.Finding(k)
				}
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range hours {
		m.lines += float64(h.AllLines())
		m.unparsed += float64(h.Unparsed())
		for k, d := range h.Deliveries {
			st := k.Status.String()
			n := float64(d.Count)
			m.deliveries[st] += n
			dom := m.domains.label(k.Domain)
			m.domainDel[pair{dom, st}] += n
			m.hostDel[pair{m.hosts.label(k.Host), st}] += n
			if k.Status.Failed() {
				cat := clean(k.Category)
				if cat == "" {
					cat = correlate.Unclassified
				}
				m.diagnoses[cat] += n
				m.domainDiag[pair{dom, cat}] += n
			}
			if hs := m.delay[st]; hs != nil {
				hs.sum += d.DelaySum
				for i, s := range stageNames {
					m.stages[pair{st, s}].sum += d.DelaysSum[i]
				}
			}
		}
		for k, ds := range h.Delays {
			hs := m.delay[k.Status.String()]
			if hs == nil {
				continue
			}
			addHist(&hs.counts, &ds.Total)
			for i, s := range stageNames {
				addHist(&m.stages[pair{k.Status.String(), s}].counts, &ds.Stages[i])
			}
		}
		for k, r := range h.Rejects {
			switch k.Action {
			case "reject", "milter-reject", "proxy-reject":
				cat := clean(k.Category)
				if cat == "" {
					cat = correlate.Unclassified
				}
				m.rejects[cat] += float64(r.Count)
			}
		}
		for k, w := range h.Warnings {
			if cat := clean(findings[k]); cat != "" {
				m.findings[cat] += float64(w.Count)
			}
		}
	}
}

func addHist(dst, src *correlate.Histogram) {
	for i := range dst {
		dst[i] += src[i]
	}
}

// Checkpointed records a committed checkpoint (wall clock) and the time of
// the newest line read.
func (m *Metrics) Checkpointed(now, lastLine time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoints++
	m.lastCheckpoint = now
	if lastLine.After(m.lastLine) {
		m.lastLine = lastLine
	}
}

// SetDeferred sets the number of messages with deferred recipients.
func (m *Metrics) SetDeferred(n int) {
	m.mu.Lock()
	m.deferred = float64(n)
	m.mu.Unlock()
}

// SetProblems replaces the active problems.
func (m *Metrics) SetProblems(ps []live.Problem) {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.problems)
	for _, p := range ps {
		m.problems[[3]string{p.Scope, m.dests.label(p.Dest), clean(p.Category)}]++
	}
	m.nProblems = float64(len(ps))
}

// FollowEvent counts something that happened to the followed log (a
// follow.NoteKind name) and bytes that were lost, if known.
func (m *Metrics) FollowEvent(kind string, missed int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.follow[kind]++
	if missed > 0 {
		m.missed += float64(missed)
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	d := &m.d
	for _, x := range []*prometheus.Desc{d.lines, d.unparsed, d.deliveries, d.diagnoses, d.rejects, d.findings,
		d.delay, d.stages, d.domainDel, d.domainDiag, d.hostDel, d.deferred, d.active, d.problem,
		d.lastLine, d.lastCheckpoint, d.checkpoints, d.follow, d.missed} {
		ch <- x
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := &m.d
	c := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
	}
	g := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	c(d.lines, m.lines)
	c(d.unparsed, m.unparsed)
	for k, v := range m.deliveries {
		c(d.deliveries, v, k)
	}
	for k, v := range m.diagnoses {
		c(d.diagnoses, v, k)
	}
	for k, v := range m.rejects {
		c(d.rejects, v, k)
	}
	for k, v := range m.findings {
		c(d.findings, v, k)
	}
	for st, h := range m.delay {
		ch <- constHist(d.delay, h, st)
	}
	for k, h := range m.stages {
		ch <- constHist(d.stages, h, k.a, k.b)
	}
	for k, v := range m.domainDel {
		c(d.domainDel, v, k.a, k.b)
	}
	for k, v := range m.domainDiag {
		c(d.domainDiag, v, k.a, k.b)
	}
	for k, v := range m.hostDel {
		c(d.hostDel, v, k.a, k.b)
	}
	g(d.deferred, m.deferred)
	g(d.active, m.nProblems)
	for k, v := range m.problems {
		g(d.problem, v, k[0], k[1], k[2])
	}
	if !m.lastLine.IsZero() {
		g(d.lastLine, float64(m.lastLine.UnixNano())/1e9)
	}
	if !m.lastCheckpoint.IsZero() {
		g(d.lastCheckpoint, float64(m.lastCheckpoint.UnixNano())/1e9)
	}
	c(d.checkpoints, m.checkpoints)
	for k, v := range m.follow {
		c(d.follow, v, k)
	}
	c(d.missed, m.missed)
}

func constHist(desc *prometheus.Desc, h *hist, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(correlate.DelayBounds))
	var cum uint64
	for i, b := range correlate.DelayBounds {
		cum += uint64(h.counts[i])
		buckets[b] = cum
	}
	count := cum + uint64(h.counts[len(correlate.DelayBounds)])
	return prometheus.MustNewConstHistogram(desc, count, h.sum, buckets, labels...)
}

// topN gives label values of their own to at most limit names.
type topN struct {
	limit   int
	members map[string]bool
}

func newTopN(limit int) *topN { return &topN{limit: limit, members: map[string]bool{}} }

// seed admits the names with the largest volumes.
func (t *topN) seed(vol map[string]int64) {
	cv := make(map[string]int64, len(vol))
	for n, v := range vol {
		if n != "" {
			cv[clean(n)] += v
		}
	}
	vol = cv
	names := make([]string, 0, len(vol))
	for n := range vol {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if vol[names[i]] != vol[names[j]] {
			return vol[names[i]] > vol[names[j]]
		}
		return names[i] < names[j]
	})
	for _, n := range names[:min(len(names), t.limit-len(t.members))] {
		t.members[n] = true
	}
}

// label returns name if it has (or now gets) a label of its own, else
// Other. Once given, a label stays, so counters never move between labels.
func (t *topN) label(name string) string {
	name = clean(name)
	switch {
	case name == "":
		return "none"
	case t.members[name]:
		return name
	case len(t.members) < t.limit && name != Other && name != "none":
		t.members[name] = true
		return name
	}
	return Other
}

// maxLabel bounds a label value taken from the log.
const maxLabel = 128

// clean makes a label value from log text: valid UTF-8 (the client
// library refuses anything else) and bounded.
func clean(s string) string {
	if len(s) > maxLabel {
		s = s[:maxLabel]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// Labels returns the names with a label of their own, sorted (for tests
// and the README).
func (t *topN) Labels() []string {
	out := make([]string, 0, len(t.members))
	for n := range t.members {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
