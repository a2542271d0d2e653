// Package correlate turns parser events into messages: one record per
// message incarnation, with every recipient, every delivery attempt and
// how the message left the queue, stored in an Index with the per-hour
// aggregates reports and live tail read.
//
// In: parser.Events in log order (Correlator.Process), or whole log files
// (Ingester.Read, which also remembers how far each file was read).
//
// Out: Messages and Hours in an Index. A Message is one queue incarnation
// — (host, Postfix instance, queue ID, first-seen time), because short
// queue IDs are reused after "removed" and two instances may hold the
// same ID — with:
//
//   - the client and smtpd session (joined by the smtpd process ID from
//     "connect from" to "disconnect from"), sasl_username, or pickup's uid;
//   - message-id, sender, size, nrcpt, arrival;
//   - every recipient with every attempt (time, transport, relay, delay
//     and delays=a/b/c/d, dsn, status, reason, category);
//   - its fate: delivered, bounced, expired (qmgr "status=expired,
//     returned to sender", which expires every recipient still pending),
//     deleted (postsuper -d), held, rejected or discarded after it had a
//     queue ID, aborted (never queued), or still queued when the log ends;
//   - the bounce/delay notifications Postfix generated for it, linked
//     both ways ("sender non-delivery notification: QID");
//   - Hops: the queues it passed through after this one. A message sent
//     to a content filter or another local instance and accepted there
//     ("250 2.0.0 Ok: queued as QID") is one message: the next queue's
//     incarnation is a hop of the first, and a recipient's final status
//     (Message.Outcomes) is what happened to it in the last queue.
//
// Rejects without a queue ID are aggregated per (client, reason,
// recipient domain), warnings per (severity, daemon, normalised text);
// both, with line counts per kind, unparsed samples, traffic, deliveries
// by status/category/domain/relay/transport, senders and delay
// histograms, are kept per hour (Hour) so a report over --since/--until
// sums the hours it covers without reading messages.
//
// Categories come from a Classifier given in Options; correlate does not
// import the rules engine (cmd/pfdiag passes rules.Engine.Classify).
//
// It does not parse lines (package parser does), judge reasons (package
// rules does) or format reports (package reports does). The Index is an
// interface: correlate/badgerindex stores it on disk with Badger,
// correlate/memindex in memory, and correlate/indextest checks that both
// behave the same.
//
// A real line it links, to message 967FBC2175 and its recipient:
//
//	Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))
//
// # Checkpoints and resuming
//
// The Ingester commits a checkpoint every CheckpointLines lines and at the
// end of each file: the messages that left the queue, the messages still
// in it (so one deferred in mail.log.4.gz and bounced in mail.log.1 is
// joined whether the files are read in one run or several), the hour
// aggregates and the read position of the file (its fingerprint — a hash
// of its first line, which survives rotation and compression — and the
// byte offset), as one atomic step. A run killed between checkpoints
// loses only what it read since the last one, which the next run reads
// again: counts come out as after one clean run. Checkpoint positions
// depend only on the input, so both runs checkpoint at the same lines.
//
// # Goroutines
//
// A Correlator is used by one goroutine. While Ingester.Read reads a file
// it spreads the work over the machine's cores without changing any
// result: the parser's goroutines parse and, with
// IngestOptions.ConcurrentClassify, classify failed deliveries (the
// correlator uses the category made from the same inputs); the hour
// aggregates for traffic, deliveries, senders and delays are added by an
// aggregator goroutine from ops the correlator records in order (a
// checkpoint waits for them); and badgerindex encodes and writes records
// on a goroutine of its own. With Process and Commit (pfdiag tail) the
// caller's goroutine correlates, classifies and aggregates.
//
// Memory is bounded: finished messages leave memory when they are
// written, messages never queued are written out after Options.StaleAfter
// (log time), and at most Options.MaxOpen messages are held.
package correlate
