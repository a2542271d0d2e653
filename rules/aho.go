package rules

import (
	"slices"
	"strings"
	"sync"
)

// automaton finds every phrase that occurs in a text in one pass over it:
// Aho-Corasick, compiled to a DFA over byte classes (the bytes that occur
// in some phrase, plus one class for all others). A text the caches miss
// is scanned once; each rule's phrase conditions are then bit tests.
type automaton struct {
	class    [256]uint8
	nclass   int
	delta    []int32  // state*nclass + class -> next state (while building, and when there are more than 65536 states)
	delta16  []uint16 // the same when the states fit: half the memory, so more of it stays in the CPU caches
	outStart []int32  // outs[outStart[s]:outStart[s+1]]: the phrases ending at state s
	outs     []int32
	words    int // len of the bit set of present phrases
	empty    []int32
}

// automata shares one compiled automaton between engines with the same
// phrases (every Default() engine, and New() with the same rule files).
var automata sync.Map // joined phrases -> *automaton

func automatonFor(phrases []string) *automaton {
	key := strings.Join(phrases, "\x00")
	if a, ok := automata.Load(key); ok {
		return a.(*automaton)
	}
	a, _ := automata.LoadOrStore(key, buildAutomaton(phrases))
	return a.(*automaton)
}

func buildAutomaton(phrases []string) *automaton { return buildAutomatonNarrow(phrases, 1<<16) }

// buildAutomatonNarrow builds the automaton with a 16-bit table when it
// has at most narrow states (tests pass 0 to check the 32-bit one).
func buildAutomatonNarrow(phrases []string, narrow int) *automaton {
	a := &automaton{words: (len(phrases) + 63) / 64}
	n := 1
	for _, p := range phrases {
		for i := 0; i < len(p); i++ {
			if a.class[p[i]] == 0 {
				a.class[p[i]] = uint8(n)
				n++
			}
		}
	}
	if n > 256 {
		// Every byte value is used: fall back to one class per byte.
		for c := range a.class {
			a.class[c] = uint8(c)
		}
		n = 256
	}
	a.nclass = n
	// The table is allocated once at its final size (megabytes: growing
	// it by appends copied it over and over, the most expensive part of
	// loading the rules).
	a.delta = make([]int32, 0, trieNodes(phrases)*n)
	// The trie: -1 marks a missing edge until the DFA is completed.
	newState := func() int32 {
		s := int32(len(a.delta) / n)
		a.delta = slices.Grow(a.delta, n) // a no-op: trieNodes is exact
		a.delta = a.delta[:len(a.delta)+n]
		row := a.delta[len(a.delta)-n:]
		for i := range row {
			row[i] = -1
		}
		return s
	}
	newState()
	own := [][]int32{nil}
	for id, p := range phrases {
		if p == "" {
			a.empty = append(a.empty, int32(id))
			continue
		}
		s := int32(0)
		for i := 0; i < len(p); i++ {
			at := int(s)*n + int(a.class[p[i]])
			if a.delta[at] < 0 {
				a.delta[at] = newState()
				own = append(own, nil)
			}
			s = a.delta[at]
		}
		own[s] = append(own[s], int32(id))
	}
	// Breadth first: failure links, missing edges, and each state's
	// outputs (its own plus those of its failure state).
	states := len(own)
	fail := make([]int32, states)
	outs := make([][]int32, states)
	queue := make([]int32, 0, states)
	for c := 0; c < n; c++ {
		if v := a.delta[c]; v < 0 {
			a.delta[c] = 0
		} else {
			queue = append(queue, v)
		}
	}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		outs[u] = append(own[u], outs[fail[u]]...)
		for c := 0; c < n; c++ {
			v := a.delta[int(u)*n+c]
			if v < 0 {
				a.delta[int(u)*n+c] = a.delta[int(fail[u])*n+c]
				continue
			}
			fail[v] = a.delta[int(fail[u])*n+c]
			queue = append(queue, v)
		}
	}
	a.outStart = make([]int32, states+1)
	for s := 0; s < states; s++ {
		a.outStart[s] = int32(len(a.outs))
		a.outs = append(a.outs, outs[s]...)
	}
	a.outStart[states] = int32(len(a.outs))
	if states <= narrow {
		a.delta16 = make([]uint16, len(a.delta))
		for i, v := range a.delta {
			a.delta16[i] = uint16(v)
		}
		a.delta = nil
	}
	return a
}

// trieNodes is the number of states of the trie of phrases: one per
// distinct prefix (the empty one included), counted over the sorted list.
func trieNodes(phrases []string) int {
	sorted := slices.Clone(phrases)
	slices.Sort(sorted)
	n, prev := 1, ""
	for _, p := range sorted {
		l := 0
		for l < len(p) && l < len(prev) && p[l] == prev[l] {
			l++
		}
		n += len(p) - l
		prev = p
	}
	return n
}

// scan sets bit p of present for every phrase p that occurs in text.
func (a *automaton) scan(text string, present []uint64) {
	for _, p := range a.empty {
		present[p>>6] |= 1 << (p & 63)
	}
	if a.delta16 != nil {
		s := 0
		for i := 0; i < len(text); i++ {
			s = int(a.delta16[s*a.nclass+int(a.class[text[i]])])
			if lo, hi := a.outStart[s], a.outStart[s+1]; lo != hi {
				for _, p := range a.outs[lo:hi] {
					present[p>>6] |= 1 << (p & 63)
				}
			}
		}
		return
	}
	s := int32(0)
	for i := 0; i < len(text); i++ {
		s = a.delta[int(s)*a.nclass+int(a.class[text[i]])]
		if lo, hi := a.outStart[s], a.outStart[s+1]; lo != hi {
			for _, p := range a.outs[lo:hi] {
				present[p>>6] |= 1 << (p & 63)
			}
		}
	}
}
