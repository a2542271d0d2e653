// Package rules turns a Postfix failure text into a diagnosis from the fixed
// taxonomy (docs/taxonomy.md): a category, whether it is temporary or
// permanent, who has to act, one sentence of explanation and a concrete fix
// rendered with the values found in the log.
//
// In: an Input — the reason text of a status=deferred/bounced/expired line (or
// a postqueue delay_reason, or a reject text) with the context Postfix logged
// beside it (daemon, status, dsn, relay, recipient domain) — or, for
// operational findings, the severity, daemon and text of a warning:, error:,
// fatal: or panic: line.
//
// Out: a Diagnosis. Classification is data: a commented YAML rule file
// (default.yaml, compiled in as Go data by a test so that no run parses it)
// that users extend or override with their own files (New). A small pure matcher tries the rules in priority order; the first
// match wins, nothing matching gives "unclassified" with the reply code and
// enhanced status code kept. Results are cached by a normalised form of the
// text (addresses, IPs, IDs, long numbers and bracketed host names masked), so
// an archive with millions of failures runs the matcher once per distinct
// text.
//
// It does not read logs, correlate lines or print anything; it never imports
// the index (correlate's Badger sub-package).
//
// A real line whose reason it classifies (as connection_lost, stage RCPT TO):
//
//	Nov 30 07:34:06 mail postfix/smtp[16988]: 2F2A1C2220: to=<user@drop.test>, relay=127.0.0.1[127.0.0.1]:2531, delay=0, delays=0/0/0/0, dsn=4.4.2, status=deferred (lost connection with 127.0.0.1[127.0.0.1] while sending RCPT TO)
package rules
