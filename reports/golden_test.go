package reports

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// renderers are the four formats, by golden file extension.
func renderers() []struct {
	ext    string
	render func(*bytes.Buffer, *Report) error
} {
	return []struct {
		ext    string
		render func(*bytes.Buffer, *Report) error
	}{
		{"txt", func(b *bytes.Buffer, r *Report) error { return WriteText(b, r, TextOptions{}) }},
		{"json", func(b *bytes.Buffer, r *Report) error { return WriteJSON(b, r) }},
		{"md", func(b *bytes.Buffer, r *Report) error { return WriteMarkdown(b, r) }},
		{"html", func(b *bytes.Buffer, r *Report) error { return WriteHTML(b, r) }},
	}
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./reports -run %s -update rewrites it; check the diff):\n%s",
			path, t.Name(), firstDiff(got, want))
	}
}

func readGolden(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", "golden", name))
}

// firstDiff shows the first differing line.
func firstDiff(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return "line " + strconv.Itoa(i+1) + ":\n  got:  " + string(gl) + "\n  want: " + string(wl)
		}
	}
	return ""
}

// TestGolden renders every format for the real Postfix run and for the
// generated sample (20,000 lines, seed 3; skipped where genlog.py cannot
// run) and compares them with the golden files.
func TestGolden(t *testing.T) {
	eng := engine(t)
	cases := []struct {
		name string
		path func(t *testing.T) string
		year int
	}{
		{"real-postfix", func(*testing.T) string { return "../testdata/corpus/real-postfix/mail.log" }, 2025},
		{"genlog", func(t *testing.T) string { l, _ := genlog(t); return l }, 2024},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			idx := ingest(t, eng, c.year, c.path(t))
			r := fromIndex(t, idx, Options{Rules: eng, Now: testNow, Loc: time.UTC})
			for _, f := range renderers() {
				var b bytes.Buffer
				if err := f.render(&b, r); err != nil {
					t.Fatal(err)
				}
				golden(t, c.name+"."+f.ext, b.Bytes())
			}
		})
	}
}
