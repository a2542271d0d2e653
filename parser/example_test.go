package parser_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/pfdiag/pfdiag/parser"
)

func ExampleParse() {
	ev, err := parser.Parse([]byte(`Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))`))
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Kind, string(ev.QueueID), string(ev.To), string(ev.DSN), string(ev.Status))
	fmt.Println(string(ev.Reason))
	// Output:
	// delivery 967FBC2175 nosuchuser@remote.test 5.1.1 bounced
	// host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)
}

func ExampleReader() {
	log := `Dec 31 23:59:59 mail postfix/qmgr[1]: 8FFDEC2174: removed
Jan  1 00:00:01 mail postfix-out/qmgr[2]: 91A94C2173: removed
`
	r := parser.NewReader(strings.NewReader(log), parser.Options{Year: 2025, Loc: time.UTC})
	for r.Scan() {
		ev := r.Event()
		fmt.Println(ev.Time.Format(time.DateOnly), string(ev.Instance), ev.Kind)
	}
	// Output:
	// 2025-12-31 postfix removed
	// 2026-01-01 postfix-out removed
}
