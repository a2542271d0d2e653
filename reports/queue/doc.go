// Package queue reads the output of `postqueue -j` and summarises the live
// Postfix queue: messages and bytes per queue, per sender, per recipient
// domain, per diagnosis, and a qshape-style age × domain matrix. It also
// selects messages for bulk action and prints only validated queue IDs, so
// that the result can be piped into `postsuper -d -` (or -h, -H, -r) without
// hostile queue data being able to smuggle anything into that pipe.
//
// In: JSON lines as written by postqueue(1) -j (Postfix >= 3.1), one object
// per queue file with queue_name, queue_id, arrival_time, message_size,
// forced_expire, sender and recipients[] {address, delay_reason}. A
// Classifier (normally *rules.Engine) turns each delay_reason into a
// diagnosis; the current time is passed in.
//
// Out: a Report (a plain struct with a stable JSON form, schema_version 1)
// and its text, JSON and Markdown renderings, and the list of selected,
// validated queue IDs.
//
// Why here: the package formats what it is given, like the rest of reports/,
// and the diagnosis is decided by the rules engine behind the Classifier
// interface, never by this package; it therefore sits to the right of rules
// in the one-way chain parser → correlate → rules → reports and imports
// rules only for the Input and Diagnosis types. The JSON-lines reader lives
// in the same package because it has a single consumer and shares the
// queue-ID validation with the ID printer; it needs nothing from parser or
// correlate (queue listings are not log lines).
//
// It does not run postqueue or postsuper, never changes the queue and never
// prints: cmd/pfdiag runs postqueue with an argument vector (no shell) and
// writes the renderings. Malformed lines are counted and sampled with their
// line numbers, never fatal. Every string that came from the queue is
// escaped before it reaches a terminal (C0, C1, DEL, bidi controls,
// invalid UTF-8) or a Markdown document.
//
// One real line of `postqueue -j` (Postfix 3.7.11):
//
//	{"queue_name": "deferred", "queue_id": "D203DC2180", "arrival_time": 1796024035, "message_size": 373, "forced_expire": false, "sender": "mailtest@mail.test.local", "recipients": [{"address": "user2@refused.test", "delay_reason": "connect to 127.0.0.1[127.0.0.1]:2530: Connection refused"}]}
package queue
