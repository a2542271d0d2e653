package parser

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// fields is what a table test checks: only the non-empty entries.
type fields map[string]string

func (e *Event) get(name string) string {
	switch name {
	case "host":
		return string(e.Host)
	case "program":
		return string(e.Program)
	case "instance":
		return string(e.Instance)
	case "service":
		return string(e.Service)
	case "daemon":
		return string(e.Daemon)
	case "qid":
		return string(e.QueueID)
	case "to":
		return string(e.To)
	case "orig_to":
		return string(e.OrigTo)
	case "from":
		return string(e.From)
	case "relay":
		return string(e.Relay)
	case "dsn":
		return string(e.DSN)
	case "status":
		return string(e.Status)
	case "reason":
		return string(e.Reason)
	case "client_host":
		return string(e.ClientHost)
	case "client_ip":
		return string(e.ClientIP)
	case "sasl":
		return string(e.SASLUser)
	case "msgid":
		return string(e.MessageID)
	case "action":
		return string(e.Action)
	case "stage":
		return string(e.Stage)
	case "enhanced":
		return string(e.Enhanced)
	case "helo":
		return string(e.Helo)
	case "proto":
		return string(e.Proto)
	case "new_qid":
		return string(e.NewQueueID)
	case "notice":
		return string(e.Notice)
	case "severity":
		return string(e.Severity)
	case "version":
		return string(e.Version)
	case "verdict":
		return string(e.Verdict)
	case "list":
		return string(e.List)
	}
	panic("test asks for unknown field " + name)
}

func TestParseKinds(t *testing.T) {
	tests := []struct {
		name string
		line string
		kind Kind
		want fields
	}{
		{"delivery bounced, nested parentheses (real-postfix)",
			`Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))`,
			KindDelivery, fields{"host": "mail", "daemon": "smtp", "instance": "postfix", "qid": "967FBC2175",
				"to": "nosuchuser@remote.test", "relay": "127.0.0.1[127.0.0.1]:2526", "dsn": "5.1.1", "status": "bounced",
				"reason": "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)"}},
		{"delivery with orig_to and conn_use",
			`Nov 30 07:10:02 mail1 postfix/smtp[4757]: 22FD6256DC9: to=<a@b.dk>, orig_to=<alias@example.net>, relay=mx.b.dk[192.0.2.1]:25, conn_use=2, delay=0.93, delays=0.24/0.02/0.34/0.32, dsn=2.6.0, status=sent (250 2.6.0 Queued (id 1))`,
			KindDelivery, fields{"to": "a@b.dk", "orig_to": "alias@example.net", "status": "sent", "reason": "250 2.6.0 Queued (id 1)"}},
		{"delivery without angle brackets (old Postfix)",
			`Jan  1 00:00:00 host postfix/local[1]: 892A0205B6: to=ghdsgfhdslfh@localhost, relay=local, delay=0.05, delays=0.02/0/0/0.02, dsn=5.1.1, status=bounced (unknown user: "ghdsgfhdslfh")`,
			KindDelivery, fields{"to": "ghdsgfhdslfh@localhost", "relay": "local", "reason": `unknown user: "ghdsgfhdslfh"`}},
		{"delivery cut before status is not a delivery",
			`Nov 30 07:10:02 mail1 postfix/smtp[4757]: 22FD6256DC9: to=<a@b.dk>, relay=mx.b.dk[192.0.2.1]:25, delay=0.93`,
			KindUnknown, fields{"to": "a@b.dk"}},
		{"delivery temporarily suspended via error daemon",
			`Nov 30 07:34:10 mail postfix/error[17001]: D203DC2180: to=<user2@refused.test>, relay=none, delay=15, delays=15/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to 127.0.0.1[127.0.0.1]:2530: Connection refused)`,
			KindDelivery, fields{"daemon": "error", "relay": "none", "status": "deferred", "reason": "delivery temporarily suspended: connect to 127.0.0.1[127.0.0.1]:2530: Connection refused"}},
		{"qmgr queued",
			`Nov 30 07:33:55 mail postfix/qmgr[16870]: 8FFDEC2174: from=<mailtest@mail.test.local>, size=361, nrcpt=1 (queue active)`,
			KindQueued, fields{"from": "mailtest@mail.test.local", "qid": "8FFDEC2174"}},
		{"qmgr expired",
			`Nov 30 07:34:36 mail postfix-out/qmgr[16944]: C2B9F1E04B: from=<mailtest@mail.test.local>, status=expired, returned to sender`,
			KindExpired, fields{"instance": "postfix-out", "status": "expired", "reason": "returned to sender"}},
		{"qmgr force-expired",
			`Nov 30 07:34:30 mail postfix/qmgr[16870]: B4F4CC2180: from=<mailtest@mail.test.local>, status=force-expired, returned to sender`,
			KindExpired, fields{"status": "force-expired"}},
		{"qmgr removed", `Nov 30 07:33:55 mail postfix/qmgr[16870]: 91A94C2173: removed`, KindRemoved, fields{"qid": "91A94C2173"}},
		{"qmgr removed with stray quote (inqueue corpus)", `Apr  5 17:54:50 strand postfix/qmgr[29983]: 98AEDA06BC: removed"`, KindRemoved, nil},
		{"qmgr skipped", `Nov 30 07:33:55 mail postfix/qmgr[1]: 91A94C2173: skipped, still being delivered`, KindSkipped, nil},
		{"smtpd client with sasl",
			`Nov 30 07:10:01 mail1 postfix/submission/smtpd[4544]: 22FD6256DC9: client=host-180-245.example-mobile.net[91.232.180.245], sasl_method=PLAIN, sasl_username=james@example.net`,
			KindClient, fields{"service": "submission", "daemon": "smtpd", "client_host": "host-180-245.example-mobile.net", "client_ip": "91.232.180.245", "sasl": "james@example.net"}},
		{"smtpd client IPv6",
			`Jan  1 00:00:00 letterman postfix/smtpd[1]: 1A2B3C4D5E: client=unknown[fe80::1:2:3:4]`,
			KindClient, fields{"client_host": "unknown", "client_ip": "fe80::1:2:3:4"}},
		{"cleanup message-id", `Nov 30 07:33:55 mail postfix/cleanup[16954]: 8FFDEC2174: message-id=<20261130073355.8FFDEC2174@mail.test.local>`,
			KindMessageID, fields{"msgid": "<20261130073355.8FFDEC2174@mail.test.local>"}},
		{"cleanup empty message-id", `Nov 30 07:33:55 mail postfix/cleanup[16954]: 8FFDEC2174: message-id=`, KindMessageID, fields{"msgid": ""}},
		{"NOQUEUE reject smtpd",
			`Nov 30 07:10:02 mail1 postfix/smtpd[4379]: NOQUEUE: reject: RCPT from unknown[194.190.62.114]: 554 5.7.1 Service unavailable; Client host [194.190.62.114] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/194.190.62.114; from=<> to=<amanda.sanchez@example.com> proto=ESMTP helo=<desktop>`,
			KindReject, fields{"qid": "NOQUEUE", "action": "reject", "stage": "RCPT", "client_ip": "194.190.62.114", "enhanced": "5.7.1",
				"reason": "554 5.7.1 Service unavailable; Client host [194.190.62.114] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/194.190.62.114",
				"to":     "amanda.sanchez@example.com", "from": "", "helo": "desktop", "proto": "ESMTP"}},
		{"NOQUEUE reject postscreen comma form",
			`Feb 11 16:53:58 mail postfix/postscreen[1]: NOQUEUE: reject: RCPT from [192.0.2.9]:52384: 550 5.7.1 Service unavailable; client [192.0.2.9] blocked using zen.spamhaus.org; from=<spam@example.com>, to=<user@example.org>, proto=ESMTP, helo=<x>`,
			KindReject, fields{"client_ip": "192.0.2.9", "from": "spam@example.com", "to": "user@example.org", "helo": "x"}},
		{"reject with hostile text containing '; from=<'",
			`Nov 30 07:10:02 mail1 postfix/smtpd[1]: NOQUEUE: reject: RCPT from a[192.0.2.1]: 550 5.1.1 <x; from=<evil>>: Recipient address rejected; from=<s@example.com> to=<x; from=<evil>> proto=ESMTP helo=<h>`,
			KindReject, fields{"from": "s@example.com", "helo": "h"}},
		{"queue-ID reject (not NOQUEUE)",
			`Aug 11 19:04:49 mx postfix/smtpd[1]: 00ADB3C0899: reject: RCPT from unknown[192.0.2.1]: 450 4.7.1 <a@b>: Recipient address rejected: Greylisted; from=<s@e> to=<a@b> proto=ESMTP helo=<h>`,
			KindReject, fields{"qid": "00ADB3C0899", "enhanced": "4.7.1"}},
		{"cleanup header_checks hold",
			`Nov 30 07:33:56 mail postfix/cleanup[16954]: C0D2CC2180: hold: header Subject: [HOLD] quarantine test from local; from=<mailtest@mail.test.local> to=<quarantine@accept.test>: quarantined by test content policy`,
			KindReject, fields{"action": "hold", "stage": "header", "from": "mailtest@mail.test.local", "to": "quarantine@accept.test", "reason": "quarantined by test content policy"}},
		{"cleanup header_checks WARN",
			`Nov 30 07:33:56 mail postfix/cleanup[1]: C0D2CC2180: warning: header Subject: hi from mx.example.com[192.0.2.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<mx>: spammy`,
			KindReject, fields{"action": "warning", "client_ip": "192.0.2.1", "reason": "spammy"}},
		{"milter-reject",
			`Jan  1 00:00:00 mx postfix/cleanup[1]: 1D8CC1CA0A7F: milter-reject: END-OF-MESSAGE from unknown[192.0.2.1]: 5.7.1 Rejected by SPF; from=<a@b> to=<c@d> proto=ESMTP helo=<x>`,
			KindReject, fields{"action": "milter-reject", "stage": "END-OF-MESSAGE", "enhanced": "5.7.1"}},
		{"bounce notification", `Nov 30 07:33:55 mail postfix/bounce[16984]: A5C99C2178: sender non-delivery notification: A7303C21B9`,
			KindNotification, fields{"notice": "non-delivery", "new_qid": "A7303C21B9"}},
		{"delay notification", `Nov 30 07:35:28 mail postfix/bounce[19256]: 4jdG4m2snzz5yY3: sender delay notification: 4jdG5X41llz5yW9`,
			KindNotification, fields{"qid": "4jdG4m2snzz5yY3", "notice": "delay", "new_qid": "4jdG5X41llz5yW9"}},
		{"postsuper hold", `Nov 30 07:34:05 mail postfix/postsuper[17330]: B7B0BC217D: placed on hold`, KindPostsuper, fields{"action": "placed on hold"}},
		{"postsuper removed", `Nov 30 07:34:05 mail postfix/postsuper[1]: B7B0BC217D: removed`, KindPostsuper, fields{"action": "removed"}},
		{"postsuper summary", `Nov 30 07:34:05 mail postfix/postsuper[17330]: Placed on hold: 1 message`, KindPostsuper, fields{"action": "Placed on hold"}},
		{"pickup", `Nov 30 07:33:55 mail postfix/pickup[16869]: 8FFDEC2174: uid=0 from=<mailtest@mail.test.local>`, KindPickup, fields{"from": "mailtest@mail.test.local"}},
		{"connect", `Nov 30 07:10:00 mail1 postfix/smtpd[4379]: connect from a21-119.smtp-out.amazonses.com[54.240.21.119]`,
			KindConnect, fields{"client_host": "a21-119.smtp-out.amazonses.com", "client_ip": "54.240.21.119"}},
		{"disconnect", `Nov 30 07:10:01 mail1 postfix/smtpd[4491]: disconnect from out.gmx.de[80.216.143.92] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7`,
			KindDisconnect, fields{"client_ip": "80.216.143.92", "reason": "ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7"}},
		{"lost connection", `Nov 30 07:10:01 mail1 postfix/smtpd[4491]: lost connection after AUTH from unknown[192.0.2.7]`,
			KindSession, fields{"action": "lost connection", "stage": "AUTH", "client_ip": "192.0.2.7"}},
		{"TLS to relay", `Nov 30 07:10:00 mail1 postfix/smtp[4757]: Trusted TLS connection established to mail.fjord-pixel.ch[87.137.97.19]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)`,
			KindTLS, fields{"relay": "mail.fjord-pixel.ch[87.137.97.19]:25"}},
		{"connect error", `Nov 30 07:33:55 mail postfix/smtp[16966]: connect to 127.0.0.1[127.0.0.1]:2530: Connection refused`,
			KindConnectError, fields{"relay": "127.0.0.1[127.0.0.1]:2530", "reason": "Connection refused"}},
		{"smtp non-final reply", `Sep 16 00:07:41 smtpnode07 postfix-10.20.30.40/smtp[31868]: 0D59F4165A: host mx-aol.mail.gm0.yahoodns.net[44.55.66.77] said: 421 4.7.0 [TSS04] Messages deferred (in reply to MAIL FROM command)`,
			KindInfo, fields{"instance": "postfix-10.20.30.40", "relay": "mx-aol.mail.gm0.yahoodns.net[44.55.66.77]", "enhanced": "4.7.0"}},
		{"warning with queue id", `Nov 30 07:34:00 mail postfix/smtpd[17100]: warning: 9F1D2C2176: queue file size limit exceeded`,
			KindWarning, fields{"severity": "warning", "qid": "9F1D2C2176", "reason": "queue file size limit exceeded"}},
		{"fatal", `Nov 30 07:34:00 mail postfix/sendmail[17101]: fatal: mailtest@mail.test.local(0): message file too big`,
			KindWarning, fields{"severity": "fatal", "reason": "mailtest@mail.test.local(0): message file too big"}},
		{"warning naming a client", `Jun  4 10:00:00 mx postfix/smtpd[1]: warning: unknown[192.0.2.5]: SASL LOGIN authentication failed: UGFzc3dvcmQ6`,
			KindWarning, fields{"severity": "warning"}},
		{"master start", `Nov 30 07:33:55 mail postfix/master[16868]: daemon started -- version 3.7.11, configuration /etc/postfix`,
			KindMaster, fields{"version": "3.7.11", "action": "daemon started"}},
		{"postfix-script with empty syslog_name (Zimbra)", `Jan  1 00:00:00 zm /postfix-script[115413]: the Postfix mail system is running: PID: 1`,
			KindMaster, fields{"instance": "", "daemon": "postfix-script"}},
		{"postscreen PASS NEW", `Nov 30 07:10:01 mail1 postfix/postscreen[4065]: PASS NEW [194.190.62.114]:45122`,
			KindPostscreen, fields{"verdict": "PASS NEW", "client_ip": "194.190.62.114"}},
		{"postscreen DNSBL rank", `Nov 30 07:10:01 mail1 postfix/postscreen[4065]: DNSBL rank 6 for [192.0.2.3]:45122`,
			KindPostscreen, fields{"verdict": "DNSBL", "client_ip": "192.0.2.3"}},
		{"dnsblog", `Nov 30 07:10:01 mail1 postfix/dnsblog[5]: addr 192.0.2.3 listed by domain zen.spamhaus.org as 127.0.0.4`,
			KindDNSBL, fields{"client_ip": "192.0.2.3", "list": "zen.spamhaus.org", "reason": "127.0.0.4"}},
		{"anvil statistics", `Nov 30 07:20:01 mail1 postfix/anvil[5]: statistics: max connection rate 1/60s for (smtp:192.0.2.3) at Nov 30 07:12:01`,
			KindStats, nil},
		{"multi-instance service and daemon", `Mar  7 01:02:03 mx postfix-smo/submission/smtpd[1]: connect from a[192.0.2.1]`,
			KindConnect, fields{"instance": "postfix-smo", "service": "submission", "daemon": "smtpd", "program": "postfix-smo/submission/smtpd"}},
		{"instance named by an IP", `Sep 16 00:07:41 n postfix-239.58.50.50/local[1]: 0D59F4165A: to=<a@b>, relay=local, delay=0, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)`,
			KindDelivery, fields{"instance": "postfix-239.58.50.50", "daemon": "local"}},
		{"amavis service", `2023-03-14T00:22:21.597539+01:00 helga postfix/amavis/smtp[303511]: 4PbCNM3z5lz3tBr: to=<u@e.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=26, delays=25/0.02/0.01/1.3, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 4PbCNP6K3Hz3tG3)`,
			KindDelivery, fields{"service": "amavis", "daemon": "smtp", "qid": "4PbCNM3z5lz3tBr"}},
		{"custom syslog_name", `Nov 30 07:10:02 mx mta-out/smtp[1]: 22FD6256DC9: to=<a@b>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.3, status=deferred (Host or domain name not found)`,
			KindDelivery, fields{"instance": "mta-out", "daemon": "smtp"}},
		{"look-alike program is foreign", `Jan 1 00:00:00 hostname postfix1[12345]: foo`, KindForeign, fields{"program": "postfix1"}},
		{"postfix/unknown is an unknown Postfix line", `Jan 1 00:00:00 hostname postfix/unknown[12345]: foo`, KindUnknown, fields{"daemon": "unknown"}},
		{"other program", `Nov 30 07:10:01 mail1 opendkim[4206]: 22FD6256DC9: DKIM-Signature field added (s=2024, d=example.net)`, KindForeign, nil},
		{"dovecot without pid", `Nov 30 07:10:53 mail1 dovecot: imap-login: Login: user=<t@example.org>`, KindForeign, fields{"program": "dovecot"}},
		{"invalid test queue id accepted leniently", `Mar 22 08:00:01 mail postfix/qmgr[1]: FGHIJ67890: removed`, KindRemoved, fields{"qid": "FGHIJ67890"}},
		{"empty line", ``, KindMalformed, nil},
		{"bare date", `Jan 1 00:00:00`, KindMalformed, nil},
		{"bad month", `Foo 1 00:00:00 hostname postfix/smtpd[1]: connect from a[1.2.3.4]`, KindMalformed, nil},
		{"colon after month", `Jan: 1 00:00:00 hostname postfix/smtpd[1]: x`, KindMalformed, nil},
		{"unterminated pid", `Jan  1 00:00:00 hostname postfix/smtpd[12345 connect`, KindMalformed, nil},
		{"binary", "\x00\x01\x02\xff\xfe", KindMalformed, nil},
		{"comment", `# failJSON: {"time": "2005-02-07T15:10:42"}`, KindMalformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse([]byte(tt.line))
			if got := ev.Kind; got != tt.kind {
				t.Fatalf("kind = %s, want %s (line %q)", got, tt.kind, tt.line)
			}
			if (err != nil) != (tt.kind == KindMalformed) {
				t.Errorf("err = %v, want an error only for malformed lines", err)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
			for k, want := range tt.want {
				if got := ev.get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestParseDeliveryNumbers(t *testing.T) {
	ev, _ := Parse([]byte(`Nov 30 07:10:00 mail1 postfix/smtp[4757]: 1E708258AAE: to=<a@b.ch>, relay=mx[192.0.2.1]:25, conn_use=3, delay=229139, delays=229138/0.01/0.23/0, dsn=4.7.1, status=deferred (x)`))
	if ev.Delay != 229139 || ev.Delays != [4]float64{229138, 0.01, 0.23, 0} || !ev.HasDelays || ev.ConnUse != 3 || ev.PID != 4757 {
		t.Errorf("delay=%v delays=%v has=%v conn_use=%d pid=%d", ev.Delay, ev.Delays, ev.HasDelays, ev.ConnUse, ev.PID)
	}
	ev, _ = Parse([]byte(`Nov 30 07:33:55 mail postfix/qmgr[1]: 8FFDEC2174: from=<>, size=2352, nrcpt=3 (queue active)`))
	if ev.Size != 2352 || ev.Nrcpt != 3 || !ev.HasFrom || len(ev.From) != 0 {
		t.Errorf("size=%d nrcpt=%d hasFrom=%v from=%q", ev.Size, ev.Nrcpt, ev.HasFrom, ev.From)
	}
	ev, _ = Parse([]byte(`Nov 30 07:10:02 m postfix/smtpd[1]: NOQUEUE: reject: RCPT from a[192.0.2.1]: 450 4.7.1 <x>: Client host rejected: cannot find your reverse hostname; from=<> to=<x> proto=ESMTP helo=<h>`))
	if ev.Code != 450 || string(ev.Enhanced) != "4.7.1" {
		t.Errorf("code=%d enhanced=%q", ev.Code, ev.Enhanced)
	}
}

func TestQueueIDs(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"8FFDEC2174", true}, {"585BC3F", true}, {"C6E0DDB74006", true}, {"123456789AB", true},
		{"4jdG4m1zMFz5yXh", true}, {"4PbC4x469Jz3tBr", true}, {"3mPVKl0Mhjz7sXv", true}, {"44JCRG5tYPzCqt2", true},
		{"NOQUEUE", false}, {"FGHIJ67890", false}, {"8ffdec2174", false}, {"ABC", false},
		{"4jdG4m1zMFz5yXz", false}, // 'z' in the inode part
		{"4jdG4m1aMFz5yXh", false}, // vowel
		{"$(rm -rf /)", false}, {"8FFDEC2174\n", false}, {"", false},
	}
	for _, tt := range tests {
		if got := IsQueueID([]byte(tt.id)); got != tt.want {
			t.Errorf("IsQueueID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestTimestampFormats(t *testing.T) {
	utc := time.UTC
	ref := time.Date(2026, 11, 30, 12, 0, 0, 0, utc)
	tests := []struct {
		name string
		line string
		want time.Time
		host string
	}{
		{"classic padded", "Jun  4 07:10:02 mail postfix/smtpd[1]: connect from a[192.0.2.1]", time.Date(2026, 6, 4, 7, 10, 2, 0, utc), "mail"},
		{"classic zero padded (maillog_file)", "Jun 04 07:10:02 mail postfix/smtpd[1]: connect from a[192.0.2.1]", time.Date(2026, 6, 4, 7, 10, 2, 0, utc), "mail"},
		{"classic unpadded", "Mar 7 07:10:02 mail postfix/smtpd[1]: connect from a[192.0.2.1]", time.Date(2026, 3, 7, 7, 10, 2, 0, utc), "mail"},
		{"short-precise", "Nov 30 07:10:02.123456 mail postfix/smtpd[1]: connect from a[192.0.2.1]", time.Date(2026, 11, 30, 7, 10, 2, 123456000, utc), "mail"},
		{"RFC 3339 with offset", "2026-11-30T07:10:02.123456+01:00 mail postfix/smtpd[1]: connect from a[192.0.2.1]", time.Date(2026, 11, 30, 6, 10, 2, 123456000, utc), "mail"},
		{"RFC 3339 milliseconds Z", "2024-03-22T08:00:01.000Z mail postfix/smtpd[1]: connect from a[192.0.2.1]", time.Date(2024, 3, 22, 8, 0, 1, 0, utc), "mail"},
		{"short-iso", "2026-11-30T07:10:02+0100 mail postfix/smtpd[1]: connect from a[192.0.2.1]", time.Date(2026, 11, 30, 6, 10, 2, 0, utc), "mail"},
		{"RFC 5424", "<22>1 2026-11-30T07:10:02Z mail postfix/smtp 1234 - - 8FFDEC2174: removed", time.Date(2026, 11, 30, 7, 10, 2, 0, utc), "mail"},
		{"RFC 5424 with structured data", `<22>1 2026-11-30T07:10:02.5-05:00 mail postfix/qmgr 99 ID47 [exampleSDID@32473 iut="3" eventSource="App\]x"] 8FFDEC2174: removed`, time.Date(2026, 11, 30, 12, 10, 2, 500000000, utc), "mail"},
		{"journald string MESSAGE", `{"__REALTIME_TIMESTAMP":"1796024035123456","_HOSTNAME":"mail","SYSLOG_IDENTIFIER":"postfix/qmgr","_PID":"16870","MESSAGE":"8FFDEC2174: removed","_BOOT_ID":"x","_TRANSPORT":"syslog"}`, time.UnixMicro(1796024035123456).In(utc), "mail"},
		{"journald byte-array MESSAGE", `{"__REALTIME_TIMESTAMP":"1796024035000000","_HOSTNAME":"mail","SYSLOG_IDENTIFIER":"postfix/qmgr","SYSLOG_PID":"7","MESSAGE":[56,70,70,68,69,67,50,49,55,52,58,32,114,101,109,111,118,101,100]}`, time.UnixMicro(1796024035000000).In(utc), "mail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.line+"\n"), Options{Ref: ref, Loc: utc})
			if !r.Scan() {
				t.Fatal("no event")
			}
			ev := r.Event()
			if ev.Kind == KindMalformed || ev.Kind == KindForeign {
				t.Fatalf("kind %s", ev.Kind)
			}
			if !ev.Time.Equal(tt.want) {
				t.Errorf("time = %v, want %v", ev.Time, tt.want)
			}
			if string(ev.Host) != tt.host {
				t.Errorf("host = %q", ev.Host)
			}
		})
	}
}

func TestJournalMessageDecoding(t *testing.T) {
	line := `{"MESSAGE":"8FFDEC2174: to=<a@b>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.3, status=deferred (Host \"x\" \u00e9 not found)\n","SYSLOG_IDENTIFIER":"postfix-out/smtp","_PID":"5","__REALTIME_TIMESTAMP":"1","_HOSTNAME":"h","NESTED":{"a":[1,{"b":"}"}]}}`
	ev, err := Parse([]byte(line))
	if err != nil || ev.Kind != KindDelivery {
		t.Fatalf("kind %s err %v", ev.Kind, err)
	}
	if got := string(ev.Reason); got != `Host "x" é not found` {
		t.Errorf("reason %q", got)
	}
	if string(ev.Instance) != "postfix-out" || ev.PID != 5 {
		t.Errorf("instance %q pid %d", ev.Instance, ev.PID)
	}
	for _, bad := range []string{`{`, `{"MESSAGE":`, `{"MESSAGE":[1,2,`, `{"MESSAGE":"x"}`, `{"SYSLOG_IDENTIFIER":"postfix/smtp"}`, `{"MESSAGE":[300],"SYSLOG_IDENTIFIER":"postfix/smtp"}`} {
		if ev, _ := Parse([]byte(bad)); ev.Kind != KindMalformed {
			t.Errorf("%q: kind %s, want malformed", bad, ev.Kind)
		}
	}
}

func TestYearInference(t *testing.T) {
	utc := time.UTC
	tests := []struct {
		name  string
		opts  Options
		lines []string // "Mon dd hh:mm:ss"
		want  []string // YYYY-MM-DD
	}{
		{"mtime anchors the year", Options{Ref: time.Date(2026, 11, 30, 8, 0, 0, 0, utc)},
			[]string{"Nov 29 23:59:59", "Nov 30 07:00:00"}, []string{"2026-11-29", "2026-11-30"}},
		{"Dec to Jan rollover with mtime in January", Options{Ref: time.Date(2027, 1, 2, 0, 0, 0, 0, utc)},
			[]string{"Dec 31 23:59:59", "Jan  1 00:00:01", "Jan  2 00:00:00"}, []string{"2026-12-31", "2027-01-01", "2027-01-02"}},
		{"explicit year with rollover", Options{Year: 2020},
			[]string{"Dec 30 10:00:00", "Dec 31 10:00:00", "Jan  1 10:00:00", "Feb  3 10:00:00"}, []string{"2020-12-30", "2020-12-31", "2021-01-01", "2021-02-03"}},
		{"never in the future", Options{Ref: time.Date(2026, 3, 1, 0, 0, 0, 0, utc)},
			[]string{"Nov 30 07:00:00"}, []string{"2025-11-30"}},
		{"out-of-order lines do not change the year", Options{Ref: time.Date(2026, 4, 6, 0, 0, 0, 0, utc)},
			[]string{"Apr  5 17:54:30", "Apr  5 17:54:21", "Mar 31 23:00:00", "Apr  5 18:00:00"}, []string{"2026-04-05", "2026-04-05", "2026-03-31", "2026-04-05"}},
		{"29 February in a leap year", Options{Ref: time.Date(2028, 3, 1, 0, 0, 0, 0, utc)},
			[]string{"Feb 28 10:00:00", "Feb 29 10:00:00", "Mar  1 10:00:00"}, []string{"2028-02-28", "2028-02-29", "2028-03-01"}},
		{"29 February when the inferred year has none", Options{Ref: time.Date(2027, 3, 2, 0, 0, 0, 0, utc)},
			[]string{"Feb 29 10:00:00"}, []string{"2024-02-29"}},
		{"explicit non-leap year with 29 February", Options{Year: 2025},
			[]string{"Feb 29 10:00:00"}, []string{"2024-02-29"}},
		{"year-carrying lines do not disturb inference", Options{Ref: time.Date(2026, 11, 30, 8, 0, 0, 0, utc)},
			[]string{"Nov 29 10:00:00", "2019-01-01T00:00:00Z", "Nov 30 07:00:00"}, []string{"2026-11-29", "2019-01-01", "2026-11-30"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			for _, l := range tt.lines {
				b.WriteString(l + " mail postfix/qmgr[1]: 8FFDEC2174: removed\n")
			}
			tt.opts.Loc = utc
			for _, impl := range impls {
				got := readAll(t, impl, b.String(), tt.opts)
				for i, ev := range got {
					if d := ev.Time.Format("2006-01-02"); d != tt.want[i] {
						t.Errorf("%s line %d (%s): %s, want %s", impl, i+1, tt.lines[i], d, tt.want[i])
					}
				}
			}
		})
	}
}
