package replica

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/merkle"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/object/objecttest"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

var (
	t0   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	self = vclock.Actor{Node: "n1", Incarnation: 7}
)

// store is a partition's stored objects, encoded as the store keeps them.
type store map[string][]byte

func (s store) read(key []byte) ([]object.Sibling, error) {
	b, ok := s[string(key)]
	if !ok {
		return nil, nil
	}
	return object.Decode(b)
}

// commit applies a partition's batch as the vnode does with pebble.
func (s store) commit(t *testing.T, p *Partition) []Hint {
	t.Helper()
	writes, hints := p.Batch()
	for _, w := range writes {
		if len(w.Siblings) == 0 {
			delete(s, string(w.Key))
			continue
		}
		b, err := object.Encode(w.Siblings)
		if err != nil {
			t.Fatal(err)
		}
		s[string(w.Key)] = b
	}
	p.Committed(nil)
	return hints
}

// chunks reads the store in key order after after, as Scan does.
func (s store) chunk(after []byte, max int) (out []Stored, more bool) {
	keys := make([]string, 0, len(s))
	for k := range s {
		if after == nil || k > string(after) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > max {
		keys, more = keys[:max], true
	}
	for _, k := range keys {
		out = append(out, Stored{Key: []byte(k), Value: s[k]})
	}
	return out, more
}

func newPartition(t *testing.T, s store) *Partition {
	t.Helper()
	p, err := New(Config{Self: self, MaxClockEntries: 64}, s.read)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func encode(t *testing.T, set ...object.Sibling) []byte {
	t.Helper()
	b, err := object.Encode(object.Merge(nil, set))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rebuilt returns the root of a tree rebuilt from s alone.
func rebuilt(t *testing.T, s store) merkle.Hash {
	p := newPartition(t, s)
	p.StartRebuild()
	for p.Rebuilding() {
		c, more := s.chunk(p.RebuildFrom(), 3)
		p.Rebuilt(c, more)
	}
	return p.Root()
}

func dots(set []object.Sibling) []string {
	var out []string
	for _, s := range set {
		out = append(out, s.Dot.String())
	}
	return out
}

func TestWrites(t *testing.T) {
	v1 := objecttest.Version("v1", "n2", 1, t0)
	v2 := objecttest.Version("v2", "n3", 1, t0) // concurrent with v1
	for _, tc := range []struct {
		name     string
		stored   []object.Sibling
		write    func(t *testing.T, p *Partition) (changed bool, err error)
		wantDots []string
		changed  bool
		err      error
	}{
		{
			name:   "a client write is stamped with this replica's dot and supersedes what its context covers",
			stored: []object.Sibling{v1},
			write: func(t *testing.T, p *Partition) (bool, error) {
				_, dot, err := p.Coordinate(ClientWrite{Key: []byte("k"), Value: []byte("x"), Context: object.Context([]object.Sibling{v1})}, 5, t0)
				if want := (vclock.Dot{Actor: self, Counter: 5}); dot != want {
					t.Errorf("dot %v, want %v", dot, want)
				}
				return true, err
			},
			wantDots: []string{"n1/7:5"}, changed: true,
		},
		{
			name:   "a client write whose context misses a stored version becomes its sibling",
			stored: []object.Sibling{v1},
			write: func(t *testing.T, p *Partition) (bool, error) {
				_, _, err := p.Coordinate(ClientWrite{Key: []byte("k"), Value: []byte("x")}, 5, t0)
				return true, err
			},
			wantDots: []string{"n1/7:5", "n2/1:1"}, changed: true,
		},
		{
			name: "a client write to the empty key is refused and stages nothing",
			write: func(t *testing.T, p *Partition) (bool, error) {
				_, _, err := p.Coordinate(ClientWrite{Value: []byte("x")}, 5, t0)
				return false, err
			},
			err: object.ErrEmptyKey,
		},
		{
			name:   "a replica write that brings nothing new stages nothing (a replay costs no write)",
			stored: []object.Sibling{v1},
			write:  func(t *testing.T, p *Partition) (bool, error) { return p.Merge([]byte("k"), []object.Sibling{v1}) },
			// nothing staged: the stored object stays
			wantDots: []string{"n2/1:1"},
		},
		{
			name:     "a replica write with a concurrent version is staged beside the stored one",
			stored:   []object.Sibling{v1},
			write:    func(t *testing.T, p *Partition) (bool, error) { return p.Merge([]byte("k"), []object.Sibling{v2}) },
			wantDots: []string{"n2/1:1", "n3/1:1"}, changed: true,
		},
		{
			name:   "a replica write older than the stored version changes nothing",
			stored: []object.Sibling{objecttest.Version("v3", "n3", 2, t0, v1)},
			write:  func(t *testing.T, p *Partition) (bool, error) { return p.Merge([]byte("k"), []object.Sibling{v1}) },
			// the newer version stays
			wantDots: []string{"n3/1:2"},
		},
		{
			name:  "a replica write to the empty key is refused",
			write: func(t *testing.T, p *Partition) (bool, error) { return p.Merge(nil, []object.Sibling{v1}) },
			err:   object.ErrEmptyKey,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := store{}
			if tc.stored != nil {
				s["k"] = encode(t, tc.stored...)
			}
			p := newPartition(t, s)
			p.StartRebuild()
			c, more := s.chunk(nil, 10)
			p.Rebuilt(c, more)
			before := p.Root()
			changed, err := tc.write(t, p)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if changed != tc.changed {
				t.Fatalf("changed = %v, want %v", changed, tc.changed)
			}
			if p.Pending() != tc.changed || p.Staged([]byte("k")) != tc.changed {
				t.Fatalf("pending %v, staged %v; want %v", p.Pending(), p.Staged([]byte("k")), tc.changed)
			}
			if (p.Root() != before) != tc.changed {
				t.Fatalf("tree moved: %v, want %v", p.Root() != before, tc.changed)
			}
			got, err := p.Load([]byte("k"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.err == nil && !slices.Equal(dots(got), tc.wantDots) {
				t.Fatalf("load sees %v, want %v", dots(got), tc.wantDots)
			}
			s.commit(t, p)
			if p.Pending() || p.Staged([]byte("k")) {
				t.Fatal("still pending after the commit")
			}
			if p.Root() != rebuilt(t, s) {
				t.Fatal("the tree differs from one rebuilt from the store")
			}
		})
	}
}

// A hint goes with the next batch, for its target, and does not change
// the replica's own object or tree.
func TestHintsGoWithTheBatch(t *testing.T) {
	s := store{}
	p := newPartition(t, s)
	in := []object.Sibling{objecttest.Version("v", "n2", 1, t0)}
	root := p.Root()
	p.KeepHint([]byte("k"), in, "n3")
	if !p.Pending() || p.Staged([]byte("k")) || p.Root() != root {
		t.Fatalf("pending %v, staged %v, tree moved %v", p.Pending(), p.Staged([]byte("k")), p.Root() != root)
	}
	hints := s.commit(t, p)
	if len(hints) != 1 || hints[0].For != "n3" || string(hints[0].Key) != "k" || len(s) != 0 {
		t.Fatalf("hints %+v, store %v", hints, s)
	}
	if p.Pending() {
		t.Fatal("the hint is still pending after the commit")
	}
}

func TestReap(t *testing.T) {
	live := objecttest.Version("v", "n2", 1, t0)
	tomb := objecttest.Tombstone("n2", 2, t0, live)
	newer := objecttest.Version("again", "n3", 1, t0.Add(time.Minute), tomb)
	digest := object.VersionDigest([]object.Sibling{tomb})
	for _, tc := range []struct {
		name      string
		stored    []object.Sibling // nil: the key is absent
		commit    bool
		holds     bool
		reaped    int
		remaining bool // the key is still stored after the commit
	}{
		{"the same tombstone is held and, on commit, deleted", []object.Sibling{tomb}, true, true, 1, false},
		{"asking without commit deletes nothing", []object.Sibling{tomb}, false, true, 0, true},
		{"a replica that holds nothing for the key holds the tombstone", nil, true, true, 0, false},
		{"a newer version written after the delete is not held and stays", []object.Sibling{newer}, true, false, 0, true},
		{"a live value is not held and stays", []object.Sibling{live}, true, false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := store{}
			if tc.stored != nil {
				s["k"] = encode(t, tc.stored...)
			}
			p := newPartition(t, s)
			holds, reaped, err := p.Reap([]ReapEntry{{Key: []byte("k"), Digest: digest}}, tc.commit)
			if err != nil || len(holds) != 1 || holds[0] != tc.holds || reaped != tc.reaped {
				t.Fatalf("holds %v, reaped %d, err %v", holds, reaped, err)
			}
			s.commit(t, p)
			if _, ok := s["k"]; ok != tc.remaining {
				t.Fatalf("key stored after the commit: %v, want %v", ok, tc.remaining)
			}
		})
	}
}

// The tombstone index follows every write: a tombstone past its grace is a
// candidate at its version; one within grace, a live key, or a tombstone
// overwritten by a new value is not.
func TestReapCandidates(t *testing.T) {
	s := store{}
	p := newPartition(t, s)
	rule := reap.Config{Grace: time.Hour}
	old := objecttest.Tombstone("n2", 1, t0)
	young := objecttest.Tombstone("n2", 2, t0.Add(59*time.Minute))
	revived := objecttest.Tombstone("n2", 3, t0)
	for key, set := range map[string][]object.Sibling{"old": {old}, "young": {young}, "live": {objecttest.Version("v", "n2", 4, t0)}, "revived": {revived}} {
		if _, err := p.Merge([]byte(key), set); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Merge([]byte("revived"), []object.Sibling{objecttest.Version("back", "n3", 1, t0, revived)}); err != nil {
		t.Fatal(err)
	}
	if p.Tombstones() != 2 {
		t.Fatalf("%d tombstones indexed, want old and young", p.Tombstones())
	}
	got := p.ReapCandidates(rule, t0.Add(time.Hour+time.Second), 10)
	if len(got) != 1 || string(got[0].Key) != "old" || !bytes.Equal(got[0].Digest, object.VersionDigest([]object.Sibling{old})) {
		t.Fatalf("candidates %+v, want old at its version", got)
	}
	if got := p.ReapCandidates(rule, t0.Add(2*time.Hour), 1); len(got) != 1 {
		t.Fatalf("max 1 gave %d candidates", len(got))
	}
	if (reap.Config{}).Due(old.WrittenAt, t0.Add(time.Hour*24)) {
		t.Fatal("grace 0 (reaping off) made a tombstone due")
	}
}

// A failed commit leaves the store without the batch: the tree and index,
// which showed it, are reset and rebuilt from the store.
func TestFailedCommitRebuilds(t *testing.T) {
	s := store{"a": encode(t, objecttest.Version("v", "n2", 1, t0))}
	p := newPartition(t, s)
	p.StartRebuild()
	c, more := s.chunk(nil, 10)
	p.Rebuilt(c, more)
	if _, _, err := p.Coordinate(ClientWrite{Key: []byte("b"), Value: []byte("x")}, 1, t0); err != nil {
		t.Fatal(err)
	}
	if !p.Committed(errors.New("disk full")) || !p.Rebuilding() || p.Pending() {
		t.Fatalf("after a failed commit: rebuilding %v, pending %v", p.Rebuilding(), p.Pending())
	}
	if _, ready, _ := p.TreeNodes(0, []int{0}); ready {
		t.Fatal("the tree answers while it rebuilds")
	}
	for p.Rebuilding() {
		c, more := s.chunk(p.RebuildFrom(), 10)
		p.Rebuilt(c, more)
	}
	if p.Root() != rebuilt(t, s) {
		t.Fatal("the tree still shows the failed write")
	}
}

// Property: whatever writes arrive while the tree is rebuilt, chunk by
// chunk, the tree ends equal to one rebuilt from the store, and the
// tombstone index counts the store's tombstones.
func TestTreeMatchesStoreWhateverTheInterleaving(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		s := store{}
		key := func() []byte { return fmt.Appendf(nil, "k%02d", rng.IntN(40)) }
		counter := uint64(0)
		for range 30 { // what the store held before the start
			counter++
			s[string(key())] = encode(t, objecttest.Version("v", "n2", counter, t0))
		}
		p := newPartition(t, s)
		p.StartRebuild()
		for step := 0; p.Rebuilding() || step < 60; step++ {
			switch rng.IntN(6) {
			case 0, 1:
				c, more := s.chunk(p.RebuildFrom(), 1+rng.IntN(5))
				p.Rebuilt(c, more)
			case 2:
				counter++
				if _, _, err := p.Coordinate(ClientWrite{Key: key(), Value: []byte("c"), Deleted: rng.IntN(3) == 0}, counter, t0); err != nil {
					t.Fatal(err)
				}
			case 3:
				counter++
				if _, err := p.Merge(key(), []object.Sibling{objecttest.Version("m", "n3", counter, t0)}); err != nil {
					t.Fatal(err)
				}
			case 4:
				k := key()
				set, _ := p.Load(k)
				if _, tomb := object.Tombstone(set); tomb {
					if _, _, err := p.Reap([]ReapEntry{{Key: k, Digest: object.VersionDigest(set)}}, true); err != nil {
						t.Fatal(err)
					}
				}
			case 5:
				s.commit(t, p)
			}
		}
		s.commit(t, p)
		if p.Root() != rebuilt(t, s) {
			t.Fatalf("seed %d: the tree differs from one rebuilt from the store", seed)
		}
		tombs := 0
		for k := range s {
			set, _ := s.read([]byte(k))
			if _, ok := object.Tombstone(set); ok {
				tombs++
			}
		}
		if p.Tombstones() != tombs {
			t.Fatalf("seed %d: %d tombstones indexed, the store holds %d", seed, p.Tombstones(), tombs)
		}
	}
}

// Dropping the partition empties the tree and the index.
func TestDroppedEmptiesTheIndex(t *testing.T) {
	s := store{}
	p := newPartition(t, s)
	empty := p.Root()
	if _, err := p.Merge([]byte("k"), []object.Sibling{objecttest.Tombstone("n2", 1, t0)}); err != nil {
		t.Fatal(err)
	}
	s.commit(t, p)
	p.Dropped()
	if p.Root() != empty || p.Tombstones() != 0 {
		t.Fatal("the index still shows the dropped partition")
	}
}
