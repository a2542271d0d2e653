package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReader feeds arbitrary bytes to the postqueue -j reader: it must never
// panic, never lose count of a line, and never hand out a message without a
// queue ID and queue name.
func FuzzReader(f *testing.F) {
	for _, name := range []string{"real-postfix", "real-postfix-longids"} {
		for _, d := range []string{filepath.Join("..", "..", "testdata", "corpus", name), filepath.Join("/work/shared/corpus", name)} {
			if b, err := os.ReadFile(filepath.Join(d, "postqueue.json")); err == nil {
				f.Add(b)
				break
			}
		}
	}
	f.Add([]byte(`{"queue_name": "hold", "queue_id": "0ED90C2221", "recipients": [{"address": "a\n$(id)@b", "delay_reason": "\u001b[2J"}]}` + "\n{\n[]\n\"x\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		r.MaxLine = 4096
		n := 0
		for r.Scan() {
			m := r.Message()
			if m.ID == "" || m.Queue == "" {
				t.Fatalf("message without ID or queue: %+v", m)
			}
			if m.Line < 1 || m.Line > r.Lines() {
				t.Fatalf("message line %d outside 1..%d", m.Line, r.Lines())
			}
			if ValidID(m.ID) {
				for i := 0; i < len(m.ID); i++ {
					c := m.ID[i]
					if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
						t.Fatalf("ValidID accepted %q", m.ID)
					}
				}
			}
			n++
		}
		if r.Err() != nil {
			t.Fatalf("Err() = %v on an in-memory reader", r.Err())
		}
		if n+r.Malformed() > r.Lines() {
			t.Fatalf("%d messages + %d malformed > %d lines", n, r.Malformed(), r.Lines())
		}
		if want := bytes.Count(data, []byte("\n")); r.Lines() != want && r.Lines() != want+1 {
			t.Fatalf("Lines() = %d for %d newlines", r.Lines(), want)
		}
	})
}

// FuzzDecodeLikeEncodingJSON checks the fastjson-based decoder against
// encoding/json on single lines: whenever encoding/json accepts a line with
// the exact field names and valid UTF-8, the decoder must accept it and
// produce the same message; whenever the decoder accepts a line,
// encoding/json must too.
func FuzzDecodeLikeEncodingJSON(f *testing.F) {
	f.Add([]byte(`{"queue_name": "deferred", "queue_id": "9DAF6C2176", "arrival_time": 1796024035, "message_size": 370, "forced_expire": false, "sender": "a@b", "recipients": [{"address": "q@r", "delay_reason": "x \u001b \"y\""}]}`))
	f.Add([]byte(`{"queue_name": "hold", "queue_id": "A", "arrival_time": -1, "message_size": null, "recipients": [null, {"address": null}], "extra": [1, {"a": 2}]}`))
	f.Add([]byte(`{"queue_name": "hold", "queue_id": "A", "arrival_time": 1.5}`))
	f.Add([]byte(`{"queue_name": "hold", "queue_id": "A", "queue_id": "B", "sender": "\ud800"}`))
	f.Add([]byte(`{"queue_name": "hold", "queue_id": "A", "queue_id": null, "sender": "s", "sender": null, "recipients": [{"address": "a", "address": null}]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || bytes.IndexByte(line, '\n') >= 0 {
			return
		}
		if !utf8.Valid(line) || !exactKeys(line) || surrogateEscape(line) {
			// encoding/json matches keys case-insensitively and replaces bad
			// UTF-8 and lone surrogate escapes with U+FFFD; fastjson keeps
			// the bytes (escaped later for display). Postfix writes neither.
			return
		}
		var r Reader
		got, perr := r.decode(line)
		var want Message
		jerr := json.Unmarshal(line, &want)
		if jerr == nil && (want.ID == "" || want.Queue == "") {
			jerr = errors.New("missing field")
		}
		if perr == nil && jerr != nil {
			t.Fatalf("decoder accepts what encoding/json rejects (%v): %q", jerr, line)
		}
		if jerr != nil {
			return
		}
		if perr != nil {
			t.Fatalf("decoder rejects (%v) what encoding/json accepts: %q", perr, line)
		}
		if got.Queue != want.Queue || got.ID != want.ID || got.Arrival != want.Arrival || got.Size != want.Size ||
			got.ForcedExpire != want.ForcedExpire || got.Sender != want.Sender || len(got.Recipients) != len(want.Recipients) {
			t.Fatalf("decoded %+v, encoding/json %+v: %q", got, want, line)
		}
		for i := range got.Recipients {
			if got.Recipients[i] != want.Recipients[i] {
				t.Fatalf("recipient %d: %+v vs %+v: %q", i, got.Recipients[i], want.Recipients[i], line)
			}
		}
	})
}

// surrogateEscape reports whether the line has a \uD800-\uDFFF escape.
func surrogateEscape(line []byte) bool {
	for i := 0; i+3 < len(line); i++ {
		if line[i] == '\\' && line[i+1] == 'u' && (line[i+2] == 'd' || line[i+2] == 'D') {
			switch line[i+3] {
			case '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 'A', 'B', 'C', 'D', 'E', 'F':
				return true
			}
		}
	}
	return false
}

// exactKeys reports whether every object key in the line is either one of
// the postqueue field names or unlike any of them ignoring case, so that
// encoding/json's case-insensitive matching cannot differ.
func exactKeys(line []byte) bool {
	names := []string{"queue_name", "queue_id", "arrival_time", "message_size", "forced_expire", "sender", "recipients", "address", "delay_reason"}
	dec := json.NewDecoder(bytes.NewReader(line))
	lists := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		s, ok := tok.(string)
		if !ok {
			continue
		}
		if s == "recipients" {
			// A repeated recipient list: encoding/json decodes the second
			// into the first one's elements, keeping fields the second
			// lacks; the decoder starts afresh. Postfix writes one list.
			if lists++; lists > 1 {
				return false
			}
		}
		for _, n := range names {
			if strings.EqualFold(s, n) && s != n {
				return false
			}
		}
		// Escaped keys ("queue\u005fid") are the same key for both decoders;
		// strings that are values are harmless here.
	}
}
