package queue

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pfdiag/pfdiag/rules"
)

// SchemaVersion is the version of the JSON form of a Report. It changes only
// when a field is renamed or removed; new fields may appear without it.
const SchemaVersion = 1

// Classifier diagnoses one delay reason; *rules.Engine is one. The summary
// never decides a diagnosis itself.
type Classifier interface {
	Classify(rules.Input) rules.Diagnosis
}

// AgeBuckets are the column labels of the age matrix, in minutes, as qshape
// prints them: each bucket holds the ages below its label and at or above
// the previous one ("5" is [0, 5), "10" is [5, 10), …, "1280+" is 1280 and
// older). qshape's defaults: bucket_time 5, 10 buckets, geometric.
var ageBounds = [...]int64{5, 10, 20, 40, 80, 160, 320, 640, 1280} // minutes

// NumAgeBuckets is the number of columns of the age matrix.
const NumAgeBuckets = len(ageBounds) + 1

// AgeBuckets returns the column labels of the age matrix.
func AgeBuckets() []string {
	out := make([]string, 0, NumAgeBuckets)
	for _, b := range ageBounds {
		out = append(out, fmt.Sprint(b))
	}
	return append(out, fmt.Sprintf("%d+", ageBounds[len(ageBounds)-1]))
}

// ageBucket returns the column of a message that is age seconds old. A
// message from the future (clock skew) counts as new, as in qshape.
func ageBucket(age int64) int {
	for i, b := range ageBounds {
		if age < b*60 {
			return i
		}
	}
	return len(ageBounds)
}

// Options configure a summary.
type Options struct {
	Now        time.Time  // reference time for ages (env.now in cmd/pfdiag)
	Classifier Classifier // required
	Filter     Filter     // which messages the summary and the selection cover
	// Top limits the senders, recipient domains and age-matrix rows in the
	// report (the totals always cover everything). 0 means 20; negative
	// means no limit.
	Top int
	// Listing is how many selected messages are kept with their details
	// for display. 0 means 50; negative means none.
	Listing int
}

// Report is the summary of one postqueue -j listing. Its JSON form is a
// stable interface (see SchemaVersion): "queues" maps each queue name to
// its messages and bytes, "categories" maps each taxonomy category to the
// number of recipients in it.
type Report struct {
	SchemaVersion int        `json:"schema_version"`
	Now           time.Time  `json:"now"`
	Input         InputStats `json:"input"`
	// Totals cover the messages the filter selected (all when no filter).
	Totals           Count                 `json:"totals"`
	Queues           map[string]QueueCount `json:"queues"`
	Categories       map[string]int        `json:"categories"`
	NoReason         int                   `json:"recipients_without_reason"`
	ForcedExpire     int                   `json:"forced_expire"`
	Diagnoses        []DiagnosisStat       `json:"diagnoses"`
	Senders          []SenderStat          `json:"senders"`
	RecipientDomains []DomainStat          `json:"recipient_domains"`
	Ages             AgeMatrix             `json:"age_matrix"`
	Selection        *Selection            `json:"selection,omitempty"`
}

// InputStats describe what was read.
type InputStats struct {
	Lines      int            `json:"lines"`
	Messages   int            `json:"messages"` // well-formed lines, selected or not
	Malformed  int            `json:"malformed"`
	Problems   []LineProblem  `json:"malformed_samples,omitempty"`
	InvalidIDs int            `json:"invalid_ids"` // messages whose queue_id is not a Postfix queue ID
	InvalidAt  []int          `json:"invalid_id_lines,omitempty"`
	Unknown    map[string]int `json:"unknown_queues,omitempty"` // queue names postqueue never prints
}

// LineProblem is one malformed input line.
type LineProblem struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// Count is a number of messages, recipients and bytes.
type Count struct {
	Messages   int   `json:"messages"`
	Recipients int   `json:"recipients"`
	Bytes      int64 `json:"bytes"`
}

// QueueCount is one queue's share.
type QueueCount struct {
	Messages   int   `json:"messages"`
	Bytes      int64 `json:"bytes"`
	Recipients int   `json:"recipients"`
}

// DiagnosisStat is one category with the recipients in it.
type DiagnosisStat struct {
	Category    string      `json:"category"`
	Class       string      `json:"class"`
	Actor       string      `json:"actor"`
	Recipients  int         `json:"recipients"`
	Messages    int         `json:"messages"`
	Explanation string      `json:"explanation,omitempty"`
	Reference   string      `json:"reference,omitempty"`
	Fixes       []NameCount `json:"fixes"`        // distinct rendered fixes, most frequent first (at most 5)
	FixVariants int         `json:"fix_variants"` // number of distinct rendered fixes (values filled in per destination)
	Domains     []NameCount `json:"domains"`      // recipient domains, most frequent first
	Samples     []string    `json:"samples"`      // distinct delay reasons, first seen first
}

// NameCount is a value with the number of recipients that have it.
type NameCount struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// SenderStat is one envelope sender ("" is the null sender).
type SenderStat struct {
	Sender     string `json:"sender"`
	Messages   int    `json:"messages"`
	Recipients int    `json:"recipients"`
	Bytes      int64  `json:"bytes"`
}

// DomainStat is one recipient domain.
type DomainStat struct {
	Domain      string `json:"domain"`
	Recipients  int    `json:"recipients"`
	Messages    int    `json:"messages"`
	TopCategory string `json:"top_category,omitempty"`
}

// AgeMatrix is qshape's view: recipients per domain and age bucket. The
// first row is TOTAL.
type AgeMatrix struct {
	Buckets []string `json:"buckets"`
	Rows    []AgeRow `json:"rows"`
}

// AgeRow is one domain's age distribution.
type AgeRow struct {
	Domain string `json:"domain"`
	Total  int    `json:"total"`
	Counts []int  `json:"counts"`
}

// Selection is the result of a filter: what `--ids` would print.
type Selection struct {
	Criteria   []string `json:"criteria"`
	Messages   int      `json:"messages"`
	Recipients int      `json:"recipients"` // all recipients of the selected messages
	Matched    int      `json:"matched_recipients"`
	Bytes      int64    `json:"bytes"`
	// Partial counts selected messages with recipients that did not match:
	// postsuper acts on whole messages, so those recipients go too.
	Partial    int        `json:"partial_messages"`
	InvalidIDs int        `json:"invalid_ids"` // selected but never printed
	ShortIDs   int        `json:"short_ids"`   // short IDs can be reused after a message leaves
	IDs        []string   `json:"ids"`         // valid, distinct, in input order
	Listing    []Selected `json:"listing"`     // the first Options.Listing messages
	Commands   []Command  `json:"commands,omitempty"`
}

// Selected is one selected message as shown to the administrator.
type Selected struct {
	ID         string         `json:"queue_id"`
	ValidID    bool           `json:"valid_id"`
	Queue      string         `json:"queue_name"`
	Age        int64          `json:"age_seconds"`
	Size       int64          `json:"message_size"`
	Sender     string         `json:"sender"`
	Recipients []SelectedRcpt `json:"recipients"`
	More       int            `json:"more_recipients,omitempty"`
	Line       int            `json:"line"`
}

// SelectedRcpt is one recipient of a selected message.
type SelectedRcpt struct {
	Address  string `json:"address"`
	Category string `json:"category,omitempty"`
	Reason   string `json:"delay_reason,omitempty"`
	Matched  bool   `json:"matched"`
}

// Command is a postsuper command line that acts on the selection; cmd/pfdiag
// fills these in because only it knows how it was invoked.
type Command struct {
	Action  string `json:"action"`
	Command string `json:"command"`
}

// maxListedRcpts bounds the recipients shown per selected message.
const maxListedRcpts = 5

// Summary accumulates messages; Report renders the result. Use Summarize to
// read a whole listing.
type Summary struct {
	opts    Options
	filter  compiledFilter
	rep     Report
	cats    map[string]*catAcc
	senders map[string]*SenderStat
	domains map[string]*domainAcc
	total   [NumAgeBuckets]int
	ids     map[string]bool
	sel     *Selection
	now     int64

	// memo of diagnoses by exact input: in a real queue the messages to
	// one destination usually carry the very same delay reason.
	memo map[memoKey]*rules.Diagnosis

	// scratch, reused per message
	diag  []rules.Diagnosis
	dom   []string
	mcats []string
	mdoms []string
}

type memoKey struct{ reason, status, domain string }

// memoLimit bounds the memo; past it the memo starts over.
const memoLimit = 1 << 14

// classify returns the diagnosis of one delay reason. The Input has only
// Reason, Status and Domain, so the same three give the same diagnosis.
func (s *Summary) classify(reason, status, domain string) rules.Diagnosis {
	k := memoKey{reason, status, domain}
	if d := s.memo[k]; d != nil {
		return *d
	}
	d := s.opts.Classifier.Classify(rules.Input{Reason: reason, Status: status, Domain: domain})
	if len(s.memo) >= memoLimit {
		clear(s.memo)
	}
	s.memo[k] = &d
	return d
}

type catAcc struct {
	stat    DiagnosisStat
	fixes   map[string]int
	domains map[string]int
}

type domainAcc struct {
	stat DomainStat
	ages [NumAgeBuckets]int
	cats map[string]int
}

// NewSummary returns an empty summary. It fails only on an invalid filter or
// a missing classifier.
func NewSummary(opts Options) (*Summary, error) {
	if opts.Classifier == nil {
		return nil, fmt.Errorf("queue summary: no classifier")
	}
	cf, err := opts.Filter.compile()
	if err != nil {
		return nil, err
	}
	if opts.Top == 0 {
		opts.Top = 20
	}
	if opts.Listing == 0 {
		opts.Listing = 50
	}
	s := &Summary{
		opts:    opts,
		filter:  cf,
		cats:    map[string]*catAcc{},
		senders: map[string]*SenderStat{},
		domains: map[string]*domainAcc{},
		memo:    map[memoKey]*rules.Diagnosis{},
		now:     opts.Now.Unix(),
	}
	s.rep.Queues = map[string]QueueCount{}
	for _, q := range queueNames {
		s.rep.Queues[q] = QueueCount{}
	}
	s.rep.Categories = map[string]int{}
	if cf.active {
		s.ids = map[string]bool{}
		s.sel = &Selection{Criteria: opts.Filter.Criteria(), IDs: []string{}, Listing: []Selected{}}
	}
	return s, nil
}

// Summarize reads every message of r into a new summary and returns its
// report. Malformed lines are in Report.Input; only a read error or a
// cancelled ctx is an error.
func Summarize(ctx context.Context, r *Reader, opts Options) (*Report, error) {
	s, err := NewSummary(opts)
	if err != nil {
		return nil, err
	}
	n := 0
	for r.Scan() {
		if n++; n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		s.Add(r.Message())
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	s.SetInput(r)
	return s.Report(), nil
}

// SetInput copies the reader's line counts and malformed samples into the
// report.
func (s *Summary) SetInput(r *Reader) {
	s.rep.Input.Lines = r.Lines()
	s.rep.Input.Malformed = r.Malformed()
	s.rep.Input.Problems = s.rep.Input.Problems[:0]
	for _, p := range r.Samples() {
		s.rep.Input.Problems = append(s.rep.Input.Problems, LineProblem{Line: p.Line, Error: p.Err.Error()})
	}
}

// maxInvalidLines bounds the line numbers kept for invalid queue IDs.
const maxInvalidLines = 100

// Add accounts for one message.
func (s *Summary) Add(m *Message) {
	in := &s.rep.Input
	in.Messages++
	valid := ValidID(m.ID)
	if !valid {
		in.InvalidIDs++
		if len(in.InvalidAt) < maxInvalidLines {
			in.InvalidAt = append(in.InvalidAt, m.Line)
		}
	}
	status := ""
	if m.Queue == "deferred" {
		status = "deferred" // Postfix put it there after a temporary failure
	}
	age := s.now - m.Arrival

	// Classify every recipient once; the filter and the counts share it.
	s.diag = s.diag[:0]
	s.dom = s.dom[:0]
	for i := range m.Recipients {
		rc := &m.Recipients[i]
		d := domainOf(rc.Address)
		s.dom = append(s.dom, d)
		var dg rules.Diagnosis
		if rc.DelayReason != "" {
			dg = s.classify(rc.DelayReason, status, d)
		}
		s.diag = append(s.diag, dg)
	}

	matched := len(m.Recipients)
	if s.filter.active {
		ok, nm := s.filter.match(m, age, s.dom, s.diag)
		if !ok {
			return
		}
		matched = nm
	}

	// Totals and queues.
	nr := len(m.Recipients)
	s.rep.Totals.Messages++
	s.rep.Totals.Recipients += nr
	s.rep.Totals.Bytes += m.Size
	if m.ForcedExpire {
		s.rep.ForcedExpire++
	}
	qn := m.Queue
	if !knownQueue(qn) {
		if in.Unknown == nil {
			in.Unknown = map[string]int{}
		}
		if len(in.Unknown) < 100 || in.Unknown[qn] > 0 {
			in.Unknown[qn]++
		}
		qn = "other"
	}
	qc := s.rep.Queues[qn]
	qc.Messages++
	qc.Bytes += m.Size
	qc.Recipients += nr
	s.rep.Queues[qn] = qc

	// Senders.
	ss := s.senders[m.Sender]
	if ss == nil {
		ss = &SenderStat{Sender: m.Sender}
		s.senders[m.Sender] = ss
	}
	ss.Messages++
	ss.Recipients += nr
	ss.Bytes += m.Size

	// Recipients: domains, ages, diagnoses.
	b := ageBucket(age)
	s.mcats = s.mcats[:0]
	s.mdoms = s.mdoms[:0]
	for i := range m.Recipients {
		d := s.dom[i]
		da := s.domains[d]
		if da == nil {
			da = &domainAcc{stat: DomainStat{Domain: d}}
			s.domains[d] = da
		}
		da.stat.Recipients++
		da.ages[b]++
		s.total[b]++
		if !contains(s.mdoms, d) {
			s.mdoms = append(s.mdoms, d)
			da.stat.Messages++
		}
		dg := &s.diag[i]
		if dg.Category == "" {
			s.rep.NoReason++
			continue
		}
		s.rep.Categories[dg.Category]++
		if da.cats == nil {
			da.cats = map[string]int{}
		}
		da.cats[dg.Category]++
		ca := s.cats[dg.Category]
		if ca == nil {
			ca = &catAcc{
				stat: DiagnosisStat{Category: dg.Category, Class: dg.Class, Actor: dg.Actor,
					Explanation: dg.Explanation, Reference: dg.Reference},
				fixes: map[string]int{}, domains: map[string]int{},
			}
			s.cats[dg.Category] = ca
		}
		ca.stat.Recipients++
		if !contains(s.mcats, dg.Category) {
			s.mcats = append(s.mcats, dg.Category)
			ca.stat.Messages++
		}
		switch {
		case dg.Class == "" || dg.Class == ca.stat.Class:
		case ca.stat.Class == "":
			ca.stat.Class = dg.Class
		default:
			ca.stat.Class = "mixed" // e.g. one reply with 4xx and one with 5xx for the same cause
		}
		addBounded(ca.fixes, dg.Fix)
		addBounded(ca.domains, d)
		if len(ca.stat.Samples) < maxSamples && !contains(ca.stat.Samples, m.Recipients[i].DelayReason) {
			ca.stat.Samples = append(ca.stat.Samples, m.Recipients[i].DelayReason)
		}
	}

	if s.sel != nil {
		s.selectMessage(m, valid, age, matched)
	}
}

const (
	maxSamples = 3
	// maxDistinct bounds the per-category maps of fixes and domains: past
	// it only values already seen are counted, so memory stays bounded
	// on a queue where every fix text is different.
	maxDistinct = 1000
)

func addBounded(m map[string]int, k string) {
	if _, ok := m[k]; ok || len(m) < maxDistinct {
		m[k]++
	}
}

func (s *Summary) selectMessage(m *Message, valid bool, age int64, matched int) {
	sel := s.sel
	sel.Messages++
	sel.Recipients += len(m.Recipients)
	sel.Matched += matched
	sel.Bytes += m.Size
	if matched < len(m.Recipients) {
		sel.Partial++
	}
	if !valid {
		sel.InvalidIDs++
	} else if !s.ids[m.ID] {
		s.ids[m.ID] = true
		sel.IDs = append(sel.IDs, m.ID)
		if ClassifyID(m.ID) == IDShort {
			sel.ShortIDs++
		}
	}
	if s.opts.Listing < 0 || len(sel.Listing) >= s.opts.Listing {
		return
	}
	it := Selected{ID: m.ID, ValidID: valid, Queue: m.Queue, Age: age, Size: m.Size, Sender: m.Sender, Line: m.Line}
	for i := range m.Recipients {
		if len(it.Recipients) == maxListedRcpts {
			it.More = len(m.Recipients) - i
			break
		}
		it.Recipients = append(it.Recipients, SelectedRcpt{
			Address:  m.Recipients[i].Address,
			Category: s.diag[i].Category,
			Reason:   m.Recipients[i].DelayReason,
			Matched:  !s.filter.rcptLevel || s.filter.matchRcpt(&m.Recipients[i], s.dom[i], &s.diag[i]),
		})
	}
	sel.Listing = append(sel.Listing, it)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// domainOf returns the recipient domain the way qshape does: the part after
// the last '@', lower-cased, without a trailing dot. The null address is
// MAILER-DAEMON; an address without a domain is "(none)".
func domainOf(addr string) string {
	if addr == "" {
		return "MAILER-DAEMON"
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || at == len(addr)-1 {
		return "(none)"
	}
	d := strings.TrimSuffix(addr[at+1:], ".")
	for i := 0; i < len(d); i++ {
		if c := d[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(d)
		}
	}
	return d
}

// Report returns the finished report. The Summary must not be used after.
func (s *Summary) Report() *Report {
	r := &s.rep
	r.SchemaVersion = SchemaVersion
	r.Now = s.opts.Now.UTC()
	top := s.opts.Top

	r.Diagnoses = make([]DiagnosisStat, 0, len(s.cats))
	for _, ca := range s.cats {
		st := ca.stat
		st.Fixes = topN(ca.fixes, 5)
		st.FixVariants = len(ca.fixes)
		st.Domains = topN(ca.domains, 5)
		r.Diagnoses = append(r.Diagnoses, st)
	}
	sort.Slice(r.Diagnoses, func(i, j int) bool {
		a, b := &r.Diagnoses[i], &r.Diagnoses[j]
		if a.Recipients != b.Recipients {
			return a.Recipients > b.Recipients
		}
		return a.Category < b.Category
	})

	r.Senders = make([]SenderStat, 0, len(s.senders))
	for _, ss := range s.senders {
		r.Senders = append(r.Senders, *ss)
	}
	sort.Slice(r.Senders, func(i, j int) bool {
		a, b := &r.Senders[i], &r.Senders[j]
		if a.Messages != b.Messages {
			return a.Messages > b.Messages
		}
		if a.Bytes != b.Bytes {
			return a.Bytes > b.Bytes
		}
		return a.Sender < b.Sender
	})
	r.Senders = limit(r.Senders, top)

	doms := make([]*domainAcc, 0, len(s.domains))
	for _, da := range s.domains {
		if len(da.cats) > 0 {
			da.stat.TopCategory = topN(da.cats, 1)[0].Name
		}
		doms = append(doms, da)
	}
	// qshape's order: most recipients first, then the shorter name.
	sort.Slice(doms, func(i, j int) bool {
		a, b := doms[i], doms[j]
		if a.stat.Recipients != b.stat.Recipients {
			return a.stat.Recipients > b.stat.Recipients
		}
		if len(a.stat.Domain) != len(b.stat.Domain) {
			return len(a.stat.Domain) < len(b.stat.Domain)
		}
		return a.stat.Domain < b.stat.Domain
	})
	doms = limit(doms, top)
	r.RecipientDomains = make([]DomainStat, 0, len(doms))
	r.Ages = AgeMatrix{Buckets: AgeBuckets(), Rows: make([]AgeRow, 0, len(doms)+1)}
	r.Ages.Rows = append(r.Ages.Rows, AgeRow{Domain: "TOTAL", Total: r.Totals.Recipients, Counts: append([]int(nil), s.total[:]...)})
	for _, da := range doms {
		r.RecipientDomains = append(r.RecipientDomains, da.stat)
		r.Ages.Rows = append(r.Ages.Rows, AgeRow{Domain: da.stat.Domain, Total: da.stat.Recipients, Counts: append([]int(nil), da.ages[:]...)})
	}
	r.Selection = s.sel
	return r
}

func limit[T any](s []T, n int) []T {
	if n >= 0 && len(s) > n {
		return s[:n]
	}
	return s
}

// topN returns the n most frequent keys, ties by name.
func topN(m map[string]int, n int) []NameCount {
	out := make([]NameCount, 0, len(m))
	for k, v := range m {
		out = append(out, NameCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return limit(out, n)
}
