// Package reports makes the postmortem report of a Postfix log archive:
// what went wrong, for whom, since when, and what to change.
//
// In: what the index holds (package correlate) — hour aggregates
// (correlate.Hour: line counts, unparsed samples, NOQUEUE rejects,
// warnings) and messages (correlate.Message: every recipient with every
// delivery attempt, its category recorded at ingest) — fed to a Builder,
// or read from an Index by FromIndex; a Diagnoser (*rules.Engine) for the
// actor, explanation and fix of each category; optionally the current
// Postfix configuration for the tuning suggestions (rules/tuning).
//
// Out: a Report (a plain struct whose JSON form is a stable, versioned
// interface: SchemaVersion) and its renderings: text for a terminal
// (aligned tables, optional colour), JSON, Markdown (GitHub Flavored) and
// one self-contained HTML page (inline CSS and SVG charts, no script, a
// Content-Security-Policy that forbids loading anything). Sections:
// summary; diagnoses ranked by impact (messages left undelivered, then
// messages delayed, then attempts); recipient domains; relays; senders
// with the most failures; delays=a/b/c/d percentiles; the hourly timeline
// of deferrals and bounces; rejects; operational findings; pflogsumm-style
// traffic; tuning suggestions.
//
// Counting follows Postfix's log: one delivery per to= line, plus one per
// recipient still pending when qmgr expired its message (genlog's --truth
// counts the same way; TestGenlogTruth checks it). The result does not
// depend on the order messages and hours are added in, so a report built
// during an ingest equals one read back from the index.
//
// What it does not do: decide a category (the correlator recorded the
// rules engine's verdict at ingest; the report asks the rules only for
// texts), read logs, or print. Memory is bounded: tables keep at most a
// fixed number of keys (the busiest half survives a prune, and the report
// says when distinct counts became lower bounds).
//
// Log text is hostile. Every string from the log goes through one escaper
// per format: for terminals, control characters, ANSI sequences, bidi
// overrides and invalid UTF-8 become visible escapes; Markdown also
// escapes | ` < > * _ [ ] & ~ and backslash; HTML uses html/template after
// the terminal escaping; JSON uses encoding/json.
//
// A line that ends up in the report (diagnosis user_unknown, who acts:
// sender):
//
//	Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))
package reports
