package queue

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corpusDir finds a real-postfix run: the project's copy under testdata/
// first, the shared corpus otherwise.
func corpusDir(t testing.TB, name string) string {
	t.Helper()
	for _, d := range []string{
		filepath.Join("..", "..", "testdata", "corpus", name),
		filepath.Join("/work/shared/corpus", name),
	} {
		if _, err := os.Stat(filepath.Join(d, "postqueue.json")); err == nil {
			return d
		}
	}
	t.Skipf("corpus %s not present (neither testdata/corpus nor /work/shared/corpus)", name)
	return ""
}

func TestClassifyID(t *testing.T) {
	tests := []struct {
		id   string
		want IDKind
	}{
		{"9DAF6C2176", IDShort},                          // real-postfix
		{"0ED90C2221", IDShort},                          // real-postfix, hold
		{"4jdG4m2MZbz5yXn", IDLong},                      // real-postfix-longids
		{"4jdG4n4FM1z5yYH", IDLong},                      // real-postfix-longids, hold
		{"44JCRG5tYPzCqt2", IDLong},                      // fail2ban corpus
		{"4jdG4m2MZbzz5yXn", IDLong},                     // 'z' is a base-52 digit in the time part
		{"ABCDE1", IDShort},                              // minimal short: 5 usec digits + 1 inode digit
		{"ABCDE", IDInvalid},                             // no inode part
		{"9daf6c2176", IDInvalid},                        // lower-case hex is neither form
		{"9DAF6C2176G", IDInvalid},                       // G is not hex, and no z separator
		{"4jdG4m2MZbz", IDInvalid},                       // empty inode part
		{"4jdG4m2Mzb5yXn", IDInvalid},                    // separator too early (time part < 10)
		{"4jdG4m2MZaz5yXn", IDInvalid},                   // vowel
		{"4jdG4m2MZbz5yXE", IDInvalid},                   // vowel in inode part
		{"", IDInvalid},                                  //
		{"NOQUEUE", IDInvalid},                           // vowels, no separator
		{"9DAF6C2176\n", IDInvalid},                      // newline
		{"9DAF6C2176 -d ALL", IDInvalid},                 // extra words
		{"-", IDInvalid},                                 // postsuper's "read stdin"
		{"ALL", IDInvalid},                               // postsuper's "every message"
		{"$(reboot)", IDInvalid},                         //
		{"9DAF6C2176;rm", IDInvalid},                     //
		{"\x1b[31m9DAF6C2176", IDInvalid},                //
		{"９DAF6C2176", IDInvalid},                        // full-width digit
		{strings.Repeat("A", 22), IDInvalid},             // longer than a 64-bit inode allows
		{strings.Repeat("B", 31) + "z" + "5", IDInvalid}, // longer than 32
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := ClassifyID(tt.id); got != tt.want {
				t.Errorf("ClassifyID(%q) = %v, want %v", tt.id, got, tt.want)
			}
			if got := ValidID(tt.id); got != (tt.want != IDInvalid) {
				t.Errorf("ValidID(%q) = %v", tt.id, got)
			}
		})
	}
}

func TestSafeAlphabet(t *testing.T) {
	// safe_ultostr.c's alphabet, in value order: 52 characters.
	const alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
	n := 0
	for c := 0; c < 256; c++ {
		if safe52(byte(c)) {
			n++
			if !strings.ContainsRune(alphabet, rune(c)) {
				t.Errorf("safe52(%q) = true, not in the alphabet", rune(c))
			}
		}
	}
	if n != 52 {
		t.Errorf("safe52 accepts %d characters, want 52", n)
	}
}

func readAll(t testing.TB, r *Reader) []*Message {
	t.Helper()
	var ms []*Message
	for r.Scan() {
		ms = append(ms, r.Message())
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	return ms
}

func TestReaderMalformed(t *testing.T) {
	in := strings.Join([]string{
		`{"queue_name": "deferred", "queue_id": "9DAF6C2176", "arrival_time": 1796024035, "message_size": 370, "forced_expire": false, "sender": "a@b.test", "recipients": [{"address": "x@y.test", "delay_reason": "r1"}, {"address": "z@y.test"}]}`,
		`not json at all`,
		``,
		`{"queue_name": "deferred", "queue_id": "AAAAA1", "recipients": [{"address": "q@y.test"}]`, // truncated
		`{"queue_name": "hold", "queue_id": 12345}`,                                                // wrong type
		`{"queue_name": "hold"}`, // no ID
		`{"queue_id": "BBBBB2"}`, // no queue
		`[1,2,3]`,
		"{\"queue_name\": \"active\", \"queue_id\": \"CCCCC3\", \"arrival_time\": 1, \"message_size\": 2, \"forced_expire\": true, \"sender\": \"\", \"recipients\": [{\"address\": \"w@v.test\"}]}\r",
		`{"queue_name": "incoming", "queue_id": "DDDDD4", "recipients": []}`, // last line, no newline
	}, "\n")
	r := NewReader(strings.NewReader(in))
	ms := readAll(t, r)
	if got, want := len(ms), 3; got != want {
		t.Fatalf("messages = %d, want %d", got, want)
	}
	if got, want := r.Malformed(), 6; got != want {
		t.Errorf("Malformed() = %d, want %d", got, want)
	}
	var lines []int
	for _, s := range r.Samples() {
		lines = append(lines, s.Line)
	}
	if got, want := lines, []int{2, 4, 5, 6, 7, 8}; !slices.Equal(got, want) {
		t.Errorf("malformed lines = %v, want %v", got, want)
	}
	for _, want := range []struct {
		i   int
		err error
	}{{3, ErrNoQueueID}, {4, ErrNoQueueName}, {5, ErrNotObject}} {
		if !errors.Is(r.Samples()[want.i], want.err) {
			t.Errorf("sample %d = %v, want %v", want.i, r.Samples()[want.i], want.err)
		}
	}
	if got, want := r.Lines(), 10; got != want {
		t.Errorf("Lines() = %d, want %d", got, want)
	}
	if ms[0].Line != 1 || ms[1].Line != 9 || ms[2].Line != 10 {
		t.Errorf("message lines = %d %d %d, want 1 9 10", ms[0].Line, ms[1].Line, ms[2].Line)
	}
	// A recipient without delay_reason must not inherit the previous one's.
	if got := ms[0].Recipients[1].DelayReason; got != "" {
		t.Errorf("second recipient's reason = %q, want empty", got)
	}
	if !ms[1].ForcedExpire || ms[1].Sender != "" || ms[1].Size != 2 {
		t.Errorf("message 2 = %+v", ms[1])
	}
}

func TestReaderLongLines(t *testing.T) {
	// A 1 MB line (one message with many recipients) is read whole.
	var b strings.Builder
	b.WriteString(`{"queue_name": "deferred", "queue_id": "9DAF6C2176", "arrival_time": 1, "message_size": 1, "sender": "s@x.test", "recipients": [`)
	n := 0
	for b.Len() < 1<<20 {
		if n > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`{"address": "user`)
		b.WriteString(strings.Repeat("x", 40))
		b.WriteString(`@example.test", "delay_reason": "host mx.example.test[192.0.2.1] said: 450 4.2.0 Greylisted (in reply to RCPT TO command)"}`)
		n++
	}
	b.WriteString("]}\n")
	big := b.String()
	second := `{"queue_name": "hold", "queue_id": "0ED90C2221", "recipients": [{"address": "a@b.test"}]}` + "\n"

	t.Run("1MB line", func(t *testing.T) {
		r := NewReader(strings.NewReader(big + second))
		ms := readAll(t, r)
		if len(ms) != 2 || len(ms[0].Recipients) != n || r.Malformed() != 0 {
			t.Fatalf("got %d messages, %d recipients, %d malformed; want 2, %d, 0",
				len(ms), len(ms[0].Recipients), r.Malformed(), n)
		}
	})
	t.Run("over MaxLine", func(t *testing.T) {
		r := NewReader(strings.NewReader(big + second + big))
		r.MaxLine = 1 << 19
		ms := readAll(t, r)
		if len(ms) != 1 || ms[0].ID != "0ED90C2221" || ms[0].Line != 2 {
			t.Fatalf("got %d messages (%v), want only line 2", len(ms), ms)
		}
		if r.Malformed() != 2 || r.Samples()[0].Line != 1 || r.Samples()[1].Line != 3 ||
			!errors.Is(r.Samples()[0], ErrLineTooLong) {
			t.Errorf("malformed = %d %v, want lines 1 and 3 too long", r.Malformed(), r.Samples())
		}
	})
	t.Run("exactly MaxLine", func(t *testing.T) {
		r := NewReader(strings.NewReader(second))
		r.MaxLine = len(second) - 1 // the line without its newline
		if ms := readAll(t, r); len(ms) != 1 {
			t.Errorf("a line of exactly MaxLine bytes was rejected: %v", r.Samples())
		}
	})
}

func TestReaderSamplesBounded(t *testing.T) {
	in := strings.Repeat("garbage\n", 1000)
	r := NewReader(strings.NewReader(in))
	readAll(t, r)
	if r.Malformed() != 1000 || len(r.Samples()) != DefaultMaxSamples {
		t.Errorf("Malformed() = %d, samples = %d; want 1000, %d", r.Malformed(), len(r.Samples()), DefaultMaxSamples)
	}
	if last := r.Samples()[DefaultMaxSamples-1].Line; last != DefaultMaxSamples {
		t.Errorf("last sample line = %d", last)
	}
}

type failReader struct{ n int }

func (f *failReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		f.n++
		return copy(p, `{"queue_name": "hold", "queue_id": "0ED90C2221"}`+"\n"), nil
	}
	return 0, errors.New("disk on fire")
}

func TestReaderReadError(t *testing.T) {
	r := NewReader(&failReader{})
	n := 0
	for r.Scan() {
		n++
	}
	if n != 1 || r.Err() == nil || !strings.Contains(r.Err().Error(), "disk on fire") {
		t.Errorf("messages = %d, Err() = %v; want 1 and the read error", n, r.Err())
	}
}

// TestReaderCorpus counts the real postqueue -j output per queue and compares
// with postqueue -p (the "mailq" listing) of the same run.
func TestReaderCorpus(t *testing.T) {
	for _, name := range []string{"real-postfix", "real-postfix-longids"} {
		t.Run(name, func(t *testing.T) {
			dir := corpusDir(t, name)
			f, err := os.Open(filepath.Join(dir, "postqueue.json"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r := NewReader(f)
			got := map[string]int{}
			var bytes int64
			ids := map[string]bool{}
			for r.Scan() {
				m := r.Message()
				got[m.Queue]++
				bytes += m.Size
				ids[m.ID] = true
				if !ValidID(m.ID) {
					t.Errorf("real queue ID %q rejected", m.ID)
				}
			}
			if r.Err() != nil || r.Malformed() != 0 {
				t.Fatalf("Err() = %v, Malformed() = %d", r.Err(), r.Malformed())
			}
			want := parseMailq(t, filepath.Join(dir, "postqueue.txt"))
			if got["active"] != want.active || got["hold"] != want.hold ||
				got["deferred"]+got["incoming"]+got["maildrop"] != want.other {
				t.Errorf("per queue = %v, postqueue -p says active %d, hold %d, other %d",
					got, want.active, want.hold, want.other)
			}
			if len(ids) != want.requests || uint64(bytes)/1024 != want.kbytes {
				t.Errorf("%d messages, %d Kbytes; postqueue -p says %d Requests, %d Kbytes",
					len(ids), bytes/1024, want.requests, want.kbytes)
			}
			for id := range want.ids {
				if !ids[id] {
					t.Errorf("postqueue -p lists %s, postqueue -j does not", id)
				}
			}
		})
	}
}

type mailq struct {
	active, hold, other int
	requests            int
	kbytes              uint64
	ids                 map[string]bool
}

// parseMailq reads the `postqueue -p` listing (showq_compat.c): a heading
// "-Queue ID-" (or "----Queue ID-----" with long IDs), one line per message
// starting with the queue ID followed by '*' (active), '!' (hold) and/or '#'
// (forced to expire), indented reason and recipient lines, and the summary
// "-- N Kbytes in M Requests." (Kbytes = total size / 1024, rounded down).
func parseMailq(t testing.TB, path string) mailq {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	q := mailq{ids: map[string]bool{}}
	sc := bufio.NewScanner(f)
	summary := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" || line[0] == ' ' || line[0] == '(' || strings.Contains(line, "Queue ID-"):
			continue
		case strings.HasPrefix(line, "-- "):
			var unit, word string
			if _, err := fmt.Sscanf(line, "-- %d %s in %d %s", &q.kbytes, &unit, &q.requests, &word); err != nil {
				t.Fatalf("summary line %q: %v", line, err)
			}
			summary = true
			continue
		case line == "Mail queue is empty":
			summary = true
			continue
		}
		id := strings.Fields(line)[0]
		marks := strings.TrimLeft(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
		id = strings.TrimSuffix(id, marks)
		q.ids[id] = true
		switch {
		case strings.Contains(marks, "*"):
			q.active++
		case strings.Contains(marks, "!"):
			q.hold++
		default:
			q.other++
		}
	}
	if !summary {
		t.Fatalf("%s: no summary line", path)
	}
	if len(q.ids) != q.requests {
		t.Fatalf("%s: %d messages listed, summary says %d", path, len(q.ids), q.requests)
	}
	return q
}

func TestDecodeTypes(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
	}{
		{`{"queue_name": "hold", "queue_id": "0ED90C2221", "arrival_time": 1796024037, "message_size": 376, "forced_expire": false, "sender": "a@b", "recipients": []}`, true},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221", "arrival_time": null, "message_size": null, "forced_expire": null, "sender": null, "recipients": null}`, true},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221", "recipients": [null, {"address": "a@b", "future_field": {"x": [1]}}], "new": 1}`, true},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221", "arrival_time": 1.5}`, false},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221", "arrival_time": "1796024037"}`, false},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221", "arrival_time": 99999999999999999999}`, false},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221", "forced_expire": "yes"}`, false},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221", "recipients": {"address": "a@b"}}`, false},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221", "recipients": ["a@b"]}`, false},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221", "recipients": [{"address": 7}]}`, false},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221", "sender": "bad \q escape"}`, false},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221"} trailing`, false},
		{`{"queue_name": "hold", "queue_id": "0ED90C2221",}`, false},
		{`{"queue_name": ["hold"], "queue_id": "0ED90C2221"}`, false},
		// A raw control character in a string, before and after an escape:
		// fastjson's validator misses the first (rawControl catches it).
		{"{\"queue_name\": \"hold\", \"queue_id\": \"0ED90C2221\", \"x\": [{\"y\": \"\x00\\\\b\"}]}", false},
		{"{\"queue_name\": \"hold\", \"queue_id\": \"0ED90C2221\", \"sender\": \"a\x01\\\\nb\"}", false},
		{"{\"queue_name\": \"hold\", \"queue_id\": \"0ED90C2221\", \"sender\": \"a\\\\nb\x1f\"}", false},
		{"{\"queue_name\":\t\"hold\",\r\"queue_id\": \"0ED90C2221\", \"sender\": \"a\\\\\\\"b\"}", true},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			var r Reader
			m, err := r.decode([]byte(tt.line))
			if (err == nil) != tt.ok {
				t.Fatalf("decode: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), ":") && !errors.Is(err, ErrJSON) {
				t.Errorf("error %q does not say what is wrong", err)
			}
			if m != nil && m.ID != "0ED90C2221" {
				t.Errorf("ID = %q", m.ID)
			}
		})
	}
}
