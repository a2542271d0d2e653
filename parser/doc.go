// Package parser turns Postfix log lines into typed events.
//
// In: lines of a Postfix log in any of the formats real servers write —
// classic syslog ("Nov 30 07:10:02 mail postfix/smtp[6462]: …"), RFC 3339
// timestamps (rsyslog's default on Debian 12), RFC 5424, journalctl -o json,
// short-iso and short-precise — mixed freely, line by line.
//
// Out: one Event per line, with typed fields for what matters to mail
// delivery (to, relay, delays, dsn, status, reason…). A line this package
// does not understand is still an Event (KindUnknown, KindForeign or
// KindMalformed), never an error that stops a stream.
//
// It does not correlate lines (package correlate does) and does not judge
// reasons (package rules does). It uses the standard library only.
//
// A real line it parses:
//
//	Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))
package parser
