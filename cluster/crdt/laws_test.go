package crdt

import (
	"math/rand/v2"
	"testing"
)

// Merge is a join: commutative, associative, idempotent, it only inflates,
// and Leq is the order it joins in.
func TestMergeLaws(t *testing.T) {
	for _, k := range allKinds {
		t.Run(k.String(), func(t *testing.T) {
			states := pool(t, 1, k)
			r := rand.New(rand.NewPCG(2, uint64(k)))
			pick := func() State { return states[r.IntN(len(states))] }
			for range 3000 {
				x, y, z := pick(), pick(), pick()
				xy := mustMerge(t, x, y)
				if !same(xy, mustMerge(t, y, x)) {
					t.Fatalf("not commutative:\n%v\n%v", x, y)
				}
				if !same(mustMerge(t, xy, z), mustMerge(t, x, mustMerge(t, y, z))) {
					t.Fatalf("not associative:\n%v\n%v\n%v", x, y, z)
				}
				if !same(mustMerge(t, x, x), x) {
					t.Fatalf("not idempotent: %v", x)
				}
				if !Leq(x, xy) || !Leq(y, xy) {
					t.Fatalf("merge does not inflate:\n%v\n%v\n= %v", x, y, xy)
				}
				if Leq(x, y) != same(xy, y) {
					t.Fatalf("Leq(x, y) = %v, but merging x into y gives %v:\n%v\n%v", Leq(x, y), same(xy, y), x, y)
				}
			}
		})
	}
}

// Merges of states of different kinds are refused; the empty state merges
// with any kind.
func TestMergeKinds(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	counter, set := randState(r, KindCounter), randState(r, KindSet)
	if _, err := Merge(counter, set); err == nil {
		t.Fatal("merged a counter with a set")
	}
	if Leq(counter, set) || Leq(set, counter) {
		t.Fatal("a counter is ordered against a set")
	}
	if m := mustMerge(t, State{}, set); !same(m, set) || !Leq(State{}, set) || Leq(set, State{}) {
		t.Fatal("the empty state is not the bottom")
	}
}

// Shipping every delta, in any order and any number of times, gives the
// same state as shipping full states.
func TestDeltasEqualFullStates(t *testing.T) {
	for _, k := range allKinds {
		t.Run(k.String(), func(t *testing.T) {
			for seed := range uint64(20) {
				r := rand.New(rand.NewPCG(seed, uint64(k)))
				reps, _ := simulate(t, r, k, 200)
				var full State
				var deltas []State
				for _, x := range reps {
					full = mustMerge(t, full, x.state)
					deltas = append(deltas, x.deltas...)
				}
				for range len(deltas) / 3 {
					deltas = append(deltas, deltas[r.IntN(len(deltas))])
				}
				r.Shuffle(len(deltas), func(i, j int) { deltas[i], deltas[j] = deltas[j], deltas[i] })
				var got State
				for _, d := range deltas {
					got = mustMerge(t, got, d)
				}
				if !same(got, full) {
					t.Fatalf("seed %d: deltas give\n%v\nfull states give\n%v", seed, got, full)
				}
			}
		})
	}
}

// One replica's deltas, delivered in reverse, rebuild its state: the dot
// cloud holds the out-of-order dots until the gaps fill.
func TestDeltasOutOfOrder(t *testing.T) {
	a := &replica{actor: actorA}
	for i := range 5 {
		if err := a.update(a.read(), UpdateField{Field: Field{Name: "s", Kind: KindSet}, Op: Add{Element: elements[i%3]}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.update(a.read(), UpdateField{Field: Field{Name: "s", Kind: KindSet}, Op: Remove{Element: "x"}}); err != nil {
		t.Fatal(err)
	}
	var b State
	for i := len(a.deltas) - 1; i >= 0; i-- {
		b = mustMerge(t, b, a.deltas[i])
		if i == len(a.deltas)-1 && len(b.Context().cloud) == 0 {
			t.Fatalf("the last delta alone left no dot in the cloud: %v", b.Context())
		}
	}
	if !same(b, a.state) {
		t.Fatalf("deltas in reverse give\n%v\nwant\n%v", b, a.state)
	}
	if len(b.Context().cloud) != 0 {
		t.Fatalf("cloud left after every delta arrived: %v", b.Context())
	}
}
