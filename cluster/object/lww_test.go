package object

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

func stamped(actor vclock.Actor, counter uint64, value string, wall int64, logical uint32, node string) Sibling {
	s := write(actor, counter, value, nil)
	s.Stamp = hlc.Timestamp{Wall: wall, Logical: logical, Node: node}
	return s
}

func TestLastWriterWins(t *testing.T) {
	x := stamped(na, 1, "x", 100, 0, "a")
	y := stamped(nb, 1, "y", 200, 0, "b")
	yWithXsContext := y
	yWithXsContext.Context = Context([]Sibling{x})
	xSeesY := x
	xSeesY.Context = Context([]Sibling{y}) // a context cannot save a lower stamp
	del := stamped(na, 2, "", 200, 0, "b")
	del.Deleted = true
	tests := []struct {
		rule string
		a, b []Sibling
		want string
	}{
		{"the higher stamp wins, concurrent or not", []Sibling{x}, []Sibling{y}, "y"},
		{"whatever order the versions come in", []Sibling{y}, []Sibling{x}, "y"},
		{"a context does not save a lower stamp", []Sibling{xSeesY}, []Sibling{y}, "y"},
		{"a write that read the other wins by its stamp", []Sibling{x}, []Sibling{yWithXsContext}, "y"},
		{"the logical counter orders one wall time", []Sibling{stamped(na, 1, "x", 100, 2, "a")}, []Sibling{stamped(nb, 1, "y", 100, 1, "b")}, "x"},
		{"the node id breaks a tie of hybrid times", []Sibling{stamped(na, 1, "x", 100, 0, "a")}, []Sibling{stamped(nb, 1, "y", 100, 0, "b")}, "y"},
		{"a tombstone tied with a value wins", []Sibling{stamped(na, 3, "v", 200, 0, "b")}, []Sibling{del}, "(deleted)"},
		{"an unstamped version loses to a stamped one", []Sibling{write(nb, 9, "old", nil)}, []Sibling{x}, "x"},
		{"one version is kept, never siblings", []Sibling{x, y}, []Sibling{stamped(na, 5, "z", 150, 0, "a")}, "y"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got := Merge(tt.a, tt.b)
			if v := values(got); len(got) != 1 || !slices.Equal(v, []string{tt.want}) {
				t.Fatalf("Merge kept %v, want [%s]", v, tt.want)
			}
		})
	}
}

// Any replicas that receive the same stamped versions, in any order and
// any number of times, keep the same one: the one with the highest stamp.
func TestLastWriterMergeIsASemilattice(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range 500 {
		var writes []Sibling
		for i := range 2 + r.IntN(8) {
			s := stamped(vclock.Actor{Node: fmt.Sprint("n", r.IntN(3)), Incarnation: 1}, uint64(i+1), fmt.Sprint("v", r.IntN(3)), int64(r.IntN(4)), uint32(r.IntN(2)), fmt.Sprint("n", r.IntN(3)))
			s.Deleted = r.IntN(4) == 0
			writes = append(writes, s)
		}
		want := writes[0]
		for _, w := range writes[1:] {
			if c := hlc.CompareVersions(version(w), version(want)); c > 0 || c == 0 && vclock.CompareDots(w.Dot, want.Dot) > 0 {
				want = w
			}
		}
		var reps [3][]Sibling
		for range 3 * len(writes) {
			i := r.IntN(3)
			reps[i] = Apply(reps[i], writes[r.IntN(len(writes))])
			if r.IntN(3) == 0 {
				j := r.IntN(3)
				reps[i] = Merge(reps[i], reps[j])
			}
		}
		for i := range reps {
			for _, w := range writes {
				reps[i] = Apply(reps[i], w)
			}
			if len(reps[i]) != 1 || !equal(reps[i][0], want) {
				t.Fatalf("trial %d: replica %d kept %v, want %v", trial, i, reps[i], want)
			}
		}
		if got := Merge(reps[0], reps[0]); !equal(got[0], want) {
			t.Fatalf("trial %d: merging a replica with itself changed it", trial)
		}
	}
}

func TestStampedRoundTripAndBadStamps(t *testing.T) {
	set := []Sibling{stamped(na, 1, "x", 1_700_000_000_000_000_000, 7, "node-1")}
	b, err := Encode(set)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil || len(got) != 1 || !equal(got[0], set[0]) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	p := ToProto(set)
	for _, tt := range []struct {
		rule  string
		stamp []byte
	}{
		{"a truncated stamp", p.Siblings[0].Stamp[:5]},
		{"bytes after the stamp", append(slices.Clone(p.Siblings[0].Stamp), 0)},
		{"a stamp without a node", hlc.Append(nil, hlc.Timestamp{Wall: 1, Node: "x"})[:13]},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			q := ToProto(set)
			q.Siblings[0].Stamp = tt.stamp
			if _, err := FromProto(q); err == nil {
				t.Fatalf("FromProto took %x", tt.stamp)
			}
		})
	}
}

func TestMaxStamp(t *testing.T) {
	if got := MaxStamp(nil); !got.IsZero() {
		t.Fatalf("MaxStamp(nil) = %v", got)
	}
	set := []Sibling{stamped(na, 1, "x", 5, 0, "a"), stamped(nb, 1, "y", 9, 1, "b"), write(na, 2, "z", nil)}
	if got := MaxStamp(set); got != set[1].Stamp {
		t.Fatalf("MaxStamp = %v, want %v", got, set[1].Stamp)
	}
}
