package hlc

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func same(a, b Version) bool { return CompareVersions(a, b) == 0 }

func value(ts Timestamp, v string) Version { return Version{Stamp: ts, Value: []byte(v)} }

func tombstone(ts Timestamp) Version { return Version{Stamp: ts, Deleted: true} }

// The last-writer-wins rule: rows name the rules; want is the winner of a
// and b, in either order.
func TestWinnerRules(t *testing.T) {
	tests := []struct {
		name string
		a, b Version
		want Version
	}{
		{"higher wall wins", value(Timestamp{t0 + 1, 0, "a"}, "new"), value(Timestamp{t0, 9, "z"}, "old"), value(Timestamp{t0 + 1, 0, "a"}, "new")},
		{"higher logical wins at one wall", value(Timestamp{t0, 2, "a"}, "new"), value(Timestamp{t0, 1, "z"}, "old"), value(Timestamp{t0, 2, "a"}, "new")},
		{"node id breaks a tie of hybrid times", value(Timestamp{t0, 1, "b"}, "b"), value(Timestamp{t0, 1, "a"}, "a"), value(Timestamp{t0, 1, "b"}, "b")},
		{"later tombstone deletes", tombstone(Timestamp{t0 + 1, 0, "a"}), value(Timestamp{t0, 0, "a"}, "x"), tombstone(Timestamp{t0 + 1, 0, "a"})},
		{"later write undoes a delete", value(Timestamp{t0 + 1, 0, "a"}, "x"), tombstone(Timestamp{t0, 0, "a"}), value(Timestamp{t0 + 1, 0, "a"}, "x")},
		{"any write beats no write", value(Timestamp{0, 0, "a"}, ""), Version{}, value(Timestamp{0, 0, "a"}, "")},
		{"same stamp: tombstone beats value", tombstone(Timestamp{t0, 0, "a"}), value(Timestamp{t0, 0, "a"}, "x"), tombstone(Timestamp{t0, 0, "a"})},
		{"same stamp: greater value bytes win", value(Timestamp{t0, 0, "a"}, "y"), value(Timestamp{t0, 0, "a"}, "x"), value(Timestamp{t0, 0, "a"}, "y")},
		{"same write twice is itself", value(Timestamp{t0, 0, "a"}, "x"), value(Timestamp{t0, 0, "a"}, "x"), value(Timestamp{t0, 0, "a"}, "x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Winner(tt.a, tt.b); !same(got, tt.want) {
				t.Fatalf("Winner(a, b) = %+v, want %+v", got, tt.want)
			}
			if got := Winner(tt.b, tt.a); !same(got, tt.want) {
				t.Fatalf("Winner(b, a) = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// randVersion draws from a small domain, so that random versions often tie
// on stamp, on tombstone flag or on value.
func randVersion(r *rand.Rand) Version {
	v := Version{Stamp: randStamp(r)}
	if r.IntN(3) == 0 {
		v.Deleted = true
	} else {
		v.Value = []byte([]string{"", "x", "y"}[r.IntN(3)])
	}
	return v
}

func TestWinnerIsASemilattice(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 10000; i++ {
		a, b, c := randVersion(r), randVersion(r), randVersion(r)
		if !same(Winner(a, b), Winner(b, a)) {
			t.Fatalf("not commutative: %+v, %+v", a, b)
		}
		if !same(Winner(Winner(a, b), c), Winner(a, Winner(b, c))) {
			t.Fatalf("not associative: %+v, %+v, %+v", a, b, c)
		}
		if !same(Winner(a, a), a) || !same(Winner(a, Version{}), a) {
			t.Fatalf("not idempotent, or no write is not its unit: %+v", a)
		}
		if w := Winner(a, b); !same(w, a) && !same(w, b) {
			t.Fatalf("Winner(%+v, %+v) = %+v, neither", a, b, w)
		}
	}
}

func TestResolve(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	if got := Resolve(nil); !same(got, Version{}) {
		t.Fatalf("Resolve(nil) = %+v", got)
	}
	for i := 0; i < 1000; i++ {
		vs := make([]Version, 1+r.IntN(8))
		for j := range vs {
			vs[j] = randVersion(r)
		}
		w := Resolve(vs)
		if !slices.ContainsFunc(vs, func(v Version) bool { return same(v, w) }) {
			t.Fatalf("Resolve(%+v) = %+v, none of them", vs, w)
		}
		for _, v := range vs {
			if CompareVersions(v, w) > 0 {
				t.Fatalf("Resolve(%+v) = %+v, below %+v", vs, w, v)
			}
		}
		// Replayed and in any order, the same versions resolve alike.
		again := append(slices.Clone(vs), vs[:r.IntN(len(vs))]...)
		r.Shuffle(len(again), func(i, j int) { again[i], again[j] = again[j], again[i] })
		if got := Resolve(again); !same(got, w) {
			t.Fatalf("reordered, Resolve = %+v, want %+v", got, w)
		}
	}
}

// Clients read a replica and write through nodes whose clocks are up to
// four minutes apart, passing the stamp they read; coordinators ship the
// write to some replicas, and anti-entropy exchanges winners. Every write
// beats the version it read, and once anti-entropy has run everywhere,
// every replica holds the winner of all writes.
func TestReplicasConverge(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const spread = int64(2 * time.Minute)
	for round := 0; round < 200; round++ {
		nodes := make([]skewedNode, 3)
		for i := range nodes {
			nodes[i] = skewedNode{newClock(t, string(rune('a'+i))), r.Int64N(2*spread+1) - spread}
		}
		replicas := make([]Version, len(nodes))
		var writes []Version
		real := t0
		for i := 0; i < 40; i++ {
			real += r.Int64N(int64(10 * time.Millisecond))
			switch r.IntN(3) {
			case 0, 1:
				read := replicas[r.IntN(len(replicas))]
				ci := r.IntN(len(nodes))
				ts, err := nodes[ci].clock.After(read.Stamp, nodes[ci].physical(real))
				if err != nil {
					t.Fatal(err)
				}
				w := Version{Stamp: ts, Deleted: r.IntN(5) == 0}
				if !w.Deleted {
					w.Value = []byte{byte(i)}
				}
				if CompareVersions(w, read) <= 0 {
					t.Fatalf("round %d: write %+v lost to %+v, which it read", round, w, read)
				}
				writes = append(writes, w)
				for j := range replicas {
					if j == ci || r.IntN(2) == 0 {
						if err := nodes[j].clock.Observe(w.Stamp, nodes[j].physical(real)); err != nil {
							t.Fatal(err)
						}
						replicas[j] = Winner(replicas[j], w)
					}
				}
			case 2:
				x, y := r.IntN(len(replicas)), r.IntN(len(replicas))
				m := Winner(replicas[x], replicas[y])
				replicas[x], replicas[y] = m, m
			}
		}
		for x := range replicas {
			for y := range replicas {
				m := Winner(replicas[x], replicas[y])
				replicas[x], replicas[y] = m, m
			}
		}
		want := Resolve(writes)
		for j, got := range replicas {
			if !same(got, want) {
				t.Fatalf("round %d: replica %d holds %+v, want %+v", round, j, got, want)
			}
		}
	}
}
