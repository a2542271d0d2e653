package parser

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

type corpusFile struct {
	name string // relative to the corpus root
	data []byte // decompressed, wrappers stripped
}

var (
	iniPrefix = regexp.MustCompile(`(?m)^log \d+ pass = `)
	yamlData  = regexp.MustCompile(`(?m)^data: (.*)$`)
	yamlName  = regexp.MustCompile(`^([a-z_]+)_\d+\.yaml$`)
)

// corpusFiles loads every log under root: .gz members decompressed, the
// "log N pass = " wrapper of wazuh/ossec .ini files stripped, and the
// whyscream YAML payloads given a syslog header for their daemon.
func corpusFiles(t testing.TB, root string) []corpusFile {
	t.Helper()
	var out []corpusFile
	yamlDirs := map[string]*bytes.Buffer{} // whyscream: one file per directory of YAML payloads
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		base := filepath.Base(p)
		switch {
		case strings.HasSuffix(base, ".md"), strings.HasSuffix(base, ".tsv"), strings.HasSuffix(base, ".json"), base == "postqueue.txt":
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(base, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return err
			}
			if data, err = io.ReadAll(zr); err != nil {
				return err
			}
		}
		if strings.HasSuffix(base, ".yaml") {
			m := yamlName.FindStringSubmatch(base)
			if m == nil {
				return nil
			}
			daemon := map[string]string{"script": "postfix-script", "trivial_rewrite": "trivial-rewrite", "relay": "smtp"}[m[1]]
			if daemon == "" {
				daemon = m[1]
			}
			switch m[1] {
			case "command_counter_data", "delays", "tls_features": // sub-patterns, not whole messages
				return nil
			}
			dir := filepath.Join(filepath.Dir(rel), "*.yaml")
			b := yamlDirs[dir]
			if b == nil {
				b = new(bytes.Buffer)
				yamlDirs[dir] = b
			}
			for _, d := range yamlData.FindAllSubmatch(data, -1) {
				v := unquoteYAML(string(d[1]))
				if strings.Contains(v, "\n") {
					continue // a multi-line SMTP transcript, not a log line
				}
				b.WriteString("Jan  1 00:00:00 host postfix/" + daemon + "[1]: " + v + "\n")
			}
			return nil
		}
		if strings.HasSuffix(base, ".ini") {
			data = iniPrefix.ReplaceAll(data, nil)
		}
		out = append(out, corpusFile{rel, data})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir, b := range yamlDirs {
		out = append(out, corpusFile{dir, b.Bytes()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func unquoteYAML(s string) string {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`):
		r := strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\n`, "\n", `\t`, "\t")
		return r.Replace(s[1 : len(s)-1])
	case strings.HasPrefix(s, `'`) && strings.HasSuffix(s, `'`):
		return strings.ReplaceAll(s[1:len(s)-1], `''`, `'`)
	}
	return s
}

// mustUnderstand reports whether a Postfix line is of a type that must
// never come out as KindUnknown: delivery status, qmgr, cleanup, smtpd
// client=, reject and bounce lines. The test derives this from the raw
// text, independently of the parser.
func mustUnderstand(ev *Event) string {
	raw := ev.Raw
	d := string(ev.Daemon)
	switch {
	case bytes.Contains(raw, []byte(" status=")) && bytes.Contains(raw, []byte("relay=")):
		return "delivery status"
	case d == "qmgr":
		return "qmgr"
	case d == "cleanup":
		return "cleanup"
	case d == "smtpd" && bytes.Contains(raw, []byte(": client=")):
		return "smtpd client="
	case bytes.Contains(raw, []byte("reject: ")):
		return "reject"
	case d == "bounce":
		return "bounce"
	}
	return ""
}

// deliberateGarbage are payloads the sergeymakinen exporter's test log
// writes on purpose to test "unsupported line" handling: there is nothing
// to understand in them.
func deliberateGarbage(ev *Event) bool {
	m := string(ev.Msg)
	return m == "Unsupported" || m == "foo"
}

// checkCorpus parses every file and fails on a must-understand line that
// came out unknown. It returns unknown counts per source for the log.
func checkCorpus(t *testing.T, root string) {
	files := corpusFiles(t, root)
	if len(files) == 0 {
		t.Fatalf("no files under %s", root)
	}
	perSource := map[string][2]int{} // postfix lines, unknown
	for _, f := range files {
		src := strings.SplitN(f.name, string(filepath.Separator), 2)[0]
		r := NewReader(bytes.NewReader(f.data), Options{Ref: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)})
		c := perSource[src]
		for r.Scan() {
			ev := r.Event()
			if !ev.Kind.IsPostfix() {
				continue
			}
			c[0]++
			if ev.Kind != KindUnknown {
				continue
			}
			c[1]++
			if what := mustUnderstand(ev); what != "" && !deliberateGarbage(ev) {
				t.Errorf("%s:%d: %s line not understood: %s", f.name, ev.Line, what, ev.Raw)
			}
		}
		perSource[src] = c
	}
	var srcs []string
	for s := range perSource {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	for _, s := range srcs {
		t.Logf("%-40s postfix lines %6d  unknown %d", s, perSource[s][0], perSource[s][1])
	}
}

func TestCorpusCommitted(t *testing.T) { checkCorpus(t, "../testdata/corpus") }

// TestCorpusShared covers the copyleft sources, which are not in this
// repository: they are read from ../shared/corpus when it is present.
func TestCorpusShared(t *testing.T) {
	root := "../../shared/corpus"
	if _, err := os.Stat(root); err != nil {
		t.Skipf("%s not present (it sits beside the repository in CI): %v", root, err)
	}
	checkCorpus(t, root)
}

// TestGolden pins the JSON of every committed corpus file. Run
// `go test ./parser -update` to rewrite after an intended change.
func TestGolden(t *testing.T) {
	for _, f := range corpusFiles(t, "../testdata/corpus") {
		t.Run(f.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(f.data), Options{Ref: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), Loc: time.UTC})
			var got []byte
			for r.Scan() {
				got = r.Event().AppendJSON(got, false)
				got = append(got, '\n')
			}
			golden := filepath.Join("testdata", "golden", strings.ReplaceAll(f.name, "*", "all")+".jsonl")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./parser -update)", err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := bytes.Split(got, []byte{'\n'}), bytes.Split(want, []byte{'\n'})
				for i := 0; i < len(gl) && i < len(wl); i++ {
					if !bytes.Equal(gl[i], wl[i]) {
						t.Fatalf("%s line %d differs:\n got %s\nwant %s", golden, i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("%s: %d lines, want %d", golden, len(gl), len(wl))
			}
		})
	}
}
