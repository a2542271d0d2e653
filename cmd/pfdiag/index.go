package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/badgerindex"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/rules"
)

// memoryIndex is the --index value for a throwaway in-memory index.
const memoryIndex = ":memory:"

// indexFlags are the flags of every command that opens the index:
//
//	--index DIR   where it is (default $XDG_STATE_HOME/pfdiag, else
//	              ~/.local/state/pfdiag); ":memory:" for a throwaway one
//	--retain D    (writers) how long ingested data is kept: 30d, 12h, 0 = forever
//
// Writers (ingest, analyze, tail) call addIndexFlags(fs, true) and
// open(e, false); readers (trace, report) addIndexFlags(fs, false) and
// open(e, true), which several can do at once but not while a writer has
// the index open (Badger's directory lock).
type indexFlags struct {
	dir    string
	retain string
}

func addIndexFlags(fs *pflag.FlagSet, writer bool) *indexFlags {
	f := &indexFlags{retain: "30d"}
	fs.StringVar(&f.dir, "index", "", "index `DIR` (default $XDG_STATE_HOME/pfdiag, else ~/.local/state/pfdiag); :memory: for a throwaway one")
	if writer {
		fs.StringVar(&f.retain, "retain", "30d", "keep ingested data this long (`DURATION`: 30d, 2w, 12h; 0 keeps everything)")
	}
	return f
}

// path returns the index directory the flags name.
func (f *indexFlags) path(e *env) (string, error) {
	if f.dir != "" {
		return f.dir, nil
	}
	if s := e.getenv("XDG_STATE_HOME"); s != "" && filepath.IsAbs(s) {
		return filepath.Join(s, "pfdiag"), nil
	}
	home := e.getenv("HOME")
	if home == "" {
		return "", errors.New("no home directory to keep the index in: set --index DIR")
	}
	return filepath.Join(home, ".local", "state", "pfdiag"), nil
}

// open opens the index: read-only for reports, for writing otherwise.
func (f *indexFlags) open(e *env, readOnly bool) (correlate.Index, error) {
	retain, err := parseRetain(f.retain)
	if err != nil {
		return nil, usagef("--retain: %v", err)
	}
	dir, err := f.path(e)
	if err != nil {
		return nil, err
	}
	if dir == memoryIndex {
		return memindex.New(), nil
	}
	idx, err := badgerindex.Open(dir, badgerindex.Options{ReadOnly: readOnly, Retain: retain, Now: e.now})
	if err != nil {
		return nil, err
	}
	return idx, nil
}

// openWriter opens the index for writing, as open(e, false) does, except
// that an on-disk index that does not exist yet (no directory, or an empty
// one: systemd's StateDirectory= makes it) is created on another
// goroutine while the caller starts reading logs (correlate.Opening:
// Badger takes 15-25 ms to create its files); fresh says so. created is
// the directory when this call made it ("" otherwise), for a caller that
// must remove it again. The directory itself is made here, so that a path
// that cannot be one fails at once; an error of the open after that comes
// from the first call that needs the index, and from Close.
func (f *indexFlags) openWriter(e *env) (idx correlate.Index, created string, fresh bool, err error) {
	created = f.absent(e)
	dir := created
	if created == "" {
		if d, err := f.path(e); err == nil && d != memoryIndex && emptyDir(d) {
			dir = d
		}
	}
	if dir == "" {
		idx, err = f.open(e, false)
		return idx, "", false, err
	}
	retain, err := parseRetain(f.retain)
	if err != nil {
		return nil, "", false, usagef("--retain: %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", false, fmt.Errorf("open index: %w", err)
	}
	opts := badgerindex.Options{Retain: retain, Now: e.now}
	return correlate.OpenNew(func() (correlate.Index, error) {
		idx, err := badgerindex.Open(dir, opts)
		if err != nil {
			// A nil *badgerindex.Index is not a nil Index.
			return nil, err
		}
		return idx, nil
	}), created, true, nil
}

// emptyDir reports whether dir is a directory with nothing in it.
func emptyDir(dir string) bool {
	d, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	return len(names) == 0 && err == io.EOF
}

// absent returns the directory of an on-disk index that does not exist
// yet (open will create it), or "".
func (f *indexFlags) absent(e *env) string {
	dir, err := f.path(e)
	if err != nil || dir == memoryIndex {
		return ""
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	return dir
}

// parseRetain reads 30d, 2w, 12h, 90m (and any time.ParseDuration form);
// "0" means keep everything.
func parseRetain(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	unit := time.Duration(0)
	switch {
	case strings.HasSuffix(s, "d"):
		unit = 24 * time.Hour
	case strings.HasSuffix(s, "w"):
		unit = 7 * 24 * time.Hour
	}
	if unit != 0 {
		n, err := strconv.ParseFloat(s[:len(s)-1], 64)
		if err != nil || n < 0 || n > 36500 {
			return 0, fmt.Errorf("bad duration %q (want e.g. 30d, 2w, 12h)", s)
		}
		return time.Duration(n * float64(unit)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q (want e.g. 30d, 2w, 12h)", s)
	}
	return d, nil
}

// classifier adapts the rules engine to correlate's Classifier. Rejects
// (status "reject") have no Postfix delivery status: the rules see "".
func classifier(eng *rules.Engine) correlate.Classifier {
	return func(reason, daemon, status, dsn, relay, domain string) string {
		if status == "reject" {
			status = ""
		}
		return eng.Category(rules.Input{Reason: reason, Daemon: daemon, Status: status, DSN: dsn, Relay: relay, Domain: domain})
	}
}
