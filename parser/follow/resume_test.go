package follow

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pos returns the position after the first n lines of content (a slice of
// lines), with its fingerprint.
func posAfter(all []string, n int) Position {
	return Position{Fingerprint: fingerprint([]byte(text(all))), Offset: int64(len(text(all[:n]))), Lines: int64(n)}
}

// TestResume covers what a restart reads: the rest of what the previous
// run was reading, wherever logrotate put it, then everything newer.
func TestResume(t *testing.T) {
	A := lines("A", 0, 5)
	B := lines("B", 0, 2)
	C := lines("C", 0, 3)
	old := time.Now().Add(-time.Hour)
	type file struct {
		name    string
		content []string
		gz      bool
		mtime   time.Time
	}
	tests := []struct {
		name     string
		files    []file
		known    []Position
		resume   []Position
		since    time.Time
		fromEnd  bool
		want     []string
		wantNums []int64
		notes    []NoteKind
	}{
		{
			name:     "same file",
			files:    []file{{name: "mail.log", content: A}},
			known:    []Position{posAfter(A, 3)},
			resume:   []Position{posAfter(A, 3)},
			want:     A[3:],
			wantNums: []int64{4, 5},
			notes:    []NoteKind{NoteResume},
		},
		{
			name:   "renamed while stopped",
			files:  []file{{name: "mail.log.1", content: A}, {name: "mail.log", content: B}},
			known:  []Position{posAfter(A, 3)},
			resume: []Position{posAfter(A, 3)},
			want:   append(append([]string{}, A[3:]...), B...),
			notes:  []NoteKind{NoteRest},
		},
		{
			name:   "renamed and compressed while stopped",
			files:  []file{{name: "mail.log.1", content: A, gz: true}, {name: "mail.log", content: B}},
			known:  []Position{posAfter(A, 3)},
			resume: []Position{posAfter(A, 3)},
			want:   append(append([]string{}, A[3:]...), B...),
		},
		{
			name: "rotated twice",
			files: []file{{name: "mail.log.3.gz", content: lines("Z", 0, 2), gz: true},
				{name: "mail.log.2", content: A, gz: true}, {name: "mail.log.1", content: C}, {name: "mail.log", content: B}},
			known:  []Position{posAfter(A, 4)},
			resume: []Position{posAfter(A, 4)},
			want:   append(append(append([]string{}, A[4:]...), C...), B...),
		},
		{
			name:   "a newer file already ingested",
			files:  []file{{name: "mail.log.2", content: A}, {name: "mail.log.1", content: C}, {name: "mail.log", content: B}},
			known:  []Position{posAfter(A, 1), posAfter(C, 3)},
			resume: []Position{posAfter(A, 1)},
			want:   append(append([]string{}, A[1:]...), B...),
		},
		{
			name:   "old file being drained and the live file",
			files:  []file{{name: "mail.log.1", content: A}, {name: "mail.log", content: B}},
			known:  []Position{posAfter(A, 2), posAfter(B, 1)},
			resume: []Position{posAfter(A, 2), posAfter(B, 1)},
			want:   append(append([]string{}, A[2:]...), B[1:]...),
		},
		{
			name:   "gone: files changed since the checkpoint",
			files:  []file{{name: "mail.log.2", content: lines("Y", 0, 2), mtime: old}, {name: "mail.log.1", content: C}, {name: "mail.log", content: B}},
			known:  []Position{posAfter(A, 3)},
			resume: []Position{posAfter(A, 3)},
			since:  time.Now().Add(-time.Minute),
			want:   append(append([]string{}, C...), B...),
			notes:  []NoteKind{NoteMissed},
		},
		{
			name:     "from the end",
			files:    []file{{name: "mail.log", content: A}},
			fromEnd:  true,
			want:     nil,
			wantNums: nil,
		},
		{
			name:   "shorter than known",
			files:  []file{{name: "mail.log", content: A[:2]}},
			known:  []Position{posAfter(A, 4)},
			resume: []Position{posAfter(A, 4)},
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(dir, f.name)
				writeFile(t, p, text(f.content))
				if f.gz {
					gzipFile(t, p)
					p += ".gz"
				}
				if !f.mtime.IsZero() {
					os.Chtimes(p, f.mtime, f.mtime)
				}
			}
			known := map[string]Position{}
			for _, k := range tt.known {
				known[k.Fingerprint] = k
			}
			opts := Options{
				Known:   func(fp string) (Position, bool) { k, ok := known[fp]; return k, ok },
				Resume:  tt.resume,
				Since:   tt.since,
				FromEnd: tt.fromEnd,
			}
			r := newReader(t, openFollower(t, filepath.Join(dir, "mail.log"), opts), 1<<16)
			r.until("caught up", wait, func() bool { return r.hasNote(NoteCaughtUp) })
			diffLines(t, r.lines, tt.want)
			if tt.wantNums != nil {
				for i, n := range tt.wantNums {
					if r.nums[i] != n {
						t.Errorf("line %d has number %d, want %d", i, r.nums[i], n)
					}
				}
			}
			for _, k := range tt.notes {
				if !r.hasNote(k) {
					t.Errorf("no %s note in %v", k, r.noteKinds())
				}
			}
			// After the catch-up, the live file is followed.
			appendFile(t, filepath.Join(dir, "mail.log"), "more\n")
			r.lineCount(len(tt.want)+1, wait)
		})
	}
}

func TestFromEndCountsLines(t *testing.T) {
	log := tempLog(t)
	writeFile(t, log, text(lines("a", 0, 3))+"partial")
	r := newReader(t, openFollower(t, log, Options{FromEnd: true}), 1<<16)
	r.until("caught up", wait, func() bool { return r.hasNote(NoteCaughtUp) })
	appendFile(t, log, " end\n")
	r.lineCount(1, wait)
	if r.lines[0] != "partial end" || r.nums[0] != 4 {
		t.Errorf("got %q as line %d", r.lines[0], r.nums[0])
	}
}
