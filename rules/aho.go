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
	delta    []int32  // state*nclass + class -> next state, when there are too many states for delta16
	delta16  []uint16 // the same in half the memory (so more of it stays in the CPU caches), when the states fit
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

func buildAutomaton(phrases []string) *automaton { return buildAutomatonNarrow(phrases, 1<<16-1) }

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
	// The table is allocated once at its final size and width (megabytes:
	// growing it by appends copied it over and over, the most expensive
	// part of loading the rules).
	if nodes := trieNodes(phrases); nodes <= narrow && nodes < 1<<16 {
		a.delta16 = buildDFA(a, phrases, nodes, uint16(1<<16-1))
	} else {
		a.delta = buildDFA(a, phrases, nodes, int32(-1))
	}
	return a
}

// buildDFA builds the transition table for the classes of a, with none
// (a value no state has) marking missing edges until the DFA is
// complete, and sets a's outputs.
func buildDFA[T uint16 | int32](a *automaton, phrases []string, nodes int, none T) []T {
	n := a.nclass
	delta := make([]T, 0, nodes*n)
	// The trie.
	newState := func() T {
		s := T(len(delta) / n)
		delta = slices.Grow(delta, n) // a no-op: trieNodes is exact
		delta = delta[:len(delta)+n]
		row := delta[len(delta)-n:]
		for i := range row {
			row[i] = none
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
		s := T(0)
		for i := 0; i < len(p); i++ {
			at := int(s)*n + int(a.class[p[i]])
			if delta[at] == none {
				delta[at] = newState()
				own = append(own, nil)
			}
			s = delta[at]
		}
		own[s] = append(own[s], int32(id))
	}
	// Breadth first: failure links, missing edges, and each state's
	// outputs (its own plus those of its failure state).
	states := len(own)
	fail := make([]T, states)
	outs := make([][]int32, states)
	queue := make([]T, 0, states)
	for c := 0; c < n; c++ {
		if v := delta[c]; v == none {
			delta[c] = 0
		} else {
			queue = append(queue, v)
		}
	}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		outs[u] = append(own[u], outs[fail[u]]...)
		for c := 0; c < n; c++ {
			v := delta[int(u)*n+c]
			if v == none {
				delta[int(u)*n+c] = delta[int(fail[u])*n+c]
				continue
			}
			fail[v] = delta[int(fail[u])*n+c]
			queue = append(queue, v)
		}
	}
	a.outStart = make([]int32, states+1)
	for s := 0; s < states; s++ {
		a.outStart[s] = int32(len(a.outs))
		a.outs = append(a.outs, outs[s]...)
	}
	a.outStart[states] = int32(len(a.outs))
	return delta
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
