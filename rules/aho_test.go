package rules

import (
	"math/rand/v2"
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
		for _, narrow := range []int{1 << 15, 0} { // 16-bit and 32-bit tables
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

// TestTrieNodes: one state per distinct prefix of the phrases, the empty
// one included.
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
		if got := buildAutomaton(c.phrases).states; got != c.want {
			t.Errorf("states of %q = %d, want %d", c.phrases, got, c.want)
		}
	}
}

// TestAutomatonRandom checks the scan against strings.Contains on random
// phrase sets over a small alphabet, where phrases overlap, nest and
// repeat (the failure transitions and inherited outputs get exercised).
func TestAutomatonRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(max int) string {
		b := make([]byte, rng.IntN(max+1))
		for i := range b {
			b[i] = "abc "[rng.IntN(4)]
		}
		return string(b)
	}
	for round := 0; round < 300; round++ {
		phrases := make([]string, 1+rng.IntN(80))
		for i := range phrases {
			phrases[i] = word(6)
		}
		for _, narrow := range []int{1 << 15, 0} {
			a := buildAutomatonNarrow(phrases, narrow)
			for k := 0; k < 20; k++ {
				text := word(40)
				present := make([]uint64, a.words)
				a.scan(text, present)
				for p, ph := range phrases {
					got := present[p>>6]&(1<<(p&63)) != 0
					if want := strings.Contains(text, ph); got != want {
						t.Fatalf("phrases %q: %q in %q: automaton says %v, strings.Contains %v", phrases, ph, text, got, want)
					}
				}
			}
		}
	}
}
