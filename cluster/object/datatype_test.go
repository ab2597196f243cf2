package object

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// counterDelta is the delta of an increment of field f by actor a, over
// state s, as a CRDT version with dot (a, n).
func counterDelta(t *testing.T, s crdt.State, a vclock.Actor, n uint64, by int64) (crdt.State, Sibling) {
	t.Helper()
	next, d, err := crdt.Apply(s, crdt.Update{Actor: a, Ops: []crdt.Op{crdt.UpdateField{Field: crdt.Field{Name: "n", Kind: crdt.KindCounter}, Op: crdt.Increment{By: by}}}}, DatatypeLimits)
	if err != nil {
		t.Fatal(err)
	}
	return next, Sibling{Value: crdt.Encode(d), Dot: vclock.Dot{Actor: a, Counter: n}, Datatype: true}
}

func total(t *testing.T, set []Sibling) int64 {
	t.Helper()
	st, err := State(set)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := st.Value().(crdt.Map)
	if !ok {
		return 0
	}
	v, _ := m.Get(crdt.Field{Name: "n", Kind: crdt.KindCounter})
	c, _ := v.(crdt.Counter)
	return c.Total()
}

// Replicas that receive the same CRDT deltas, in any order and any number
// of times, hold one version with the same state, and the same digest;
// the counter's total is every increment.
func TestDatatypeMergeConverges(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		actors := []vclock.Actor{{Node: "a", Incarnation: 1}, {Node: "b", Incarnation: 1}, {Node: "c", Incarnation: 2}}
		states := make([]crdt.State, len(actors))
		var deltas []Sibling
		var want int64
		for i := range 3 + r.IntN(10) {
			k := r.IntN(len(actors))
			by := int64(r.IntN(7)) - 2
			var d Sibling
			states[k], d = counterDelta(t, states[k], actors[k], uint64(i+1), by)
			deltas = append(deltas, d)
			want += by
		}
		var reps [3][]Sibling
		for range 4 * len(deltas) {
			i := r.IntN(3)
			reps[i] = Apply(reps[i], deltas[r.IntN(len(deltas))])
			if r.IntN(3) == 0 {
				reps[i] = Merge(reps[i], reps[r.IntN(3)])
			}
		}
		for i := range reps {
			for _, d := range deltas {
				reps[i] = Apply(reps[i], d)
			}
			if len(reps[i]) != 1 || !reps[i][0].Datatype {
				t.Fatalf("trial %d: replica %d holds %d versions", trial, i, len(reps[i]))
			}
			if got := total(t, reps[i]); got != want {
				t.Fatalf("trial %d: replica %d totals %d, want %d", trial, i, got, want)
			}
		}
		for i := 1; i < 3; i++ {
			if !bytes.Equal(VersionDigest(reps[0]), VersionDigest(reps[i])) || !SameVersions(reps[0], reps[i]) {
				t.Fatalf("trial %d: replicas 0 and %d hold one state under two digests", trial, i)
			}
		}
	}
}

func TestDatatypeVersionsFromPeers(t *testing.T) {
	_, d := counterDelta(t, crdt.State{}, vclock.Actor{Node: "a", Incarnation: 1}, 1, 5)
	counter, _, err := crdt.Apply(crdt.State{}, crdt.Update{Actor: vclock.Actor{Node: "a", Incarnation: 1}, Ops: []crdt.Op{crdt.Increment{By: 1}}}, DatatypeLimits)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rule string
		s    Sibling
		ok   bool
	}{
		{"a map state is taken", d, true},
		{"bytes that are no state are refused", Sibling{Value: []byte("junk"), Dot: d.Dot, Datatype: true}, false},
		{"a state that is not a map is refused: two states of a key must merge", Sibling{Value: crdt.Encode(counter), Dot: d.Dot, Datatype: true}, false},
		{"a CRDT state cannot be a tombstone", Sibling{Value: d.Value, Dot: d.Dot, Datatype: true, Deleted: true}, false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			_, err := FromProto(ToProto([]Sibling{tc.s}))
			if (err == nil) != tc.ok {
				t.Fatalf("FromProto: %v, want ok %v", err, tc.ok)
			}
		})
	}
	plain, stamped, datatype := Kinds([]Sibling{d, write(na, 1, "x", nil)})
	if !plain || stamped || !datatype {
		t.Fatal(fmt.Sprint("Kinds = ", plain, stamped, datatype))
	}
}
