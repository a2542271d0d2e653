// Package metrics exports what pfdiag knows about a mail server as
// Prometheus metrics, and serves them with a health check.
//
// In: hour aggregates from correlate (the deltas each checkpoint commits,
// and, at start, everything the index holds, so counters continue across
// restarts), the number of messages the log says are deferred, the
// active problems of package live, and the follower's notes.
//
// Out: a prometheus.Collector for a registry the caller creates (never the
// global one), and an http.Handler with /metrics and /healthz. Names are a
// stable interface; every metric is documented in Describe's help text and
// in the README. Label values that come from the log are bounded: only the
// first TopDomains recipient domains and TopHosts hosts get a label of
// their own (the busiest in the index at start, then the first seen),
// the rest are "other".
//
// It decides no diagnosis: categories come from the aggregates (the rules
// engine classified them), and operational findings through the Finding
// function the caller passes.
//
// A real line that ends up in pfdiag_deliveries_total{status="bounced"}
// and pfdiag_diagnoses_total{category="user_unknown"}:
//
//	Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))
package metrics
