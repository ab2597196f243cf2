package ring

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"slices"
	"testing"
)

// Parameters of the randomized property tests. The seed is fixed so a
// failure reproduces.
const (
	propertySeed        = 20240601
	maxPropMembers      = 20
	maxPropN            = 5
	spreadKeys          = 1 << 16
	spreadKeyLen        = 16
	spreadTolerance     = 0.30
	partitionOfTrials   = 10000
	maxRandomPartitions = 1 << 20
)

var propPartitionCounts = []int{1, 7, 8, 16, 64, 128, 256}

func mustNew(t testing.TB, members []string, q int) *Ring {
	t.Helper()
	r, err := New(members, q)
	if err != nil {
		t.Fatalf("New(%q, %d): %v", members, q, err)
	}
	return r
}

func TestKeyHashKnownVectors(t *testing.T) {
	tests := []struct {
		key  string
		want uint64
	}{
		{"", 0xda39a3ee5e6b4b0d},    // SHA-1("") = da39a3ee5e6b4b0d...
		{"abc", 0xa9993e364706816a}, // SHA-1("abc") = a9993e364706816a...
	}
	for _, tt := range tests {
		if got := KeyHash([]byte(tt.key)); got != tt.want {
			t.Errorf("KeyHash(%q) = %#x, want %#x", tt.key, got, tt.want)
		}
	}
}

func TestPartitionOfBoundaries(t *testing.T) {
	tests := []struct {
		hash uint64
		q    int
		want int
	}{
		{0, 1, 0},
		{math.MaxUint64, 1, 0},
		{0, 4, 0},
		{1<<62 - 1, 4, 0},
		{1 << 62, 4, 1},
		{1 << 63, 4, 2},
		{3 << 62, 4, 3},
		{math.MaxUint64, 4, 3},
		// q=3: partition 1 starts at ceil(2^64/3) = 0x5555555555555556.
		{0x5555555555555555, 3, 0},
		{0x5555555555555556, 3, 1},
		{0xaaaaaaaaaaaaaaaa, 3, 1},
		{0xaaaaaaaaaaaaaaab, 3, 2},
		{math.MaxUint64, 3, 2},
	}
	for _, tt := range tests {
		if got := PartitionOf(tt.hash, tt.q); got != tt.want {
			t.Errorf("PartitionOf(%#x, %d) = %d, want %d", tt.hash, tt.q, got, tt.want)
		}
	}
}

func TestPartitionOfMatchesBigArithmetic(t *testing.T) {
	rng := rand.New(rand.NewSource(propertySeed))
	ring := new(big.Int).Lsh(big.NewInt(1), 64)
	for range partitionOfTrials {
		hash := rng.Uint64()
		q := 1 + rng.Intn(maxRandomPartitions)
		// floor(hash * q / 2^64)
		want := new(big.Int).Mul(new(big.Int).SetUint64(hash), big.NewInt(int64(q)))
		want.Div(want, ring)
		got := PartitionOf(hash, q)
		if int64(got) != want.Int64() || got < 0 || got >= q {
			t.Fatalf("PartitionOf(%#x, %d) = %d, want %d", hash, q, got, want.Int64())
		}
	}
}

func TestPartitionOfPanicsOnBadQ(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("PartitionOf(_, 0) did not panic")
		}
	}()
	PartitionOf(1, 0)
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		members []string
		q       int
		want    error
	}{
		{"zero partitions", []string{"a"}, 0, ErrInvalidPartitions},
		{"negative partitions", []string{"a"}, -1, ErrInvalidPartitions},
		{"nil members", nil, DefaultPartitions, ErrNoMembers},
		{"empty members", []string{}, DefaultPartitions, ErrNoMembers},
		{"empty id", []string{"a", ""}, DefaultPartitions, ErrInvalidMember},
		{"duplicate id", []string{"b", "a", "b"}, DefaultPartitions, ErrInvalidMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.members, tt.q)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New(%q, %d) error = %v, want %v", tt.members, tt.q, err, tt.want)
			}
			if r != nil {
				t.Fatalf("New returned a ring with error %v", err)
			}
		})
	}
}

func TestSmallRings(t *testing.T) {
	type prefCase struct {
		partition int
		n         int
		want      []string
	}
	tests := []struct {
		name    string
		members []string
		q       int
		owners  []string
		owned   map[string][]int
		prefs   []prefCase
	}{
		{
			name:    "single node",
			members: []string{"solo"},
			q:       4,
			owners:  []string{"solo", "solo", "solo", "solo"},
			owned:   map[string][]int{"solo": {0, 1, 2, 3}, "other": nil},
			prefs: []prefCase{
				{0, 1, []string{"solo"}},
				{3, 3, []string{"solo"}},
				{2, 0, nil},
			},
		},
		{
			name:    "three nodes, q multiple of members",
			members: []string{"c", "a", "b"},
			q:       6,
			owners:  []string{"a", "b", "c", "a", "b", "c"},
			owned:   map[string][]int{"a": {0, 3}, "b": {1, 4}, "c": {2, 5}},
			prefs: []prefCase{
				{0, 3, []string{"a", "b", "c"}},
				{4, 3, []string{"b", "c", "a"}},
				{5, 2, []string{"c", "a"}},
				{5, 5, []string{"c", "a", "b"}},
				{1, -1, nil},
			},
		},
		{
			name:    "three nodes, wrap repeats owner",
			members: []string{"b", "c", "a"},
			q:       7,
			owners:  []string{"a", "b", "c", "a", "b", "c", "a"},
			owned:   map[string][]int{"a": {0, 3, 6}, "b": {1, 4}, "c": {2, 5}},
			prefs: []prefCase{
				// Partitions 6 and 0 are both a's: the walk skips 0.
				{6, 2, []string{"a", "b"}},
				{6, 3, []string{"a", "b", "c"}},
				{5, 3, []string{"c", "a", "b"}},
			},
		},
		{
			name:    "two nodes, n above members",
			members: []string{"n2", "n1"},
			q:       8,
			owners:  []string{"n1", "n2", "n1", "n2", "n1", "n2", "n1", "n2"},
			owned:   map[string][]int{"n1": {0, 2, 4, 6}, "n2": {1, 3, 5, 7}},
			prefs: []prefCase{
				{7, 3, []string{"n2", "n1"}},
				{0, 1, []string{"n1"}},
			},
		},
		{
			name:    "more members than partitions",
			members: []string{"d", "c", "b", "a"},
			q:       2,
			owners:  []string{"a", "b"},
			owned:   map[string][]int{"a": {0}, "b": {1}, "c": nil, "d": nil},
			prefs: []prefCase{
				// c and d own nothing, so only two replicas exist.
				{1, 3, []string{"b", "a"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, tt.members, tt.q)
			if got := r.Partitions(); got != tt.q {
				t.Errorf("Partitions() = %d, want %d", got, tt.q)
			}
			sorted := slices.Sorted(slices.Values(tt.members))
			if got := r.Members(); !slices.Equal(got, sorted) {
				t.Errorf("Members() = %q, want %q", got, sorted)
			}
			if got := r.Owners(); !slices.Equal(got, tt.owners) {
				t.Errorf("Owners() = %q, want %q", got, tt.owners)
			}
			for p, want := range tt.owners {
				if got := r.Owner(p); got != want {
					t.Errorf("Owner(%d) = %q, want %q", p, got, want)
				}
			}
			for node, want := range tt.owned {
				if got := r.OwnedBy(node); !slices.Equal(got, want) {
					t.Errorf("OwnedBy(%q) = %v, want %v", node, got, want)
				}
			}
			for _, pc := range tt.prefs {
				if got := r.PreferenceListForPartition(pc.partition, pc.n); !slices.Equal(got, pc.want) {
					t.Errorf("PreferenceListForPartition(%d, %d) = %q, want %q", pc.partition, pc.n, got, pc.want)
				}
			}
			for _, m := range tt.members {
				if !r.Contains(m) {
					t.Errorf("Contains(%q) = false", m)
				}
			}
			if r.Contains("not-a-member") {
				t.Error(`Contains("not-a-member") = true`)
			}
		})
	}
}

func TestPreferenceListForKey(t *testing.T) {
	r := mustNew(t, []string{"n1", "n2", "n3", "n4", "n5"}, DefaultPartitions)
	for _, key := range []string{"", "user:1", "user:2", "cart/42"} {
		p := PartitionOf(KeyHash([]byte(key)), DefaultPartitions)
		if got := r.PartitionForKey([]byte(key)); got != p {
			t.Errorf("PartitionForKey(%q) = %d, want %d", key, got, p)
		}
		want := r.PreferenceListForPartition(p, 3)
		if got := r.PreferenceList([]byte(key), 3); !slices.Equal(got, want) {
			t.Errorf("PreferenceList(%q, 3) = %q, want %q", key, got, want)
		}
	}
}

func TestPreferenceListForPartitionPanicsOutOfRange(t *testing.T) {
	r := mustNew(t, []string{"a", "b"}, 4)
	for _, p := range []int{-1, 4} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("PreferenceListForPartition(%d, 1) did not panic", p)
				}
			}()
			r.PreferenceListForPartition(p, 1)
		}()
	}
}

func TestRingIsImmutable(t *testing.T) {
	input := []string{"b", "a", "c"}
	r := mustNew(t, input, 6)
	input[0] = "zzz"
	members := r.Members()
	members[0] = "mutated"
	owners := r.Owners()
	owners[0] = "mutated"
	pl := r.PreferenceListForPartition(0, 2)
	pl[0] = "mutated"

	if got, want := r.Members(), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("Members() = %q after mutations, want %q", got, want)
	}
	if got := r.Owner(0); got != "a" {
		t.Errorf("Owner(0) = %q after mutations, want a", got)
	}
	if got := r.PreferenceListForPartition(0, 2); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("PreferenceListForPartition(0, 2) = %q after mutations", got)
	}
}

// randomMembers returns m distinct random node ids.
func randomMembers(rng *rand.Rand, m int) []string {
	seen := make(map[string]bool, m)
	ids := make([]string, 0, m)
	for len(ids) < m {
		id := fmt.Sprintf("node-%x", rng.Uint32())
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// checkPreferenceList asserts the documented invariants of
// PreferenceListForPartition(p, n) on r.
func checkPreferenceList(t testing.TB, r *Ring, p, n int, got []string) {
	t.Helper()
	q := r.Partitions()
	want := min(max(n, 0), len(r.Members()), q)
	if len(got) != want {
		t.Fatalf("q=%d members=%d p=%d n=%d: got %d nodes %q, want %d", q, len(r.Members()), p, n, len(got), got, want)
	}
	if want == 0 {
		return
	}
	if got[0] != r.Owner(p) {
		t.Fatalf("p=%d n=%d: list %q does not start with owner %q", p, n, got, r.Owner(p))
	}
	// Walking clockwise from p, each newly seen owner must be the next list
	// entry: this checks distinctness, membership and order at once.
	next := 0
	for step := 0; step < q && next < len(got); step++ {
		owner := r.Owner((p + step) % q)
		if slices.Contains(got[:next], owner) {
			continue
		}
		if got[next] != owner {
			t.Fatalf("p=%d n=%d: list %q, entry %d should be %q", p, n, got, next, owner)
		}
		next++
	}
	if next != len(got) {
		t.Fatalf("p=%d n=%d: list %q has entries not found by walking the ring", p, n, got)
	}
}

func TestRingProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(propertySeed))
	for m := 1; m <= maxPropMembers; m++ {
		for _, q := range propPartitionCounts {
			members := randomMembers(rng, m)
			r := mustNew(t, members, q)

			// Input order must not matter.
			shuffled := slices.Clone(members)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if r2 := mustNew(t, shuffled, q); !slices.Equal(r.Owners(), r2.Owners()) {
				t.Fatalf("m=%d q=%d: owners depend on member order", m, q)
			}

			// Balance within ±1, and OwnedBy agrees with Owners.
			lo, hi := q/m, (q+m-1)/m
			total := 0
			for _, node := range members {
				owned := r.OwnedBy(node)
				if len(owned) < lo || len(owned) > hi {
					t.Fatalf("m=%d q=%d: %s owns %d partitions, want %d..%d", m, q, node, len(owned), lo, hi)
				}
				for _, p := range owned {
					if r.Owner(p) != node {
						t.Fatalf("m=%d q=%d: OwnedBy(%s) includes %d owned by %s", m, q, node, p, r.Owner(p))
					}
				}
				total += len(owned)
			}
			if total != q {
				t.Fatalf("m=%d q=%d: OwnedBy covers %d partitions", m, q, total)
			}

			for n := 1; n <= maxPropN; n++ {
				// Non-wrapping windows of min(n, m) partitions have distinct owners.
				w := min(n, m)
				for start := 0; start+w <= q; start++ {
					window := r.Owners()[start : start+w]
					if len(slices.Compact(slices.Sorted(slices.Values(window)))) != w {
						t.Fatalf("m=%d q=%d n=%d: window at %d has repeated owners %q", m, q, n, start, window)
					}
				}
				for p := range q {
					checkPreferenceList(t, r, p, n, r.PreferenceListForPartition(p, n))
				}
			}
		}
	}
}

func TestKeysSpreadEvenly(t *testing.T) {
	rng := rand.New(rand.NewSource(propertySeed))
	counts := make([]int, DefaultPartitions)
	key := make([]byte, spreadKeyLen)
	for range spreadKeys {
		rng.Read(key)
		p := PartitionOf(KeyHash(key), DefaultPartitions)
		if p < 0 || p >= DefaultPartitions {
			t.Fatalf("PartitionOf out of range: %d", p)
		}
		counts[p]++
	}
	mean := float64(spreadKeys) / DefaultPartitions
	for p, c := range counts {
		if math.Abs(float64(c)-mean) > spreadTolerance*mean {
			t.Errorf("partition %d got %d keys, mean %.0f (tolerance %.0f%%)", p, c, mean, spreadTolerance*100)
		}
	}
}

// fuzzRings are fixed rings covering the interesting shapes: one member,
// Q a multiple of M, Q not a multiple of M (wrapping repeats), and more
// members than partitions.
func fuzzRings(t testing.TB) []*Ring {
	return []*Ring{
		mustNew(t, []string{"solo"}, 1),
		mustNew(t, []string{"n1", "n2", "n3", "n4"}, DefaultPartitions),
		mustNew(t, []string{"a", "b", "c"}, 7),
		mustNew(t, []string{"e", "d", "c", "b", "a"}, 3),
	}
}

func FuzzPreferenceList(f *testing.F) {
	f.Add([]byte(""), 3)
	f.Add([]byte("user:1"), 1)
	f.Add([]byte("cart/42"), 5)
	f.Add([]byte{0xff, 0x00}, 0)
	f.Add([]byte("x"), -7)
	f.Add([]byte("y"), math.MaxInt)
	rings := fuzzRings(f)
	f.Fuzz(func(t *testing.T, key []byte, n int) {
		for _, r := range rings {
			p := r.PartitionForKey(key)
			if p < 0 || p >= r.Partitions() {
				t.Fatalf("PartitionForKey(%q) = %d, out of [0, %d)", key, p, r.Partitions())
			}
			got := r.PreferenceList(key, n)
			checkPreferenceList(t, r, p, n, got)
			if again := r.PreferenceList(key, n); !slices.Equal(got, again) {
				t.Fatalf("PreferenceList(%q, %d) not deterministic: %q then %q", key, n, got, again)
			}
		}
	})
}
