package badgerindex

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/indextest"
)

func chunkFileSizes(t *testing.T, dir string) map[uint32]int64 {
	t.Helper()
	files, err := chunkFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]int64{}
	for fid, path := range files {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		out[fid] = st.Size()
	}
	return out
}

func msgs(prefix string, n int) []*correlate.Message {
	var out []*correlate.Message
	for i := 0; i < n; i++ {
		out = append(out, indextest.Msg("mail", "postfix", fmt.Sprintf("%s%05d", prefix, i), t0.Add(time.Duration(i)*time.Second), "s@x.test", fmt.Sprintf("r%d@y.test", i)))
	}
	return out
}

// TestChunkFileCrash: chunks written to the chunk file for a checkpoint
// whose commit point never lands are cut off at the next Open, and the
// writer goes on after the last committed chunk.
func TestChunkFileCrash(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	x := open(t, dir, Options{})
	commit(t, x, nil, msgs("A", 5000)...) // more than one chunk
	if _, err := x.Sources(ctx); err != nil {
		t.Fatal(err)
	}
	committed := chunkFileSizes(t, dir)
	if len(committed) != 1 || committed[0] == 0 {
		t.Fatalf("chunk files after one checkpoint: %v", committed)
	}
	x.beforeCommitPoint = func() error { return errors.New("SIGKILL") }
	if err := x.Append(ctx, msgs("B", 5000)); err != nil {
		t.Fatal(err)
	}
	x.Commit(ctx, &correlate.Checkpoint{})
	x.Close()
	if got := chunkFileSizes(t, dir); got[0] <= committed[0] {
		t.Fatalf("the failed checkpoint wrote no chunk: %v", got)
	}

	x = open(t, dir, Options{})
	if got := chunkFileSizes(t, dir); !equalSizes(got, committed) {
		t.Errorf("after reopening: chunk files %v, want %v (the failed checkpoint's records cut off)", got, committed)
	}
	if got := len(strings.Split(qids(t, x), ",")); got != 5000 {
		t.Errorf("after the crash: %d messages, want 5000", got)
	}
	commit(t, x, nil, msgs("C", 10)...)
	x.Close()

	x = open(t, dir, Options{ReadOnly: true})
	defer x.Close()
	ids := strings.Split(qids(t, x), ",")
	if len(ids) != 5010 || ids[0] != "A00000" || ids[5009] != "C00009" || slices.ContainsFunc(ids, func(s string) bool { return s[0] == 'B' }) {
		t.Errorf("after the re-run: %d messages (%s … %s)", len(ids), ids[0], ids[len(ids)-1])
	}
	var one []string
	err := x.Messages(ctx, correlate.Query{By: correlate.ByRecipient, Value: "r7@y.test"}, func(m *correlate.Message) error {
		one = append(one, m.QueueID)
		return nil
	})
	if err != nil || strings.Join(one, ",") != "A00007,C00007" {
		t.Errorf("lookup by recipient: %v %v", one, err)
	}
}

func equalSizes(a, b map[uint32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestChunkFileCorrupt: a chunk whose bytes changed on disk, or whose
// file is gone, is reported as corrupt, not decoded.
func TestChunkFileCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(path string) error
	}{
		{"flipped byte", func(path string) error {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x20
			return os.WriteFile(path, b, 0o600)
		}},
		{"cut short", func(path string) error { return os.Truncate(path, 100) }},
		{"missing", os.Remove},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			x := open(t, dir, Options{})
			commit(t, x, nil, msgs("A", 100)...)
			x.Close()
			if err := tc.spoil(chunkFileName(dir, 0)); err != nil {
				t.Fatal(err)
			}
			x = open(t, dir, Options{ReadOnly: true})
			defer x.Close()
			err := x.Messages(context.Background(), correlate.Query{}, func(*correlate.Message) error { return nil })
			if !errors.Is(err, correlate.ErrCorrupt) {
				t.Errorf("Messages over a spoilt chunk file: %v", err)
			}
		})
	}
}

// TestChunkInline: chunks written before chunk files (the records in the
// chunk key's value, chunkVersion) read as before, beside new ones.
func TestChunkInline(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	x := open(t, dir, Options{})
	commit(t, x, nil, msgs("A", 10)...)
	if _, err := x.Sources(ctx); err != nil {
		t.Fatal(err)
	}
	// Put the records back into the key, as the first format had them.
	key := seqKey(pChunk, 1, 0)
	err := x.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get(key)
		if err != nil {
			return err
		}
		ptr, err := it.ValueCopy(nil)
		if err != nil {
			return err
		}
		p, err := decodeChunkPtr(ptr)
		if err != nil {
			return err
		}
		v, err := x.chunks.read(p, nil)
		if err != nil {
			return err
		}
		if v[0] != chunkVersion {
			return fmt.Errorf("chunk file record starts with %d", v[0])
		}
		return txn.Set(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, x, nil, msgs("B", 10)...)
	x.Close()
	x = open(t, dir, Options{})
	defer x.Close()
	ids := strings.Split(qids(t, x), ",")
	if len(ids) != 20 || ids[0] != "A00000" || ids[19] != "B00009" {
		t.Errorf("inline and chunk-file chunks: %d messages (%v)", len(ids), ids)
	}
}

// TestChunkFileRetain: a chunk file is deleted once every chunk in it
// has expired.
func TestChunkFileRetain(t *testing.T) {
	dir := t.TempDir()
	x := open(t, dir, Options{Retain: time.Hour, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }})
	commit(t, x, nil, msgs("OLD", 10)...)
	x.Close()
	if got := chunkFileSizes(t, dir); len(got) != 1 {
		t.Fatalf("chunk files: %v", got)
	}
	x = open(t, dir, Options{Retain: time.Hour})
	defer x.Close()
	if _, err := os.Stat(filepath.Join(dir, "000000"+chunkFileExt)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the expired chunks' file is still there: %v", err)
	}
	commit(t, x, nil, msgs("NEW", 3)...)
	if got := qids(t, x); got != "NEW00000,NEW00001,NEW00002" {
		t.Errorf("after expiry: %s", got)
	}
	if got := chunkFileSizes(t, dir); len(got) != 1 || got[1] == 0 {
		t.Errorf("chunk files after writing again: %v, want one, numbered 1", got)
	}
}

// TestHourRecords: hour records go to the chunk file, with the chunks of
// their checkpoint. A file holding nothing but hour records is kept at
// Open (its records are committed), a record the commit point never
// covered is cut off, and an hour written before records moved to chunk
// files (in its key's value) is still read and merged.
func TestHourRecords(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	hour := func(at time.Time, sent int64) *correlate.Hour {
		h := correlate.NewHour(at)
		h.Traffic[correlate.HostKey{Host: "mail", Instance: "postfix"}] = &correlate.Traffic{Sent: sent}
		return h
	}
	sent := func(x *Index) map[time.Time]int64 {
		t.Helper()
		out := map[time.Time]int64{}
		if err := x.Hours(ctx, time.Time{}, time.Time{}, func(h *correlate.Hour) error {
			out[h.Start] = h.TotalTraffic().Sent
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}

	x := open(t, dir, Options{})
	commit(t, x, &correlate.Checkpoint{Hours: []*correlate.Hour{hour(t0, 3)}})
	if _, err := x.Sources(ctx); err != nil {
		t.Fatal(err)
	}
	sizes := chunkFileSizes(t, dir)
	if len(sizes) != 1 || sizes[0] == 0 {
		t.Fatalf("chunk files after a checkpoint of one hour: %v", sizes)
	}
	// The value is a pointer, not the record.
	err := x.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(hourKey(hourIdx(t0), 1))
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if v[0] != hourDeltaPtr {
				return fmt.Errorf("hour value kind %d", v[0])
			}
			_, err := decodeChunkPtr(v[1:])
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	// A checkpoint that never reaches its commit point.
	x.beforeCommitPoint = func() error { return errors.New("SIGKILL") }
	x.Commit(ctx, &correlate.Checkpoint{Hours: []*correlate.Hour{hour(t0, 100)}})
	x.Close()

	x = open(t, dir, Options{})
	if got := chunkFileSizes(t, dir); !equalSizes(got, sizes) {
		t.Errorf("after reopening: chunk files %v, want %v", got, sizes)
	}
	if got := sent(x); len(got) != 1 || got[t0] != 3 {
		t.Errorf("hours after the crash: %v, want 3 sent at %v", got, t0)
	}
	// An hour as the first format stored it: kind and record in the value.
	legacy := t0.Add(time.Hour)
	err = x.db.Update(func(txn *badger.Txn) error {
		return txn.Set(hourKey(hourIdx(legacy), 1), correlate.AppendHour([]byte{hourDelta}, hour(legacy, 5)))
	})
	if err != nil {
		t.Fatal(err)
	}
	x.Close()

	x = open(t, dir, Options{})
	commit(t, x, &correlate.Checkpoint{Hours: []*correlate.Hour{hour(legacy, 2)}})
	if got := sent(x); len(got) != 2 || got[t0] != 3 || got[legacy] != 7 {
		t.Errorf("hours with an inline record: %v, want 3 at %v and 7 at %v", got, t0, legacy)
	}
	x.Close()
}

// TestSortPostings: sortPostings orders postings exactly as
// slices.Sort does (the lookup's binary search depends on it), for
// random values, values sharing bytes, duplicates and short inputs.
func TestSortPostings(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tmp []uint64
	for _, tc := range []struct {
		name string
		n    int
		gen  func(i int) uint64
	}{
		{"empty", 0, nil},
		{"short", 10, func(int) uint64 { return rng.Uint64() }},
		{"random", 1300, func(int) uint64 { return rng.Uint64() }},
		{"postings", 5000, func(i int) uint64 { return rng.Uint64()&^0xffff | uint64(i/5) }},
		{"duplicates", 2000, func(int) uint64 { return uint64(rng.IntN(50)) << 40 }},
		{"one bucket", 700, func(int) uint64 { return 0xabcdef0000000000 | uint64(rng.IntN(256))<<16 }},
		{"all equal", 300, func(int) uint64 { return 42 }},
		{"descending", 3000, func(i int) uint64 { return uint64(1<<62 - i*7919) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := make([]uint64, tc.n)
			for i := range a {
				a[i] = tc.gen(i)
			}
			want := slices.Clone(a)
			slices.Sort(want)
			tmp = sortPostings(a, tmp)
			if !slices.Equal(a, want) {
				t.Errorf("sortPostings differs from slices.Sort for %d values", tc.n)
			}
		})
	}
}

// BenchmarkSortPostings: one chunk's postings (about 260 messages, five
// values each), by sortPostings and by slices.Sort.
func BenchmarkSortPostings(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]uint64, 1300)
	for i := range src {
		src[i] = rng.Uint64()&^0xffff | uint64(i/5)
	}
	a := make([]uint64, len(src))
	b.Run("sortPostings", func(b *testing.B) {
		var tmp []uint64
		for b.Loop() {
			copy(a, src)
			tmp = sortPostings(a, tmp)
		}
	})
	b.Run("slices.Sort", func(b *testing.B) {
		for b.Loop() {
			copy(a, src)
			slices.Sort(a)
		}
	})
}

// TestPostingsInChunkFile: a chunk's postings are in the chunk file, right
// after its records (the 'q' key points to them); postings stored in the
// value, as indexes written before that have them, are still looked up.
func TestPostingsInChunkFile(t *testing.T) {
	dir := t.TempDir()
	x := open(t, dir, Options{})
	commit(t, x, nil, msgs("A", 10)...)
	lookup := func(x *Index) string {
		t.Helper()
		return indextest.QueueIDs(t, x, correlate.Query{By: correlate.ByRecipient, Value: "R7@Y.test"})
	}
	if got := lookup(x); got != "A00007" {
		t.Fatalf("lookup: %q", got)
	}
	// Where the postings are: right after the chunk's records.
	var recs, posts chunkPtr
	err := x.db.View(func(txn *badger.Txn) error {
		for _, k := range []struct {
			p   byte
			dst *chunkPtr
		}{{pChunk, &recs}, {pPostPtr, &posts}} {
			it, err := txn.Get(seqKey(k.p, 1, 0))
			if err != nil {
				return err
			}
			v, err := it.ValueCopy(nil)
			if err != nil {
				return err
			}
			if *k.dst, err = decodeChunkPtr(v); err != nil {
				return err
			}
		}
		if _, err := txn.Get(seqKey(pPost, 1, 0)); !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("postings in a value as well: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if posts.fid != recs.fid || posts.off != recs.end() || posts.n == 0 || posts.n%8 != 0 {
		t.Errorf("records at %+v, postings at %+v", recs, posts)
	}
	// Put the postings back into a value, as the earlier format had them.
	err = x.db.Update(func(txn *badger.Txn) error {
		v, err := x.chunks.read(posts, nil)
		if err != nil {
			return err
		}
		if err := txn.Delete(seqKey(pPostPtr, 1, 0)); err != nil {
			return err
		}
		return txn.Set(seqKey(pPost, 1, 0), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	x.Close()
	x = open(t, dir, Options{ReadOnly: true})
	defer x.Close()
	if got := lookup(x); got != "A00007" {
		t.Errorf("lookup in postings stored in the value: %q", got)
	}
}
