package antientropy

import (
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/ring"
)

// scheduleRing is Q=4 over a, b, c, d with N=3: partition p's preference
// list is the owners of p, p+1 and p+2, so b holds 0 (a b c), 1 (b c d)
// and 3 (d a b), and not 2 (c d a).
func scheduleRing(t *testing.T) *ring.Ring {
	t.Helper()
	r, err := ring.New([]string{"a", "b", "c", "d"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestScheduled(t *testing.T) {
	r := scheduleRing(t)
	for _, tc := range []struct {
		name string
		self string
		want []Pair
	}{
		{"only the smaller id of a pair compares it", "b",
			[]Pair{{0, "c"}, {1, "c"}, {1, "d"}, {3, "d"}}},
		{"the smallest id compares every pair it holds", "a",
			[]Pair{{0, "b"}, {0, "c"}, {2, "c"}, {2, "d"}, {3, "d"}, {3, "b"}}},
		{"the greatest id compares none", "d", nil},
		{"a node holding no replica compares nothing", "e", nil},
	} {
		if got := Scheduled(r, 3, tc.self); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Scheduled = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestChosen(t *testing.T) {
	r := scheduleRing(t)
	for _, tc := range []struct {
		name      string
		partition int
		peer      string
		want      []Pair
	}{
		{"every partition and every peer, the greater id's pairs too", -1, "",
			[]Pair{{0, "a"}, {0, "c"}, {1, "c"}, {1, "d"}, {3, "d"}, {3, "a"}}},
		{"one partition with every peer", 1, "",
			[]Pair{{1, "c"}, {1, "d"}}},
		{"one peer in every partition", -1, "a",
			[]Pair{{0, "a"}, {3, "a"}}},
		{"one partition with one peer", 3, "d",
			[]Pair{{3, "d"}}},
		{"a partition this node holds no replica of gives nothing", 2, "",
			nil},
		{"a peer sharing no partition of the choice gives nothing", 1, "a",
			nil},
	} {
		if got := Chosen(r, 3, "b", tc.partition, tc.peer); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Chosen = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRotation(t *testing.T) {
	three := []Pair{{0, "a"}, {1, "b"}, {2, "c"}}
	type tick struct {
		scheduled []Pair
		running   int
		want      Pair
		ok        bool
	}
	for _, tc := range []struct {
		name  string
		ticks []tick
	}{
		{"pairs go round-robin, one a tick", []tick{
			{three, 0, three[0], true}, {three, 0, three[1], true}, {three, 0, three[2], true}, {three, 0, three[0], true}}},
		{"no free slot queues nothing and keeps the turn", []tick{
			{three, 0, three[0], true}, {three, 1, Pair{}, false}, {three, 0, three[1], true}}},
		{"no pair queues nothing", []tick{
			{nil, 0, Pair{}, false}, {three, 0, three[0], true}}},
		{"a list that shrank under the turn wraps around", []tick{
			{three, 0, three[0], true}, {three, 0, three[1], true}, {three[:1], 0, three[0], true}, {three, 0, three[1], true}}},
	} {
		var r Rotation
		for i, k := range tc.ticks {
			got, ok := r.Next(k.scheduled, k.running, 1)
			if got != k.want || ok != k.ok {
				t.Errorf("%s: tick %d: Next = %v, %v, want %v, %v", tc.name, i, got, ok, k.want, k.ok)
			}
		}
	}
}

func TestCrashed(t *testing.T) {
	for _, tc := range []struct {
		name        string
		attempt     int
		maxAttempts int
		wantCrashes int
		wantErr     string // "" means it runs again
	}{
		{"a first crash runs again", 0, 3, 1, ""},
		{"a crash below MaxAttempts runs again", 1, 3, 2, ""},
		{"the MaxAttempts-th crash is reported failed", 2, 3, 3, "crashed 3 times"},
		{"with MaxAttempts 1 a first crash is reported failed", 0, 1, 1, "crashed 1 times"},
	} {
		crashes, err := Crashed(tc.attempt, tc.maxAttempts)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if crashes != tc.wantCrashes || gotErr != tc.wantErr {
			t.Errorf("%s: Crashed = %d, %q, want %d, %q", tc.name, crashes, gotErr, tc.wantCrashes, tc.wantErr)
		}
	}
}
