package vclock

import (
	"math/rand/v2"
	"testing"
)

var (
	a = Actor{"a", 1}
	b = Actor{"b", 1}
	c = Actor{"c", 1}
	// b after a wipe: a different actor.
	b2 = Actor{"b", 2}
)

func clk(pairs ...any) Clock {
	var es []Entry
	for i := 0; i < len(pairs); i += 2 {
		es = append(es, Entry{Actor: pairs[i].(Actor), Counter: uint64(pairs[i+1].(int))})
	}
	return New(es...)
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		x, y Clock
		want Ordering
	}{
		{"both empty", nil, nil, Equal},
		{"empty before", nil, clk(a, 1), Before},
		{"same", clk(a, 2, b, 1), clk(b, 1, a, 2), Equal},
		{"after", clk(a, 3, b, 1), clk(a, 2, b, 1), After},
		{"before with extra actor", clk(a, 2), clk(a, 2, c, 1), Before},
		{"concurrent", clk(a, 2, b, 1), clk(a, 1, b, 2), Concurrent},
		{"disjoint actors", clk(a, 1), clk(b, 1), Concurrent},
		{"incarnations are distinct actors", clk(b, 5), clk(b2, 1), Concurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(tt.x, tt.y); got != tt.want {
				t.Fatalf("Compare(%v, %v) = %v, want %v", tt.x, tt.y, got, tt.want)
			}
			if got, want := Descends(tt.x, tt.y), tt.want == Equal || tt.want == After; got != want {
				t.Fatalf("Descends = %v, want %v", got, want)
			}
		})
	}
}

func TestNewNormalises(t *testing.T) {
	got := New(Entry{Actor: b, Counter: 1}, Entry{Actor: a, Counter: 2}, Entry{Actor: b, Counter: 4}, Entry{Actor: c})
	want := Clock{{Actor: a, Counter: 2}, {Actor: b, Counter: 4}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("New = %v, want %v", got, want)
	}
}

func TestCoversAndAdvance(t *testing.T) {
	x := Advance(clk(a, 1), Dot{b, 7}, 99)
	if !x.Covers(Dot{b, 7}) || !x.Covers(Dot{b, 3}) || x.Covers(Dot{b, 8}) || x.Covers(Dot{c, 1}) {
		t.Fatalf("Covers wrong on %v", x)
	}
	if x.Covers(Dot{a, 0}) {
		t.Fatal("a zero dot names no write and is never covered")
	}
	if got := Advance(x, Dot{b, 2}, 1).Get(b); got != 7 {
		t.Fatalf("advancing with an older dot lowered the counter to %d", got)
	}
}

func randClock(r *rand.Rand) Clock {
	actors := []Actor{a, b, c, b2}
	var es []Entry
	for _, ac := range actors {
		if r.IntN(3) > 0 {
			es = append(es, Entry{Actor: ac, Counter: uint64(r.IntN(4)), Timestamp: r.Int64N(10)})
		}
	}
	return New(es...)
}

// Merge is the least upper bound: it descends both inputs, and it is
// commutative, associative and idempotent.
func TestMergeProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		x, y, z := randClock(r), randClock(r), randClock(r)
		m := Merge(x, y)
		if !Descends(m, x) || !Descends(m, y) {
			t.Fatalf("Merge(%v,%v)=%v does not descend both", x, y, m)
		}
		if Compare(m, Merge(y, x)) != Equal {
			t.Fatalf("not commutative: %v %v", x, y)
		}
		if Compare(Merge(m, z), Merge(x, Merge(y, z))) != Equal {
			t.Fatalf("not associative: %v %v %v", x, y, z)
		}
		if Compare(Merge(x, x), x) != Equal {
			t.Fatalf("not idempotent: %v", x)
		}
		// Least: every entry of m comes from x or y.
		for _, e := range m {
			if e.Counter != max(x.Get(e.Actor), y.Get(e.Actor)) {
				t.Fatalf("Merge entry %v is not the max of its inputs", e)
			}
		}
		// Compare agrees with a naive definition.
		naiveLE := func(p, q Clock) bool {
			for _, ac := range []Actor{a, b, c, b2} {
				if p.Get(ac) > q.Get(ac) {
					return false
				}
			}
			return true
		}
		want := Concurrent
		switch {
		case naiveLE(x, y) && naiveLE(y, x):
			want = Equal
		case naiveLE(x, y):
			want = Before
		case naiveLE(y, x):
			want = After
		}
		if got := Compare(x, y); got != want {
			t.Fatalf("Compare(%v,%v)=%v, naive says %v", x, y, got, want)
		}
	}
}

func TestPruneKeepsNewestAndNeverGrowsCoverage(t *testing.T) {
	var es []Entry
	for i := 0; i < 10; i++ {
		es = append(es, Entry{Actor: Actor{Node: string(rune('a' + i)), Incarnation: 1}, Counter: uint64(i + 1), Timestamp: int64(i)})
	}
	full := New(es...)
	p := Prune(full, 4)
	if len(p) != 4 {
		t.Fatalf("pruned to %d entries, want 4", len(p))
	}
	for _, e := range p {
		if e.Timestamp < 6 {
			t.Fatalf("kept old entry %v", e)
		}
	}
	// Safety: a pruned clock covers a subset of what the full one covers.
	if !Descends(full, p) {
		t.Fatalf("pruned clock %v is not below the original", p)
	}
	if got := Prune(full, 20); len(got) != len(full) {
		t.Fatal("pruning under the bound changed the clock")
	}
}
