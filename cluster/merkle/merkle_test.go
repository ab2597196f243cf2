package merkle

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func mustNew(t testing.TB, c Config) *Tree {
	t.Helper()
	tr, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{{1, 3}, {3, 2}, {16, 0}, {1024, 4}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if DefaultConfig().Leaves() < 1024 {
		t.Fatal("default tree has fewer than 1,024 leaf buckets")
	}
}

func TestInsertRemoveUpdate(t *testing.T) {
	a, b := mustNew(t, DefaultConfig()), mustNew(t, DefaultConfig())
	empty := a.Root()
	a.Insert([]byte("k1"), []byte("v1"))
	if a.Root() == empty {
		t.Fatal("insert did not change the root")
	}
	a.Update([]byte("k1"), []byte("v1"), []byte("v2"))
	b.Insert([]byte("k1"), []byte("v2"))
	if a.Root() != b.Root() {
		t.Fatal("update differs from inserting the new version")
	}
	a.Remove([]byte("k1"), []byte("v2"))
	if a.Root() != empty {
		t.Fatal("removing the only key did not empty the tree")
	}
	a.Update([]byte("k1"), nil, []byte("v2"))
	if a.Root() != b.Root() {
		t.Fatal("update from absent differs from inserting")
	}
	a.Update([]byte("k1"), []byte("v2"), nil)
	if a.Root() != empty {
		t.Fatal("update to absent did not remove the key")
	}
	// Order does not matter.
	x, y := mustNew(t, DefaultConfig()), mustNew(t, DefaultConfig())
	for i := 0; i < 100; i++ {
		x.Insert([]byte(fmt.Sprint(i)), []byte("d"))
		y.Insert([]byte(fmt.Sprint(99-i)), []byte("d"))
	}
	if x.Root() != y.Root() {
		t.Fatal("insert order changed the root")
	}
}

// naive compares two replicas key by key and returns the buckets that differ.
func naive(t *Tree, a, b map[string]string) []int {
	set := map[int]bool{}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			set[t.Bucket([]byte(k))] = true
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			set[t.Bucket([]byte(k))] = true
		}
	}
	out := make([]int, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func build(t testing.TB, c Config, m map[string]string) *Tree {
	tr := mustNew(t, c)
	for k, v := range m {
		tr.Insert([]byte(k), []byte(v))
	}
	return tr
}

func TestDiffMatchesNaiveComparison(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for trial := 0; trial < 200; trial++ {
		c := Config{Fanout: 1 << (1 + r.IntN(4)), Depth: 1 + r.IntN(3)}
		a := map[string]string{}
		for i, n := 0, r.IntN(500); i < n; i++ {
			a[fmt.Sprint("k", r.IntN(1000))] = fmt.Sprint("v", r.IntN(3))
		}
		b := map[string]string{}
		for k, v := range a {
			switch r.IntN(20) {
			case 0: // missing on b
			case 1: // stale on b
				b[k] = v + "-old"
			default:
				b[k] = v
			}
		}
		for i, n := 0, r.IntN(5); i < n; i++ { // only on b
			b[fmt.Sprint("extra", i)] = "x"
		}
		ta, tb := build(t, c, a), build(t, c, b)
		got, _, err := Diff(ta, tb)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if want := naive(ta, a, b); !slices.Equal(got, want) {
			t.Fatalf("trial %d %+v: Diff %v, naive %v", trial, c, got, want)
		}
	}
}

func TestIdenticalTreesExchangeOnlyTheRoot(t *testing.T) {
	m := map[string]string{}
	for i := 0; i < 10000; i++ {
		m[fmt.Sprint(i)] = "v"
	}
	a, b := build(t, DefaultConfig(), m), build(t, DefaultConfig(), m)
	diff, sent, err := Diff(a, b)
	if err != nil || len(diff) != 0 || sent != 1 {
		t.Fatalf("identical trees: diff %v, %d hashes sent, %v", diff, sent, err)
	}
	b.Update([]byte("42"), []byte("v"), []byte("w"))
	diff, sent, _ = Diff(a, b)
	c := DefaultConfig()
	if len(diff) != 1 || diff[0] != a.Bucket([]byte("42")) || sent != 1+c.Depth*c.Fanout {
		t.Fatalf("one changed key: diff %v, %d hashes sent", diff, sent)
	}
}

func TestDiffRejectsDifferentShapes(t *testing.T) {
	if _, _, err := Diff(mustNew(t, Config{16, 2}), mustNew(t, Config{16, 3})); err == nil {
		t.Fatal("trees of different shapes compared")
	}
}

// FuzzDiff: for any two key sets, Diff finds exactly the differing buckets.
func FuzzDiff(f *testing.F) {
	f.Add([]byte("abc"), []byte("abd"), uint8(3))
	f.Fuzz(func(t *testing.T, x, y []byte, shape uint8) {
		c := Config{Fanout: 1 << (1 + shape%4), Depth: 1 + int(shape/4)%3}
		a, b := map[string]string{}, map[string]string{}
		for i := 0; i+1 < len(x); i += 2 {
			a[string(x[i:i+1])] = string(x[i+1 : i+2])
		}
		for i := 0; i+1 < len(y); i += 2 {
			b[string(y[i:i+1])] = string(y[i+1 : i+2])
		}
		ta, tb := build(t, c, a), build(t, c, b)
		got, _, err := Diff(ta, tb)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if want := naive(ta, a, b); !slices.Equal(got, want) {
			t.Fatalf("Diff %v, naive %v", got, want)
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	tr := mustNew(b, DefaultConfig())
	key := []byte("some-key-of-moderate-length")
	for i := 0; i < b.N; i++ {
		tr.Update(key, []byte("old"), []byte("new"))
	}
}
