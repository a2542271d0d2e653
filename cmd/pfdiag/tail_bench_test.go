package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkTailAppend measures how many appended lines per second pfdiag
// tail (inotify, parse, correlate, diagnose, on-disk index with
// checkpoints) takes in: each iteration appends a block of genlog lines,
// written one line per write(2) as syslog daemons do (perLine) or in one
// write, and waits until tail has read them all.
func BenchmarkTailAppend(b *testing.B) {
	lines, _, err := genlogLines(200000, 1)
	if err != nil {
		b.Skip(err)
	}
	const block = 20000
	for _, perLine := range []bool{false, true} {
		name := "bulk"
		if perLine {
			name = "per-line-writes"
		}
		for _, index := range []string{"disk", ":memory:"} {
			b.Run(name+"/"+index, func(b *testing.B) {
				dir := b.TempDir()
				log := filepath.Join(dir, "mail.log")
				os.WriteFile(log, nil, 0o644)
				idx := index
				if idx == "disk" {
					idx = filepath.Join(dir, "index")
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				_, stderr, code := runTail(ctx, "--index", idx, "--listen", "127.0.0.1:0", log)
				var url string
				for url == "" {
					if m := tailMetricsURL.FindStringSubmatch(stderr.String()); m != nil {
						url = m[1]
					}
					time.Sleep(time.Millisecond)
				}
				w, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
				defer w.Close()
				var bytes int64
				for _, l := range lines[:block] {
					bytes += int64(len(l))
				}
				b.SetBytes(bytes)
				b.ReportAllocs()
				b.ResetTimer()
				total := 0
				for i := 0; i < b.N; i++ {
					start := (i * block) % len(lines)
					chunk := lines[start : start+block]
					if perLine {
						for _, l := range chunk {
							w.WriteString(l)
						}
					} else {
						w.WriteString(strings.Join(chunk, ""))
					}
					total += block
					for healthCount(url) < total {
						time.Sleep(200 * time.Microsecond)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "lines/s")
				cancel()
				<-code
			})
		}
	}
}

// healthCount reads the lines count of /healthz (0 on error).
func healthCount(url string) int {
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var h struct{ Lines int }
	json.NewDecoder(resp.Body).Decode(&h)
	return h.Lines
}
