package input

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzOpen feeds arbitrary bytes as an input file, plain or (after the
// mutator has had its way with the seeds) a damaged gzip, bzip2, xz or
// zstd archive. Archives come from strangers' servers and are cut off by
// full disks: opening and reading one must return bytes or an error that
// names the file, never panic, and never hand out more than was asked.
// Plain content must come back byte for byte, from the start and after
// Skip. Decompression is bounded here (a few MB) because a tiny archive
// may legitimately expand to gigabytes.
func FuzzOpen(f *testing.F) {
	five, err := os.ReadFile("testdata/five.log")
	if err != nil {
		f.Fatal(err)
	}
	bz, err := os.ReadFile("testdata/five.log.bz2")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(five, uint16(10))
	f.Add(bz, uint16(0))
	f.Add([]byte{}, uint16(0))
	f.Add([]byte("no newline at all"), uint16(3))
	f.Add([]byte{0x1f, 0x8b}, uint16(1))
	dir := f.TempDir()
	for _, kind := range []string{"gzip", "xz", "zstd"} {
		p := filepath.Join(dir, kind)
		writeCompressed(&testing.T{}, p, kind, five)
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(0))
		f.Add(b[:len(b)/2], uint16(0)) // cut in the middle
	}
	const limit = 4 << 20
	f.Fuzz(func(t *testing.T, data []byte, skip uint16) {
		file, err := Open("-", bytes.NewReader(data))
		if err != nil {
			if !strings.Contains(err.Error(), "open -:") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		defer file.Close()
		head, complete := file.Head()
		if len(head) > headLen || bytes.IndexByte(head, '\n') >= 0 {
			t.Fatalf("head of %d bytes with a newline or over %d", len(head), headLen)
		}
		if fp := file.Fingerprint(); (fp != "") != (complete && len(head) > 0) {
			t.Fatalf("fingerprint %q for head %q complete=%v", fp, head, complete)
		}
		if err := file.Skip(int64(skip)); err != nil {
			if file.Compression == "" && int(skip) <= len(data) {
				t.Fatalf("Skip(%d) of %d plain bytes: %v", skip, len(data), err)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) && file.Compression == "" {
				t.Fatalf("Skip past the end: %v, want io.ErrUnexpectedEOF", err)
			}
			return
		}
		var got bytes.Buffer
		buf := make([]byte, 40<<10) // large reads take File.Read's direct path
		for got.Len() < limit {
			n, err := file.Read(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("Read returned %d for a %d-byte buffer", n, len(buf))
			}
			got.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if file.Compression == "" && !bytes.Equal(got.Bytes(), data[skip:]) {
			t.Fatalf("plain content after Skip(%d): got %d bytes, want %d", skip, got.Len(), len(data)-int(skip))
		}
	})
}
