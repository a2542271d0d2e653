// Package live turns a stream of diagnosed delivery failures into the few
// lines an administrator on call wants to see: a problem starting (a
// category crossing a threshold for one destination within a window), the
// same problem getting worse, and its end.
//
// In: Failures — one per failed delivery attempt, already diagnosed by
// package rules (category, class, fix) — and successful deliveries, in log
// order, plus the passing of time (Advance) so that a problem clears even
// when the log goes quiet.
//
// Out: Events, written as one line of text (every piece of log text made
// harmless for a terminal) or one JSON object:
//
//	2026-11-30 12:06:14 problem   gmail.com: rate_limited, 37 deferrals in 5m (12:01–12:06) → set smtp_destination_rate_delay …
//	2026-11-30 12:09:40 escalated gmail.com: rate_limited, 80 deferrals in 5m (12:04–12:09) → …
//	2026-11-30 12:21:02 cleared   gmail.com: rate_limited, no failure since 12:16 (212 failures over 15m, 45 delivered meanwhile)
//
// The destination is the recipient domain, or the relay host for the
// categories where the next hop is what must change (relay_auth_failure,
// auth_required, relay_denied), or the syslog host for operational
// findings (queue_disk_full, process_crash…). Memory is bounded: at most
// Options.MaxKeys destinations are tracked.
//
// It does not classify (package rules does), parse or read logs; it
// decides nothing about a single failure, only about counts over time.
//
// A real line that makes a Failure:
//
//	Nov 30 12:01:07 mail postfix/smtp[4242]: 3F1A2C0D11: to=<ann@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.27.26]:25, delay=1.2, delays=0.1/0/0.6/0.5, dsn=4.7.28, status=deferred (host gmail-smtp-in.l.google.com[142.250.27.26] said: 421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP address. (in reply to end of DATA command))
package live
