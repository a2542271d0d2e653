// Package tuning turns what the logs show into Postfix configuration
// changes: a main.cf (and, where a dedicated transport is needed, a
// master.cf and transport_maps) snippet, one rationale line and the
// evidence count per change.
//
// In: delivery attempts as the correlator recorded them (category,
// status, relay, reason, delays=a/b/c/d, delay=), fed one by one to a
// Collector with the recipient domain; optionally the current
// configuration, parsed from the output of `postconf -n` or `postconf`
// (ParsePostconf).
//
// Out: Suggest returns []Suggestion. The decisions it makes:
//
//   - 421 "too many connections" or rate limits (categories
//     too_many_connections, rate_limited) concentrated on one provider
//     (grouped by the registered domain of the MX host, e.g. yahoodns.net
//     for aol.com and yahoo.com) → a dedicated slow transport for the
//     provider's domains with a concrete _destination_concurrency_limit and
//     _destination_rate_delay (a non-zero rate delay serialises delivery:
//     the concurrency to that destination is then 1, as Wietse Venema
//     explains on postfix-users);
//   - IPv6 "Network is unreachable" → smtp_address_preference = ipv4, or
//     inet_protocols = ipv4 when IPv4 is already preferred;
//   - "Host not found, try again" for many unrelated domains → our
//     resolver, not theirs;
//   - long b delays (time in the queue manager waiting for a delivery
//     agent) → active-queue congestion: default_process_limit;
//   - recipients deferred for days → maximal_queue_lifetime (above the
//     latest late delivery seen) and bounce_queue_lifetime.
//
// With a Postconf, current values are taken into account and a change
// that is already in place is never proposed.
//
// Log text is hostile: only domain names that are syntactically valid
// host names reach a transport_maps line, and transport names are made of
// [a-z0-9_] only.
//
// It does not classify failures (the category comes from package rules
// through the correlator), read logs, or write files.
//
// A line that is evidence for the slow-transport suggestion:
//
//	Nov 30 07:12:07 mail1 postfix/smtp[4992]: 5D328259E1F: to=<emily.williams@aol.com>, relay=mta5.am0.yahoodns.net[67.195.228.85]:25, delay=0.59, delays=0.17/0/0.42/0, dsn=4.7.0, status=deferred (host mta5.am0.yahoodns.net[67.195.228.85] said: 421 4.7.0 [TSS04] Messages from 203.0.113.10 temporarily deferred due to unexpected volume or user complaints (in reply to MAIL FROM command))
package tuning
