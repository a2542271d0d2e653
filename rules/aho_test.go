package rules

import (
	"strings"
	"testing"
)

// TestAutomatonAgreesWithContains checks the one-pass phrase scan against
// strings.Contains for every phrase of the default rules on every test
// text (normalised), and on a few made-up phrase sets.
func TestAutomatonAgreesWithContains(t *testing.T) {
	e := mustDefault(t)
	var texts []string
	for _, file := range []string{"testdata/wordings.tsv", "testdata/genlog_sample.tsv", "testdata/findings.tsv"} {
		for _, c := range readCaseFile(t, file) {
			var f facts
			texts = append(texts, string(normalise(nil, c.Input.Reason, &f)))
		}
	}
	check := func(phrases []string, texts []string) {
		t.Helper()
		for _, narrow := range []int{1 << 16, 0} { // 16-bit and 32-bit tables
			a := buildAutomatonNarrow(phrases, narrow)
			for _, text := range texts {
				present := make([]uint64, a.words)
				a.scan(text, present)
				for p, ph := range phrases {
					got := present[p>>6]&(1<<(p&63)) != 0
					if want := strings.Contains(text, ph); got != want {
						t.Fatalf("narrow %d: phrase %q in %q: automaton says %v, strings.Contains %v", narrow, ph, text, got, want)
					}
				}
			}
		}
	}
	check(e.phrases, texts)
	check([]string{"he", "she", "his", "hers", "", "s", "ushers"}, []string{"ushers", "", "h", "shis hers", "ahishers"})
	check([]string{"aaa", "aa", "a", "ab", "ba"}, []string{"aaaa", "abab", "baaab", "b"})
	// Every byte value in some phrase: one class per byte.
	var all strings.Builder
	for c := 0; c < 256; c++ {
		all.WriteByte(byte(c))
	}
	check([]string{all.String(), "\x00\xff", "\xff"}, []string{all.String(), "x\x00\xffy", ""})
}

func TestTrieNodes(t *testing.T) {
	for _, c := range []struct {
		phrases []string
		want    int
	}{
		{nil, 1},
		{[]string{""}, 1},
		{[]string{"abc"}, 4},
		{[]string{"abc", "abd", "ab"}, 5},
		{[]string{"b", "abc", "abc", "a"}, 5},
	} {
		if got := trieNodes(c.phrases); got != c.want {
			t.Errorf("trieNodes(%q) = %d, want %d", c.phrases, got, c.want)
		}
	}
}
