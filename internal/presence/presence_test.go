package presence

import (
	"fmt"
	"sync"
	"testing"
)

func key(i int) []byte { return []byte(fmt.Sprintf("key-%08d", i)) }

func TestIndex(t *testing.T) {
	small := Config{InitialKeys: 64, Growth: 2, BitsPerKey: 10}
	for _, tc := range []struct {
		name  string
		cfg   Config
		added int
		// maxFalse bounds the share of never-added keys said to be held.
		maxFalse float64
	}{
		{"an empty space holds nothing", small, 0, 0},
		{"every key added is held; few others seem to be", small, 50, 0.03},
		{"filters added as keys come keep false answers bounded", small, 20000, 0.08},
		{"the defaults at a hundred thousand keys", DefaultConfig(), 100000, 0.04},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := New(tc.cfg)
			s := Space{Prefix: 'd', Partition: 3}
			for i := 0; i < tc.added; i++ {
				x.Add(s, key(i))
			}
			for i := 0; i < tc.added; i++ {
				if !x.MayHold(s, key(i)) {
					t.Fatalf("key %d was added but is not held", i)
				}
			}
			const probes = 20000
			false_ := 0
			for i := 0; i < probes; i++ {
				if x.MayHold(s, key(tc.added+1+i)) {
					false_++
				}
			}
			if rate := float64(false_) / probes; rate > tc.maxFalse {
				t.Fatalf("%.3f of keys never added seem held, want at most %.3f", rate, tc.maxFalse)
			}
		})
	}
}

func TestSpacesAreApart(t *testing.T) {
	x := New(DefaultConfig())
	x.Add(Space{'d', 1}, []byte("k"))
	for _, s := range []Space{{'d', 2}, {'p', 1}} {
		if x.MayHold(s, []byte("k")) {
			t.Errorf("%+v holds a key added only to another space", s)
		}
	}
	if !x.MayHold(Space{'d', 1}, []byte("k")) {
		t.Error("the key is not held where it was added")
	}
}

func TestAddingAKeyAgainTakesNoRoom(t *testing.T) {
	x := New(Config{InitialKeys: 16, Growth: 2, BitsPerKey: 10})
	s := Space{'d', 0}
	for i := 0; i < 1000; i++ {
		x.Add(s, []byte("same"))
	}
	before := x.Bytes()
	if before == 0 {
		t.Fatal("no filter was made")
	}
	for i := 0; i < 1000; i++ {
		x.Add(s, []byte("same"))
	}
	if x.Bytes() != before {
		t.Fatalf("writing one key again grew the filters from %d to %d bytes", before, x.Bytes())
	}
}

func TestConcurrentAddsAndReads(t *testing.T) {
	x := New(Config{InitialKeys: 32, Growth: 2, BitsPerKey: 10})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := Space{'d', w % 2}
			for i := 0; i < 5000; i++ {
				k := key(w*10000 + i)
				x.Add(s, k)
				if !x.MayHold(s, k) {
					t.Errorf("key %q not held right after its add", k)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkMayHoldAbsent(b *testing.B) {
	x := New(DefaultConfig())
	s := Space{'d', 0}
	for i := 0; i < 100000; i++ {
		x.Add(s, key(i))
	}
	k := key(1 << 30)
	b.ReportAllocs()
	for b.Loop() {
		x.MayHold(s, k)
	}
}
