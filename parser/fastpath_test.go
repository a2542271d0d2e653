package parser

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// The hot path has shortcuts (word-at-a-time scans, first-byte dispatch,
// partial resets); each is checked here against the plain implementation
// it replaces, on hand-picked and random inputs.

// plainScanTag is scanTag a byte at a time.
func plainScanTag(b []byte) (n, first, last int) {
	first, last = -1, -1
	for n < len(b) && b[n] != '[' && b[n] != ':' && b[n] != ' ' {
		if b[n] == '/' {
			if first < 0 {
				first = n
			}
			last = n
		}
		n++
	}
	return n, first, last
}

// randomBytes returns n bytes drawn mostly from alphabet, sometimes any byte.
func randomBytes(r *rand.Rand, n int, alphabet string) []byte {
	b := make([]byte, n)
	for i := range b {
		if r.IntN(16) == 0 {
			b[i] = byte(r.IntN(256))
		} else {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
	}
	return b
}

func TestScanTag(t *testing.T) {
	tests := []string{
		"", "/", "//", "postfix/smtpd[1]: x", "postfix/submission/smtpd[4379]: x",
		"postfix-192.0.2.7/local[1]: x", "opendkim[4206]: x", "a/b/c/d/e/f/g/h/i/j/k", "abcdefgh/",
		"abcdefg/[", "abcdefgh[/", "/.//././/", "postfix/qmgr: x", "post fix/x", "p\x00/\xff/\x2f[",
		"\x2e\x2f\x2e\x2f\x2e\x2f\x2e\x2f\x2e\x2f", "////////////////x:",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		tests = append(tests, string(randomBytes(r, r.IntN(40), "ab/./[: 0\x01\x2e")))
		// scanTag's shortcut for a "postfix/" start.
		tests = append(tests, "postfix/"+string(randomBytes(r, r.IntN(24), "ab/./[: 0\x01\x2e")))
	}
	for _, in := range tests {
		n, f, l := scanTag([]byte(in))
		wn, wf, wl := plainScanTag([]byte(in))
		if n != wn || f != wf || l != wl {
			t.Fatalf("scanTag(%q) = %d, %d, %d; want %d, %d, %d", in, n, f, l, wn, wf, wl)
		}
	}
}

// TestTagSplitIsSplitProgram checks that the tag split done by parseTag
// gives what splitProgram gives.
func TestTagSplitIsSplitProgram(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tags := []string{"postfix/smtpd", "postfix-out/submission/smtpd", "a/b/c/d", "/x", "x/", "postfix/", "opendkim", "postfix-192.0.2.7/local"}
	for i := 0; i < 5000; i++ {
		tags = append(tags, string(randomBytes(r, 1+r.IntN(30), "postfix/smtpd-")))
	}
	for _, tag := range tags {
		if bytes.ContainsAny([]byte(tag), "[: \n\r") {
			continue
		}
		line := []byte("Nov 30 07:10:00 mail " + tag + "[12]: connect from a[192.0.2.1]")
		var got Event
		ParseInto(line, &got)
		want := got
		want.Instance, want.Service, want.Daemon = nil, nil, nil
		wantPostfix := splitProgram(&want)
		if got.Kind == KindMalformed {
			continue
		}
		if (got.Kind != KindForeign) != wantPostfix || !bytes.Equal(got.Instance, want.Instance) ||
			!bytes.Equal(got.Service, want.Service) || !bytes.Equal(got.Daemon, want.Daemon) ||
			(got.Service == nil) != (want.Service == nil) {
			t.Fatalf("%q: got %s %q %q %q, splitProgram %v %q %q %q", tag, got.Kind, got.Instance, got.Service, got.Daemon,
				wantPostfix, want.Instance, want.Service, want.Daemon)
		}
	}
}

func TestSetClientAt(t *testing.T) {
	tests := []string{
		"", "[", "]", "[]", "a[b]", "a[b]:", "a[b]:1", "a[b]:123456789", "a b[c]:25", "host[1.2.3.4]:25: rest",
		"[192.0.2.1]:1234: EHLO", "unknown[2001:db8::1]", "x[y]:0x", "a[b:c]:12]:34",
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20000; i++ {
		tests = append(tests, string(randomBytes(r, r.IntN(30), "ab[]: 0123456789")))
	}
	for _, in := range tests {
		var got, want Event
		end := got.setClientAt([]byte(in))
		wantEnd := hostAddrEnd([]byte(in))
		if wantEnd > 0 {
			want.setClient([]byte(in)[:wantEnd])
		}
		if end != wantEnd || !bytes.Equal(got.ClientHost, want.ClientHost) || !bytes.Equal(got.ClientIP, want.ClientIP) ||
			got.ClientPort != want.ClientPort || (got.ClientHost == nil) != (want.ClientHost == nil) {
			t.Fatalf("setClientAt(%q) = %d %q %q %d; want %d %q %q %d", in, end, got.ClientHost, got.ClientIP, got.ClientPort,
				wantEnd, want.ClientHost, want.ClientIP, want.ClientPort)
		}
	}
}

// plainSplitQueueID is splitQueueID as first written.
func plainSplitQueueID(msg []byte) (qid, rest []byte, ok bool) {
	n := min(len(msg), 26)
	i := bytes.IndexByte(msg[:n], ':')
	if i < 5 || i+1 >= len(msg) || msg[i+1] != ' ' {
		return nil, nil, false
	}
	id := msg[:i]
	if string(id) == "NOQUEUE" || IsQueueID(id) || isLenientQueueID(id) {
		return id, msg[i+2:], true
	}
	return nil, nil, false
}

func TestSplitQueueID(t *testing.T) {
	tests := []string{
		"", "NOQUEUE: x", "NOQUEUE:x", "8FFDEC2174: removed", "8FFDEC2174:", "4jdG4m1zMFz5yXh: from=<a>",
		"FGHIJ67890: x", "statistics: x", "ABCDE: x", "ABCD: x", "0123456789ABCDEF0123: x", "0123456789ABCDEF01234: x",
		"0123456789ABCDEF0123456: x", "0123456789ABCDEF01234567: x", "0123456789ABCDEF012345678: x",
		"abcdefghijklmnopqrstuvwxyz: x", "connect from a[b]", "8FFDE-C2174: x", "8FFDEC2174 : x",
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 50000; i++ {
		b := randomBytes(r, r.IntN(32), "0123456789ABCDEFGHzbcNOQUE")
		if r.IntN(2) == 0 && len(b) > 2 {
			k := r.IntN(len(b) - 1)
			b[k], b[k+1] = ':', ' '
		}
		tests = append(tests, string(b))
	}
	for _, in := range tests {
		q, rest, ok := splitQueueID([]byte(in))
		wq, wrest, wok := plainSplitQueueID([]byte(in))
		if ok != wok || !bytes.Equal(q, wq) || !bytes.Equal(rest, wrest) {
			t.Fatalf("splitQueueID(%q) = %q %q %v; want %q %q %v", in, q, rest, ok, wq, wrest, wok)
		}
	}
}

func TestIndexTLSEstablished(t *testing.T) {
	const s = "TLS connection established "
	tests := []string{"", s, "Anonymous " + s + "from x", "Untrusted " + s + "to x", "0123456789abcde" + s,
		"0123456789abcdef" + s, "TLS connection established", "xTLS " + s}
	for _, in := range tests {
		b := []byte(in)
		want := bytes.Index(b[:min(len(b), 15+len(s))], []byte(s))
		if want >= 16 {
			want = -1
		}
		if got := indexTLSEstablished(b); got != want {
			t.Errorf("indexTLSEstablished(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestHasPrefix(t *testing.T) {
	for _, tc := range []struct{ b, p string }{{"", ""}, {"a", ""}, {"", "a"}, {"ab", "a"}, {"ba", "a"}, {"a", "ab"}, {"connect from x", "connect from "}} {
		if got, want := hasPrefix([]byte(tc.b), tc.p), bytes.HasPrefix([]byte(tc.b), []byte(tc.p)); got != want {
			t.Errorf("hasPrefix(%q, %q) = %v, want %v", tc.b, tc.p, got, want)
		}
	}
}

// plainParseFloat is parseFloat as first written: its results (to the
// last bit) are what the table-driven version must give.
func plainParseFloat(b []byte) (float64, int) {
	var v float64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + float64(b[i]-'0')
		i++
	}
	if i < len(b) && b[i] == '.' {
		i++
		scale := 0.1
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			v += float64(b[i]-'0') * scale
			scale /= 10
			i++
		}
	}
	return v, i
}

func TestParseFloat(t *testing.T) {
	tests := []string{"", "0", "0.07", "229139", "229138/0.01", "1.", ".5", "12345678901234", "123456789012345",
		"1234567890123456", "99999999999999999999.99999999999999999999999999999", "0.0000000000000000000000000001234",
		"9007199254740993", "1" + string(bytes.Repeat([]byte("7"), 400)) + "." + string(bytes.Repeat([]byte("3"), 400))}
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 50000; i++ {
		tests = append(tests, string(randomBytes(r, r.IntN(40), "0123456789.")))
	}
	for _, in := range tests {
		v, n := parseFloat([]byte(in))
		wv, wn := plainParseFloat([]byte(in))
		if v != wv || n != wn {
			t.Fatalf("parseFloat(%q) = %v (%b), %d; want %v (%b), %d", in, v, v, n, wv, wv, wn)
		}
	}
}

func TestAngleValue(t *testing.T) {
	tests := []string{"", "<", "<>", "<a>", "<a>,", "<a>b>, x", "<a>>", "<a> ", "<a>;", "<a>:", "<a>x", "x<a>", "<<a>>>,", "<a>b"}
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 20000; i++ {
		b := randomBytes(r, r.IntN(30), "a<>, ;:")
		if len(b) > 0 && r.IntN(4) != 0 {
			b[0] = '<'
		}
		tests = append(tests, string(b))
	}
	for _, in := range tests {
		v, rest, ok := angleValue([]byte(in))
		wv, wrest, wok := plainAngleValue([]byte(in))
		if ok != wok || !bytes.Equal(v, wv) || !bytes.Equal(rest, wrest) || (rest == nil) != (wrest == nil) {
			t.Fatalf("angleValue(%q) = %q %q %v; want %q %q %v", in, v, rest, ok, wv, wrest, wok)
		}
	}
}

// plainAngleValue is angleValue a byte at a time.
func plainAngleValue(b []byte) (val, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '<' {
		return nil, b, false
	}
	for i := 1; i < len(b); i++ {
		if b[i] != '>' {
			continue
		}
		if i+1 == len(b) || b[i+1] == ',' || b[i+1] == ' ' || b[i+1] == ';' || b[i+1] == ':' {
			return b[1:i], b[i+1:], true
		}
	}
	return b[1:], nil, false
}

// plainPIDDigits is pidDigits a byte at a time.
func plainPIDDigits(b []byte) (pid, n int) {
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		if pid < 1<<30 {
			pid = pid*10 + int(b[n]-'0')
		}
		n++
	}
	return pid, n
}

func TestPIDDigits(t *testing.T) {
	tests := []string{"", "1", "12345678", "1234567]", "4379]: x", "0000000]", "99999999999999]", "]: ", "/:09",
		"1234567\xb0", "123\xb1\xb9\xba]", "12345678901234567890"}
	r := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < 50000; i++ {
		tests = append(tests, string(randomBytes(r, r.IntN(20), "0123456789/:]\xb0\xb9")))
	}
	for _, in := range tests {
		pid, n := pidDigits([]byte(in))
		wpid, wn := plainPIDDigits([]byte(in))
		if pid != wpid || n != wn {
			t.Fatalf("pidDigits(%q) = %d, %d; want %d, %d", in, pid, n, wpid, wn)
		}
	}
}

// plainParseClock is parseClock's check of "hh:mm:ss" byte by byte.
func plainParseClock(b []byte) (h, mi, se int, ok bool) {
	twoDigits := func(a, b byte) (int, bool) {
		a, b = a-'0', b-'0'
		return int(a)*10 + int(b), a <= 9 && b <= 9
	}
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return 0, 0, 0, false
	}
	h, ok1 := twoDigits(b[0], b[1])
	mi, ok2 := twoDigits(b[3], b[4])
	se, ok3 := twoDigits(b[6], b[7])
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || se > 60 {
		return 0, 0, 0, false
	}
	return h, mi, se, true
}

func TestParseClock(t *testing.T) {
	tests := []string{"", "07:10:02", "07:10:02 x", "23:59:60", "24:00:00", "00:60:00", "00:00:61", "7:10:02 ", "07-10-02",
		"07:10:0", "0\xb7:10:02", "07:1\xba:02", "07;10:02", "07:10:02.123456 ", "99:99:99"}
	r := rand.New(rand.NewPCG(17, 18))
	for i := 0; i < 100000; i++ {
		b := randomBytes(r, 6+r.IntN(6), "0123456789:\xb0\xba;/")
		if len(b) >= 8 && r.IntN(2) == 0 {
			b[2], b[5] = ':', ':'
		}
		tests = append(tests, string(b))
	}
	for _, in := range tests {
		var s Stamp
		_, ok := parseClock([]byte(in), &s)
		h, mi, se, wok := plainParseClock([]byte(in))
		if ok != wok || ok && (s.Hour != h || s.Min != mi || s.Sec != se) {
			t.Fatalf("parseClock(%q) = %v %d:%d:%d; want %v %d:%d:%d", in, ok, s.Hour, s.Min, s.Sec, wok, h, mi, se)
		}
	}
}

// TestBatchGrowsMidBlock: a block with more lines than the batch's events
// (sized by an earlier block of long lines) grows them in the middle of
// the block, keeping the events parsed before.
func TestBatchGrowsMidBlock(t *testing.T) {
	var in bytes.Buffer
	long := "Nov 30 07:33:55 mail postfix/qmgr[16870]: 91A94C2173: removed " + string(bytes.Repeat([]byte("x"), 4000)) + "\n"
	for in.Len() < 3*blockSize {
		in.WriteString(long)
	}
	short := []string{"Nov 30 07:33:55 mail postfix/qmgr[16870]: 91A94C2173: removed\n", "\n", "x\n",
		"Nov 30 07:33:56 mail postfix/smtpd[1]: connect from a[192.0.2.1]\n"}
	for i := 0; in.Len() < 6*blockSize; i++ {
		in.WriteString(short[i%len(short)])
	}
	opts := Options{Ref: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Loc: time.UTC}
	a := readAll(t, "Reader", in.String(), opts)
	b := readAll(t, "BatchReader", in.String(), opts)
	sameEvents(t, a, b)
	for i := range a {
		if a[i].Kind != b[i].Kind || !bytes.Equal(a[i].QueueID, b[i].QueueID) || !bytes.Equal(a[i].ClientIP, b[i].ClientIP) {
			t.Fatalf("event %d: %s %q %q vs %s %q %q", i, a[i].Kind, a[i].QueueID, a[i].ClientIP, b[i].Kind, b[i].QueueID, b[i].ClientIP)
		}
	}
}

// TestLastIndexStr checks lastIndexStr against bytes.LastIndex.
func TestLastIndexStr(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	seps := []string{" proto=", " to=<", "; from=<", " from ", "a", "aa", ""}
	for i := 0; i < 50000; i++ {
		b := randomBytes(r, r.IntN(60), "a ;from=<to>p")
		s := seps[r.IntN(len(seps))]
		if got, want := lastIndexStr(b, s), bytes.LastIndex(b, []byte(s)); got != want {
			t.Fatalf("lastIndexStr(%q, %q) = %d, want %d", b, s, got, want)
		}
	}
}
