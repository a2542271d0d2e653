package correlate

import (
	"hash/maphash"
	"math/rand/v2"
	"testing"
)

// TestSessionTableIsAMap runs random adds, finds and deletes (process IDs
// reused, hosts and programs mixed, the table growing) against a plain
// map keyed by (host, program, pid).
func TestSessionTableIsAMap(t *testing.T) {
	type key struct {
		host, prog string
		pid        int
	}
	rng := rand.New(rand.NewPCG(3, 4))
	tab := newSessionTable(maphash.MakeSeed())
	want := map[key]*session{}
	hosts, progs := []string{"mail", "mail2"}, []string{"postfix/smtpd", "postfix/submission/smtpd"}
	for i := 0; i < 200000; i++ {
		pids := 64
		if i > 100000 {
			pids = 5000 // grow the table
		}
		k := key{hosts[rng.IntN(2)], progs[rng.IntN(2)], rng.IntN(pids) - 3}
		switch rng.IntN(3) {
		case 0:
			s := &session{host: k.host, prog: k.prog, pid: k.pid, port: i}
			tab.add(s)
			want[k] = s
		case 1:
			if s, prev := tab.find(k.host, k.prog, k.pid); s != nil {
				tab.del(s, prev)
			}
			delete(want, k)
		case 2:
			s, _ := tab.find(k.host, k.prog, k.pid)
			if s != want[k] {
				t.Fatalf("op %d: find(%v) = %v, want %v", i, k, s, want[k])
			}
		}
		if tab.n != len(want) {
			t.Fatalf("op %d: %d sessions, want %d", i, tab.n, len(want))
		}
	}
	n := 0
	tab.all(func(s *session) {
		n++
		if want[key{s.host, s.prog, s.pid}] != s {
			t.Errorf("all: %s %s %d not in the map", s.host, s.prog, s.pid)
		}
	})
	if n != len(want) {
		t.Errorf("all: %d sessions, want %d", n, len(want))
	}
	if len(tab.heads) < 1024 {
		t.Errorf("table did not grow: %d heads for %d sessions", len(tab.heads), n)
	}
}
