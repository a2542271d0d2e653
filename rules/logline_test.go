package rules

import (
	"regexp"
	"strings"
)

type delivery struct {
	qid, to string
	in      Input
}

// lineRE reads the delivery and expiry lines of a Postfix log well enough
// for the tests of this package.
var lineRE = regexp.MustCompile(`postfix[a-z-]*/(?:[a-z0-9-]+/)?([a-z]+)\[\d+\]: ([0-9A-Za-z]+): (?:to=<([^>]*)>,(?: orig_to=<[^>]*>,)? relay=([^,]*),.*? dsn=([^,]*), status=(\S+) \((.*)\)$|from=<[^>]*>, status=(\S+), returned to sender)`)

func parseDelivery(line string) (delivery, bool) {
	m := lineRE.FindStringSubmatch(line)
	if m == nil {
		return delivery{}, false
	}
	d := delivery{qid: m[2], to: m[3]}
	if m[8] != "" {
		d.in = Input{Daemon: m[1], Status: m[8]}
		return d, true
	}
	d.in = Input{Reason: m[7], Daemon: m[1], Status: m[6], DSN: m[5], Relay: m[4]}
	if i := strings.LastIndexByte(d.to, '@'); i >= 0 {
		d.in.Domain = d.to[i+1:]
	}
	return d, true
}
