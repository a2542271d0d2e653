package rules

import (
	"cmp"
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
	states   int
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

func buildAutomaton(phrases []string) *automaton { return buildAutomatonNarrow(phrases, 1<<15-1) }

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
	t := buildTrie(a, phrases)
	a.states = len(t.parent)
	if a.states <= narrow && a.states <= int(flag16) {
		a.delta16 = buildDFA(a, &t, flag16)
	} else {
		a.delta = buildDFA(a, &t, flag32)
	}
	return a
}

// The transition tables mark a target state that ends some phrase with a
// high bit, so that the scan looks outputs up only there.
const (
	flag16 = uint16(1 << 15)
	flag32 = int32(1 << 30)
)

// trie is the phrases' trie, its nodes numbered in the order they were
// made (a depth-first order of the sorted phrases).
type trie struct {
	parent []int32
	class  []uint8 // of the edge from the parent
	depth  []int32
	own    []int32 // first phrase ending at the node, -1 if none
	next   []int32 // next[p]: the next phrase ending at the same node, -1 if none
}

func buildTrie(a *automaton, phrases []string) trie {
	t := trie{parent: []int32{-1}, class: []uint8{0}, depth: []int32{0}, own: []int32{-1}, next: make([]int32, len(phrases))}
	order := make([]int32, len(phrases))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int { return cmp.Or(strings.Compare(phrases[x], phrases[y]), cmp.Compare(x, y)) })
	// path[d] is the node at depth d on the previous phrase's path: a
	// phrase shares it up to their common prefix.
	path := []int32{0}
	prev := ""
	for _, id := range order {
		p := phrases[id]
		l := 0
		for l < len(p) && l < len(prev) && p[l] == prev[l] {
			l++
		}
		path = path[:l+1]
		s := path[l]
		for i := l; i < len(p); i++ {
			s = int32(len(t.parent))
			t.parent = append(t.parent, path[i])
			t.class = append(t.class, a.class[p[i]])
			t.depth = append(t.depth, int32(i+1))
			t.own = append(t.own, -1)
			path = append(path, s)
		}
		if p == "" {
			a.empty = append(a.empty, id)
		} else {
			t.next[id] = t.own[s]
			t.own[s] = id
		}
		prev = p
	}
	return t
}

// buildDFA turns the trie into a complete DFA (Aho-Corasick with the
// failure transitions resolved) and sets a's outputs. Level by level: a
// node's failure state is shallower, so its row is complete by then, and
// the node's row starts as a copy of it, with the node's own children
// written over. The table is allocated once at its final size: the rows
// are the megabytes of it, and copying them is most of the work.
func buildDFA[T uint16 | int32](a *automaton, t *trie, flag T) []T {
	n := a.nclass
	states := len(t.parent)
	delta := make([]T, states*n)
	// The nodes in breadth-first order: by depth, stable.
	maxDepth := int32(0)
	for _, d := range t.depth {
		maxDepth = max(maxDepth, d)
	}
	levelStart := make([]int32, maxDepth+2)
	for _, d := range t.depth {
		levelStart[d+1]++
	}
	for d := 1; d < len(levelStart); d++ {
		levelStart[d] += levelStart[d-1]
	}
	bfs := make([]int32, states)
	fill := slices.Clone(levelStart)
	for v, d := range t.depth {
		bfs[fill[d]] = int32(v)
		fill[d]++
	}
	fail := make([]int32, states)
	outCount := make([]int32, states)
	for d := int32(0); d <= maxDepth; d++ {
		level := bfs[levelStart[d]:levelStart[d+1]]
		if d > 0 {
			for _, v := range level {
				copy(delta[int(v)*n:int(v+1)*n], delta[int(fail[v])*n:int(fail[v]+1)*n])
			}
		}
		if d == maxDepth {
			break
		}
		// The next level's nodes: their failure states (shallower than
		// them, complete), outputs, and the edges to them.
		for _, v := range bfs[levelStart[d+1]:levelStart[d+2]] {
			u, c := t.parent[v], int(t.class[v])
			if u != 0 {
				fail[v] = int32(delta[int(fail[u])*n+c] &^ flag)
			}
			k := outCount[fail[v]]
			for p := t.own[v]; p >= 0; p = t.next[p] {
				k++
			}
			outCount[v] = k
			e := T(v)
			if k > 0 {
				e |= flag
			}
			delta[int(u)*n+c] = e
		}
	}
	// Outputs: a node's own phrases, then those of its failure state
	// (complete first, in breadth-first order).
	a.outStart = make([]int32, states+1)
	for v := 0; v < states; v++ {
		a.outStart[v+1] = a.outStart[v] + outCount[v]
	}
	a.outs = make([]int32, a.outStart[states])
	for _, v := range bfs[1:] {
		o := a.outs[a.outStart[v]:a.outStart[v+1]]
		k := 0
		for p := t.own[v]; p >= 0; p = t.next[p] {
			o[k] = p
			k++
		}
		copy(o[k:], a.outs[a.outStart[fail[v]]:a.outStart[fail[v]+1]])
	}
	return delta
}

// scan sets bit p of present for every phrase p that occurs in text.
func (a *automaton) scan(text string, present []uint64) {
	for _, p := range a.empty {
		present[p>>6] |= 1 << (p & 63)
	}
	n := a.nclass
	if delta := a.delta16; delta != nil {
		s := 0
		for i := 0; i < len(text); i++ {
			e := delta[s*n+int(a.class[text[i]])]
			s = int(e &^ flag16)
			if e&flag16 != 0 {
				for _, p := range a.outs[a.outStart[s]:a.outStart[s+1]] {
					present[p>>6] |= 1 << (p & 63)
				}
			}
		}
		return
	}
	s := 0
	for i := 0; i < len(text); i++ {
		e := a.delta[s*n+int(a.class[text[i]])]
		s = int(e &^ flag32)
		if e&flag32 != 0 {
			for _, p := range a.outs[a.outStart[s]:a.outStart[s+1]] {
				present[p>>6] |= 1 << (p & 63)
			}
		}
	}
}
