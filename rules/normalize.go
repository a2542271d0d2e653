package rules

import (
	"slices"
	"strings"
)

// keyBuf is the stack buffer for a cache key; longer keys spill to the heap.
const keyBuf = 768

// maxReason bounds how much of a reason text is looked at. Postfix joins a
// multi-line reply into one text; the longest real ones (Gmail, Microsoft)
// stay under 1,500 bytes. Hostile input beyond that changes nothing.
const maxReason = 4096

// facts are what one scan of an input finds. Strings are substrings of the
// input (no allocation); norm is set only when the matcher runs.
type facts struct {
	norm string // normalised text (lower case, masked): what rules match

	code     int    // reply code of the remote reply ("said: 550 …"), 0 if none
	enhanced string // its enhanced status code, "" if none
	stage    string // SMTP stage, see Diagnosis.Stage
	replyAt  int    // offset of the reply code in the text, -1 if none

	relayHost, relayIP, relayPort string // from Input.Relay, else from "host X[ip]" in the text
	relay                         string // "X[ip]" as written in the text
	ip                            string // first IP the text names other than the relay's
	domain                        string // Input.Domain, else name=… or the first address's domain
	hop                           byte   // 'l' local hop, 'r' remote, 0 unknown
	textEnd                       int    // length of the normalised text at the start of the key
}

// stripFraming removes Postfix's "delivery temporarily suspended: " prefix:
// the suspended destination keeps the category of the failure that caused it.
// A Diagnostic-Code copied from a bounce ("smtp; 550 …", "X-Postfix; …")
// loses its type prefix the same way.
func stripFraming(s string) string {
	s = strings.TrimSpace(s)
	for {
		switch {
		case hasPrefixFold(s, "delivery temporarily suspended: "):
			s = s[len("delivery temporarily suspended: "):]
		case hasPrefixFold(s, "smtp;"):
			s = strings.TrimLeft(s[len("smtp;"):], " ")
		case hasPrefixFold(s, "x-postfix;"):
			s = strings.TrimLeft(s[len("x-postfix;"):], " ")
		default:
			return strings.TrimSpace(s)
		}
	}
}

func hasPrefixFold(s, p string) bool { return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) }

// key builds the cache key: the normalised text, then the context every rule
// condition depends on (daemon, status, dsn, relay and domain suffix class,
// hop). Two inputs with equal keys get the same diagnosis except for the
// values rendered into the fix.
func (e *Engine) key(buf []byte, in *Input, f *facts) []byte {
	text := stripFraming(in.Reason)
	if len(text) > maxReason {
		text = text[:maxReason]
	}
	parseRelay(in.Relay, f)
	start := len(buf)
	buf = normalise(buf, text, f)
	textEnd := len(buf) - start
	if in.Domain != "" {
		f.domain = in.Domain
	}
	f.hop = hopOf(in.Daemon, f)
	buf = append(buf, 0)
	buf = appendLower(buf, in.Daemon)
	buf = append(buf, 0)
	buf = appendLower(buf, in.Status)
	buf = append(buf, 0)
	buf = append(buf, in.DSN...)
	buf = append(buf, 0, suffixClass(e.relays, f.relayHost), suffixClass(e.domains, f.domain), f.hop)
	f.textEnd = textEnd
	return buf
}

// parseRelay splits "host[ip]:port" (Postfix's relay= value).
// relay=none (no connection was made) says nothing: the peer named in
// the text ("connect to mx.example.com[192.0.2.1]:25: …") is the hop.
func parseRelay(r string, f *facts) {
	if r == "" || r == "none" {
		return
	}
	i := strings.IndexByte(r, '[')
	if i < 0 {
		f.relayHost = r
		return
	}
	f.relayHost = r[:i]
	rest := r[i+1:]
	j := strings.IndexByte(rest, ']')
	if j < 0 {
		f.relayIP = rest
		return
	}
	f.relayIP = rest[:j]
	if strings.HasPrefix(rest[j+1:], ":") {
		f.relayPort = rest[j+2:]
	}
}

// localSocket reports whether a bracketed peer address is a UNIX-domain
// socket (Postfix prints "private/name" or a path there).
func localSocket(a string) bool {
	return strings.HasPrefix(a, "private/") || strings.HasPrefix(a, "public/") || strings.HasPrefix(a, "/") || strings.HasPrefix(a, "unix:")
}

// localPorts are the loopback ports of the usual local hops: amavisd-new
// (10024, re-injection 10025/10026), rspamd's proxy (11332), spamd (783),
// LMTP (24). A loopback relay on another port is treated as remote: the
// nexthop may be a test peer or an SSH tunnel.
var localPorts = [...]string{"10024", "10025", "10026", "11332", "783", "24"}

// hopOf says whether the failing hop is local (tie-break 1 of the taxonomy).
func hopOf(daemon string, f *facts) byte {
	switch daemon {
	case "local", "virtual", "pipe":
		return 'l'
	}
	ip := f.relayIP
	if localSocket(ip) {
		return 'l'
	}
	if f.relayHost == "local" && ip == "" {
		return 'l'
	}
	if strings.HasPrefix(ip, "127.") || ip == "::1" || ip == "ipv6:::1" {
		if daemon == "lmtp" {
			return 'l'
		}
		for _, p := range localPorts {
			if f.relayPort == p {
				return 'l'
			}
		}
		return 'r'
	}
	if f.relayHost != "" && f.relayHost != "none" {
		return 'r'
	}
	return 0
}

// suffixClass returns 1+the index of the first suffix host ends with (on a
// dot boundary), 0 if none: a small key component instead of the host.
func suffixClass(suffixes []string, host string) byte {
	for i, s := range suffixes {
		if hasDomainSuffix(host, s) {
			if i > 250 {
				return 251
			}
			return byte(i + 1)
		}
	}
	return 0
}

// hasDomainSuffix reports whether host is suffix or ends with "."+suffix,
// ignoring case.
func hasDomainSuffix(host, suffix string) bool {
	host = strings.TrimSuffix(host, ".")
	if len(host) < len(suffix) {
		return false
	}
	tail := host[len(host)-len(suffix):]
	if !strings.EqualFold(tail, suffix) {
		return false
	}
	return len(host) == len(suffix) || host[len(host)-len(suffix)-1] == '.'
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// plainLower maps the bytes normalise copies as they are to their lower
// case, and every other byte to 0: digits, white space, control bytes and
// the characters that start a masked item (< [ @ =).
var plainLower = func() (l [256]byte) {
	for c := 0; c < 256; c++ {
		switch {
		case c < 0x20 || c == 0x7f, '0' <= c && c <= '9':
		case c == '\t', c == '\n', c == '\r', c == '<', c == '[', c == '@', c == '=':
		case 'A' <= c && c <= 'Z':
			l[c] = byte(c + 'a' - 'A')
		default:
			l[c] = byte(c)
		}
	}
	return
}()

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }
func isHex(c byte) bool   { return isDigit(c) || ('a' <= c|0x20 && c|0x20 <= 'f') }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// replyStart finds where the remote reply begins: after "host X[ip] said: "
// or "host X[ip] refused to talk to me: ", or at the start of a bare reply
// ("550 5.1.1 …"), or after a client framing ("RCPT from x[ip]: 550 …").
// One scan for "] ": Postfix writes the peer first.
func replyStart(s string) int {
	if replyCode(s) > 0 {
		return 0
	}
	// Exim's framing, quoted in many bounces: "SMTP error from remote mail
	// server after RCPT TO:<a@b>: 550 …".
	if i := strings.Index(s, "SMTP error from remote mail server after "); i >= 0 {
		rest := s[i:]
		for k := 0; k+2 < len(rest) && k < 400; k++ {
			if rest[k] == ':' && rest[k+1] == ' ' && replyCode(rest[k+2:]) > 0 {
				return i + k + 2
			}
		}
	}
	i := strings.Index(s, "] ")
	if i < 0 || i > 600 {
		if j := strings.Index(s, "]: "); j >= 0 && j < 300 && replyCode(s[j+3:]) > 0 {
			return j + 3
		}
		return -1
	}
	rest := s[i+2:]
	for _, m := range [...]string{"said: ", "said:", "refused to talk to me: "} {
		if strings.HasPrefix(rest, m) {
			j := i + 2 + len(m)
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if replyCode(s[j:]) > 0 {
				return j
			}
			return -1
		}
	}
	if j := strings.Index(s, "]: "); j >= 0 && j < 300 && replyCode(s[j+3:]) > 0 {
		return j + 3
	}
	return -1
}

// replyCode returns the three-digit SMTP code s starts with (2xx-5xx,
// followed by a space, '-', or the end), 0 otherwise.
func replyCode(s string) int {
	if len(s) < 3 || s[0] < '2' || s[0] > '5' || !isDigit(s[1]) || !isDigit(s[2]) {
		return 0
	}
	if len(s) > 3 && s[3] != ' ' && s[3] != '-' {
		return 0
	}
	return int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
}

// enhancedAt returns the enhanced status code s starts with ("5.7.1",
// "4.7.650"), "" if none. RFC 3463: class.subject.detail, 1-3 digits each.
func enhancedAt(s string) string {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return ""
	}
	i := 2
	n := 0
	for i < len(s) && isDigit(s[i]) && n < 3 {
		i++
		n++
	}
	if n == 0 || i >= len(s) || s[i] != '.' {
		return ""
	}
	i++
	n = 0
	for i < len(s) && isDigit(s[i]) && n < 3 {
		i++
		n++
	}
	if n == 0 || (i < len(s) && (isAlnum(s[i]) || s[i] == '.')) {
		return ""
	}
	return s[:i]
}

// validEnhanced reports whether s is exactly an enhanced status code.
func validEnhanced(s string) bool { return s != "" && enhancedAt(s) == s }

// normalise appends the lower-case, masked form of s to dst and records what
// it finds in f. Masked: <addresses>, bare addresses, IPv4/IPv6 addresses,
// bracketed hosts/IPs/socket paths and the host name before them, the value
// of name=, digit runs of 4 or more, and long tokens mixing letters and
// digits (queue IDs, message IDs, tracking IDs; 10 characters or more). Multi-line continuation
// prefixes ("550-5.7.1 ") after the first are dropped, and white space is
// collapsed, so phrases match across the lines of a joined reply.
func normalise(dst []byte, s string, f *facts) []byte {
	start := len(dst)
	f.replyAt = replyStart(s)
	codeStr := ""
	if f.replyAt >= 0 {
		f.code = replyCode(s[f.replyAt:])
		codeStr = s[f.replyAt : f.replyAt+3]
		if k := f.replyAt + 4; k < len(s) {
			f.enhanced = enhancedAt(s[k:])
		}
	}
	if f.enhanced == "" {
		// qmail and its descendants put the code at the end: "(#5.1.1)".
		if k := strings.Index(s, "(#"); k >= 0 {
			if e := enhancedAt(s[k+2:]); e != "" && strings.HasPrefix(s[k+2+len(e):], ")") {
				f.enhanced = e
			}
		}
	}
	i := 0
	for i < len(s) {
		c := s[i]
		if l := plainLower[c]; l != 0 && (c != ' ' || (len(dst) > start && dst[len(dst)-1] != ' ')) {
			// Fast path: a run of letters, punctuation and single spaces
			// is copied and lower-cased in one pass (most of any text),
			// into room made once for the rest of s: the run is at most
			// that long.
			at := len(dst)
			if cap(dst)-at < len(s)-i {
				dst = slices.Grow(dst, len(s)-i)
			}
			b := dst[at : at+len(s)-i]
			b[0] = l
			j := i + 1
			for j < len(s) {
				l := plainLower[s[j]]
				if l == 0 || (l == ' ' && s[j-1] == ' ') {
					break // not plain, or white space to collapse
				}
				b[j-i] = l
				j++
			}
			k := j
			if j < len(s) && isDigit(s[j]) {
				// A word running into digits ("TSS04", "fe80::1") is a
				// token: leave it to token().
				for k > i && isAlpha(s[k-1]) {
					k--
				}
			}
			dst = dst[:at+k-i]
			i = k
			if k < j {
				i, dst = token(dst, s, i, f, codeStr, start)
			}
			continue
		}
		if '0' <= c && c <= '9' {
			i, dst = token(dst, s, i, f, codeStr, start)
			continue
		}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if len(dst) > start && dst[len(dst)-1] != ' ' {
				dst = append(dst, ' ')
			}
			i++
		case c == '<':
			j := addrEnd(s, i+1)
			if j < 0 {
				dst = append(dst, '<')
				i++
				continue
			}
			if at := strings.LastIndexByte(s[i+1:j], '@'); at >= 0 && f.domain == "" {
				f.domain = s[i+2+at : j]
			}
			dst = append(dst, "<>"...)
			i = j + 1
		case c == '[':
			j := bracketEnd(s, i+1)
			if j < 0 {
				dst = append(dst, '[')
				i++
				continue
			}
			inner := s[i+1 : j]
			// The host name right before "[ip]" is Postfix's framing of the
			// peer ("host mx.example.com[192.0.2.1] said:").
			h := len(dst)
			for h > start && (hostChar(dst[h-1]) || dst[h-1] == '#') {
				h--
			}
			k := i
			for k > 0 && hostChar(s[k-1]) {
				k--
			}
			if k < i && !peerName(s[k:i]) {
				k, h = i, len(dst) // "banned sender[192.0.2.7]": a word, not a peer
			}
			// "connect to private/dovecot-lmtp[private/dovecot-lmtp]": a
			// local socket names the hop even without a dotted peer name.
			if k == i && f.relayIP == "" && localSocket(inner) {
				f.relayIP, f.relay = inner, inner
			}
			if k < i {
				if f.relayHost == "" && f.relayIP == "" {
					f.relayHost = s[k:i]
					f.relayIP = inner
					f.relay = s[k : j+1]
					if j+1 < len(s) && s[j+1] == ':' {
						p := j + 2
						for p < len(s) && isDigit(s[p]) {
							p++
						}
						f.relayPort = s[j+2 : p]
					}
				} else if f.ip == "" && looksIP(inner) && inner != f.relayIP {
					f.ip = inner
				}
				dst = dst[:h]
			} else if f.ip == "" && looksIP(inner) && inner != f.relayIP {
				f.ip = inner
			}
			dst = append(dst, "[]"...)
			i = j + 1
		case c == '@':
			// A bare address: drop what was already copied of it.
			h := len(dst)
			for h > start && localChar(dst[h-1]) {
				h--
			}
			j := i + 1
			for j < len(s) && addrChar(s[j]) && s[j] != '@' {
				j++
			}
			for j > i+1 && s[j-1] == '.' {
				j--
			}
			if f.domain == "" && j > i+1 {
				f.domain = s[i+1 : j]
			}
			dst = append(dst[:h], "#@"...)
			i = j
		case c == '=' && i >= 4 && strings.EqualFold(s[i-4:i], "name"):
			// Postfix's "Name service error for name=example.com type=MX".
			j := i + 1
			for j < len(s) && s[j] != ' ' && s[j] != ',' && s[j] != ')' {
				j++
			}
			if f.domain == "" && j > i+1 {
				f.domain = strings.TrimSuffix(s[i+1:j], ".")
			}
			dst = append(dst, "=#"...)
			i = j
		default:
			if c < 0x20 || c == 0x7f {
				// control bytes are hostile input, not meaning
				if len(dst) > start && dst[len(dst)-1] != ' ' {
					dst = append(dst, ' ')
				}
			} else {
				dst = append(dst, lower(c))
			}
			i++
		}
	}
	for len(dst) > start && dst[len(dst)-1] == ' ' {
		dst = dst[:len(dst)-1]
	}
	return dst
}

// token handles one alphanumeric token starting at s[i].
func token(dst []byte, s string, i int, f *facts, codeStr string, start int) (int, []byte) {
	j := i
	digits, upper := 0, false
	for j < len(s) {
		c := s[j]
		if 'a' <= c && c <= 'z' {
		} else if '0' <= c && c <= '9' {
			digits++
		} else if 'A' <= c && c <= 'Z' {
			upper = true
		} else {
			break
		}
		j++
	}
	n := j - i
	if digits == 0 {
		// The common case, a word: copy it in one go.
		at := len(dst)
		dst = append(dst, s[i:j]...)
		if upper {
			lowerInPlace(dst[at:])
		}
		return j, dst
	}
	if digits > 0 {
		if n <= 3 && digits == n && j < len(s) && s[j] == '.' {
			if k := ipv4End(s, i); k > 0 {
				if f.ip == "" && s[i:k] != f.relayIP && (k == len(s) || s[k] != '[') {
					f.ip = s[i:k]
				}
				return k, append(dst, "#ip"...)
			}
		}
		if j < len(s) && s[j] == ':' && n <= 4 {
			if k := ipv6End(s, i); k > 0 {
				if f.ip == "" && s[i:k] != f.relayIP && (k == len(s) || s[k] != '[') {
					f.ip = s[i:k]
				}
				return k, append(dst, "#ip"...)
			}
		}
		if digits == n {
			// The reply's own code: "550-5.7.1" (first line of several)
			// reads like "550 5.7.1".
			if i == f.replyAt && n == 3 && j < len(s) && s[j] == '-' {
				return j + 1, append(append(dst, s[i:j]...), ' ')
			}
			// A continuation prefix of a multi-line reply: "550-5.7.1 ".
			if n == 3 && i > f.replyAt && f.replyAt >= 0 && s[i:j] == codeStr && (len(dst) == start || dst[len(dst)-1] == ' ') && j < len(s) {
				if s[j] == '-' {
					k := j + 1
					if en := enhancedAt(s[k:]); en != "" && en == f.enhanced {
						k += len(en)
					}
					return k, dst
				}
				if s[j] == ' ' && f.enhanced != "" && strings.HasPrefix(s[j+1:], f.enhanced) {
					k := j + 1 + len(f.enhanced)
					if k == len(s) || s[k] == ' ' {
						return k, dst
					}
				}
			}
			if n >= 4 && !afterRFC(dst) {
				return j, append(dst, '#')
			}
			// A short number trailing a masked ID ("…aesi45ad.33").
			if l := len(dst); l >= 2 && dst[l-2] == '#' && (dst[l-1] == '.' || dst[l-1] == '-') {
				return j, append(dst, '#')
			}
		} else if n >= 10 && digits >= 2 {
			// Queue IDs, message IDs, tracking IDs. Shorter codes mixing
			// letters and digits carry meaning: TSS04, S3150, BL000001.
			return j, append(dst, '#')
		}
	}
	at := len(dst)
	dst = append(dst, s[i:j]...)
	lowerInPlace(dst[at:])
	return j, dst
}

func lowerInPlace(b []byte) {
	for k, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[k] = c + 'a' - 'A'
		}
	}
}

// ipv4End returns the end of a dotted-quad IPv4 address at s[i:], 0 if none.
func ipv4End(s string, i int) int {
	k := i
	for part := 0; part < 4; part++ {
		n := 0
		for k < len(s) && isDigit(s[k]) && n < 4 {
			k++
			n++
		}
		if n == 0 || n > 3 {
			return 0
		}
		if part < 3 {
			if k >= len(s) || s[k] != '.' {
				return 0
			}
			k++
		}
	}
	if k < len(s) && (isAlnum(s[k]) || (s[k] == '.' && k+1 < len(s) && isDigit(s[k+1]))) {
		return 0
	}
	return k
}

// ipv6End returns the end of an IPv6-looking run (hex groups and at least
// two colons) at s[i:], 0 if none. Times such as 00:05:00 match too; masking
// them only merges cache keys.
func ipv6End(s string, i int) int {
	k := i
	colons := 0
	for k < len(s) && (isHex(s[k]) || s[k] == ':' || (s[k] == '.' && colons >= 2)) {
		if s[k] == ':' {
			colons++
		}
		k++
	}
	for k > i && (s[k-1] == ':' || s[k-1] == '.') {
		if s[k-1] == ':' {
			colons--
		}
		k--
	}
	if colons < 2 || k-i < 6 || (k < len(s) && isAlnum(s[k])) {
		return 0
	}
	return k
}

// addrEnd returns the index of the '>' closing an address-like "<…>" that
// starts at s[i:], -1 if it is not one (too long, contains a space, or has
// neither '@' nor '.').
func addrEnd(s string, i int) int {
	mark := false
	for j := i; j < len(s) && j < i+320; j++ {
		switch s[j] {
		case '>':
			if mark {
				return j
			}
			return -1
		case ' ', '<', '\t':
			return -1
		case '@', '.':
			mark = true // an address or a host, not "<LF>" or "<UNKNOWN>"
		}
	}
	return -1
}

// bracketEnd returns the index of the ']' closing a host/IP/socket-looking
// "[…]" at s[i:], -1 otherwise. "[TSS04]" and "[BL21]" carry meaning and are
// kept: they contain no '.', ':' or '/'.
func bracketEnd(s string, i int) int {
	mark := false
	for j := i; j < len(s) && j < i+260; j++ {
		switch c := s[j]; c {
		case ']':
			if mark && j > i {
				return j
			}
			return -1
		case ' ', '[', '\t':
			return -1
		case '.', ':', '/':
			mark = true
		}
	}
	return -1
}

// localChar: what is taken back of a bare address's local part once its '@'
// is seen; '=' and '/' stop it so "id=user@example.org" keeps "id=".
func localChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '-' || c == '_' || c == '+' || c == '%'
}

// afterRFC reports whether dst ends with "rfc", "rfc " or "rfc." or a
// Spectrum "AUP#I-" code prefix: those numbers ("not RFC 5322 compliant",
// AUP#I-1100) carry meaning and are few.
func afterRFC(dst []byte) bool {
	t := string(dst[max(0, len(dst)-6):])
	for _, p := range [...]string{"rfc", "rfc ", "rfc.", "aup#i-", "aup#o-", "aup#i", "aup#o"} {
		if strings.HasSuffix(t, p) {
			return true
		}
	}
	return false
}

// peerName reports whether the word before "[ip]" names a peer as Postfix
// frames it: a host name with a dot, an IP, "unknown" or "localhost".
func peerName(w string) bool {
	if strings.IndexByte(w, '.') >= 0 || w == "unknown" || w == "localhost" {
		return true
	}
	for i := 0; i < len(w); i++ {
		if isDigit(w[i]) {
			return true
		}
	}
	return false
}

func hostChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' || c == '_' }

func addrChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '-' || c == '_' || c == '+' || c == '%' || c == '@' || c == '=' || c == '/' || c == '#'
}

func looksIP(s string) bool {
	if s == "" {
		return false
	}
	if strings.HasPrefix(s, "IPv6:") || strings.HasPrefix(s, "ipv6:") {
		s = s[5:]
	}
	if ipv4End(s, 0) == len(s) {
		return true
	}
	return strings.Count(s, ":") >= 2 && ipv6End(s, 0) == len(s)
}

// stageOf derives the SMTP stage from the normalised text.
func stageOf(t string) string {
	if i := strings.LastIndex(t, "in reply to "); i >= 0 {
		rest := t[i+len("in reply to "):]
		if j := strings.Index(rest, " command"); j > 0 {
			return canonicalStage(rest[:j])
		}
	}
	if strings.Contains(t, "refused to talk to me") || strings.Contains(t, "initial server greeting") {
		return "greeting"
	}
	if i := strings.Index(t, " while sending "); i >= 0 {
		rest := t[i+len(" while sending "):]
		if j := strings.Index(rest, " --"); j >= 0 {
			rest = rest[:j]
		}
		if j := strings.IndexByte(rest, ')'); j >= 0 {
			rest = rest[:j]
		}
		if rest == "message content" {
			return "DATA"
		}
		return canonicalStage(strings.TrimSpace(rest))
	}
	if i := strings.Index(t, " while performing the "); i >= 0 {
		rest := t[i+len(" while performing the "):]
		if j := strings.Index(rest, " handshake"); j > 0 {
			return canonicalStage(rest[:j])
		}
	}
	return ""
}

func canonicalStage(s string) string {
	switch s {
	case "end of data":
		return "end of DATA"
	case "rcpt to", "mail from", "data", "ehlo", "helo", "lhlo", "starttls", "auth", "bdat", "quit", "xforward", "xclient", "rset":
		return strings.ToUpper(s)
	case "":
		return ""
	}
	if len(s) > 20 {
		return ""
	}
	return strings.ToUpper(s)
}
