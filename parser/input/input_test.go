package input

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

func writeCompressed(t *testing.T, path, kind string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	switch kind {
	case "gzip":
		w := gzip.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case "xz":
		w, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case "zstd":
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	default:
		buf.Write(data)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCompressions(t *testing.T) {
	want, err := os.ReadFile("testdata/five.log")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := map[string]string{ // file → compression; names lie on purpose
		"plain.log":       "",
		"mail.log.2.gz":   "gzip",
		"rotated.log.1":   "gzip", // delaycompress-style name, gzip content
		"archive.xz":      "xz",
		"archive.zst":     "zstd",
		"bz/five.log.bz2": "bzip2",
	}
	for name, kind := range cases {
		p := filepath.Join(dir, name)
		if kind == "bzip2" {
			p = "testdata/five.log.bz2" // made with bzip2(1): the standard library has no bzip2 writer
		} else {
			writeCompressed(t, p, kind, want)
		}
		t.Run(name, func(t *testing.T) {
			f, err := Open(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Compression != kind {
				t.Errorf("compression %q, want %q", f.Compression, kind)
			}
			if f.Ino == 0 || f.ModTime.IsZero() {
				t.Errorf("no identity: ino %d mtime %v", f.Ino, f.ModTime)
			}
			fp := f.Fingerprint()
			got, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("content differs")
			}
			plain, _ := Open("testdata/five.log", nil)
			defer plain.Close()
			if fp == "" || fp != plain.Fingerprint() {
				t.Errorf("fingerprint %q differs from the plain file's %q", fp, plain.Fingerprint())
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("testdata/does-not-exist.log", nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open("testdata", nil); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
	// A gzip file cut in the middle opens, reads what it can, then errors.
	data, _ := os.ReadFile("testdata/five.log")
	big := bytes.Repeat(data, 200)
	p := filepath.Join(t.TempDir(), "cut.gz")
	writeCompressed(t, p, "gzip", big)
	raw, _ := os.ReadFile(p)
	os.WriteFile(p, raw[:len(raw)/2], 0o644)
	f, err := Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err == nil {
		t.Error("no error for a truncated gzip file")
	}
	if len(got) == 0 || !bytes.HasPrefix(big, got) {
		t.Errorf("read %d bytes that are not a prefix of the content", len(got))
	}
}

func TestStdinAndHead(t *testing.T) {
	f, err := Open("-", strings.NewReader("partial line without newline"))
	if err != nil {
		t.Fatal(err)
	}
	if fp := f.Fingerprint(); fp != "" {
		t.Errorf("fingerprint of an incomplete first line: %q", fp)
	}
	if head, complete := f.Head(); complete || string(head) != "partial line without newline" {
		t.Errorf("head %q complete %v", head, complete)
	}
	b, _ := io.ReadAll(f)
	if string(b) != "partial line without newline" {
		t.Errorf("Head consumed input: %q", b)
	}
}

func TestSkip(t *testing.T) {
	f, _ := Open("-", strings.NewReader("0123456789"))
	if err := f.Skip(4); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	if string(b) != "456789" {
		t.Errorf("after skip: %q", b)
	}
	f, _ = Open("-", strings.NewReader("0123"))
	if err := f.Skip(10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("skip past the end: %v", err)
	}
}

func TestOrder(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"mail.log", "mail.log.1", "mail.log.3.gz", "mail.log.2.gz"},
			[]string{"mail.log.3.gz", "mail.log.2.gz", "mail.log.1", "mail.log"}},
		{[]string{"mail.log", "mail.log-20261129", "mail.log-20261128.gz"},
			[]string{"mail.log-20261128.gz", "mail.log-20261129", "mail.log"}},
		{[]string{"mail.warn", "mail.log.1", "mail.warn.2.gz", "mail.log"},
			[]string{"mail.warn.2.gz", "mail.warn", "mail.log.1", "mail.log"}},
		{[]string{"-", "a.log", "a.log"}, []string{"-", "a.log"}},
		{[]string{"mail.log.10.gz", "mail.log.9.gz"}, []string{"mail.log.10.gz", "mail.log.9.gz"}},
	}
	for _, tt := range tests {
		if got := Order(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Order(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"mail.log", "mail.log.1", "other"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	got, err := Expand([]string{filepath.Join(dir, "mail.log*"), "-", "literal-missing.log"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "mail.log"), filepath.Join(dir, "mail.log.1"), "-", "literal-missing.log"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Expand = %v, want %v", got, want)
	}
	if _, err := Expand([]string{filepath.Join(dir, "nothing*")}); err == nil || !strings.Contains(err.Error(), "no files match") {
		t.Errorf("empty glob: %v", err)
	}
}
