package follow

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// BenchmarkFollowAppend measures the follower alone: lines appended to a
// file (one write per block of 1000 lines) and delivered in chunks.
func BenchmarkFollowAppend(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&sb, "2026-11-30T12:00:%02d+00:00 mail postfix/smtp[4242]: 4A1B2C3D%02X: to=<user%d@example.org>, relay=mx.example.org[192.0.2.9]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4Y0flr2HlXzPjW8)\n", i%60, i%256, i)
	}
	block := sb.String()
	log := b.TempDir() + "/mail.log"
	os.WriteFile(log, nil, 0o644)
	f, err := Open(log, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	defer w.Close()
	buf := make([]byte, 256<<10)
	ctx := context.Background()
	b.SetBytes(int64(len(block)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.WriteString(block)
		want := int64(len(block))
		for want > 0 {
			c, err := f.Next(ctx, buf)
			if err != nil {
				b.Fatal(err)
			}
			want -= int64(len(c.Data))
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "lines/s")
}

// FuzzStream: however the input is cut into reads and whatever it holds,
// the chunks are the input's lines, each once, with exact offsets.
func FuzzStream(f *testing.F) {
	f.Add([]byte("a\nb\nc"), uint8(3))
	f.Add([]byte(strings.Repeat("x", 5000)+"\nshort\n"), uint8(1))
	f.Add([]byte("\n\n\x00\xff\n"), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		r := &stepReader{b: data, step: int(step%64) + 1}
		s := NewStream(r, "-")
		defer s.Close()
		buf := make([]byte, MinBuffer)
		var got strings.Builder
		var end int64
		for {
			c, err := s.Next(context.Background(), buf)
			if err != nil {
				break
			}
			if c.Pos.Offset != end {
				t.Fatalf("chunk at %d, previous ended at %d", c.Pos.Offset, end)
			}
			end = c.End()
			got.Write(c.Data)
			if c.Skip > 0 {
				got.WriteString(string(data[c.Pos.Offset+int64(len(c.Data)) : end]))
			}
		}
		if end != int64(len(data)) || got.String() != string(data) {
			t.Fatalf("delivered %d bytes ending at %d, input %d", got.Len(), end, len(data))
		}
	})
}

type stepReader struct {
	b    []byte
	step int
}

func (r *stepReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.step)], r.b)
	r.b = r.b[n:]
	return n, nil
}
