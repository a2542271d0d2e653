package queue

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
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
