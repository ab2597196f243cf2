package object

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"google.golang.org/protobuf/encoding/protowire"
)

var (
	na = vclock.Actor{Node: "a", Incarnation: 1}
	nb = vclock.Actor{Node: "b", Incarnation: 1}
)

func write(actor vclock.Actor, counter uint64, value string, ctx []Sibling) Sibling {
	return Sibling{Value: []byte(value), Dot: vclock.Dot{Actor: actor, Counter: counter}, Context: Context(ctx), WrittenAt: int64(counter)}
}

func values(set []Sibling) []string {
	var out []string
	for _, s := range set {
		v := string(s.Value)
		if s.Deleted {
			v += "(deleted)"
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func TestApply(t *testing.T) {
	x1 := write(na, 1, "x1", nil)
	blind := write(nb, 1, "blind", nil)
	withCtx := write(na, 2, "x2", []Sibling{x1, blind})
	concurrentSameCoordinator := write(na, 3, "x3", []Sibling{x1}) // read x1 only
	tomb := Sibling{Dot: vclock.Dot{Actor: nb, Counter: 2}, Context: Context([]Sibling{withCtx}), Deleted: true}

	tests := []struct {
		name string
		set  []Sibling
		in   Sibling
		want []string
	}{
		{"first write", nil, x1, []string{"x1"}},
		{"blind write beside a value makes a sibling", []Sibling{x1}, blind, []string{"blind", "x1"}},
		{"write with context supersedes what it read", []Sibling{x1, blind}, withCtx, []string{"x2"}},
		{"replay is harmless", []Sibling{withCtx}, withCtx, []string{"x2"}},
		{"already superseded version is dropped", []Sibling{withCtx}, x1, []string{"x2"}},
		{"write supersedes only what it read", []Sibling{x1, blind}, concurrentSameCoordinator, []string{"blind", "x3"}},
		{"later blind write through the same coordinator is concurrent", []Sibling{x1}, write(na, 4, "x4", nil), []string{"x1", "x4"}},
		{"tombstone supersedes", []Sibling{withCtx}, tomb, []string{"(deleted)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := values(Apply(tt.set, tt.in))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// simulate runs random clients against three replicas that exchange whole
// objects, and returns every version ever written plus the replicas' sets.
func simulate(r *rand.Rand, steps int) (writes []Sibling, replicas [3][]Sibling) {
	actors := []vclock.Actor{na, nb, {Node: "c", Incarnation: 1}}
	counters := map[vclock.Actor]uint64{}
	for i := 0; i < steps; i++ {
		switch r.IntN(3) {
		case 0, 1: // a client reads one replica and writes through a coordinating replica
			read := replicas[r.IntN(3)]
			if r.IntN(4) == 0 {
				read = nil // blind write
			}
			ci := r.IntN(3)
			counters[actors[ci]]++
			s := Sibling{Value: []byte(fmt.Sprint("v", i)), Dot: vclock.Dot{Actor: actors[ci], Counter: counters[actors[ci]]},
				Context: Context(read), Deleted: r.IntN(5) == 0, WrittenAt: int64(i)}
			writes = append(writes, s)
			replicas[ci] = Apply(replicas[ci], s)
			// The coordinator ships its whole object to some replicas.
			for j := range replicas {
				if j != ci && r.IntN(2) == 0 {
					replicas[j] = Merge(replicas[j], replicas[ci])
				}
			}
		case 2: // anti-entropy between two replicas
			x, y := r.IntN(3), r.IntN(3)
			m := Merge(replicas[x], replicas[y])
			replicas[x], replicas[y] = m, m
		}
	}
	return writes, replicas
}

func TestMergeIsASemilattice(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 300; round++ {
		writes, reps := simulate(r, 30)
		x, y, z := reps[0], reps[1], reps[2]
		if !SameVersions(Merge(x, y), Merge(y, x)) {
			t.Fatal("Merge not commutative")
		}
		if !SameVersions(Merge(Merge(x, y), z), Merge(x, Merge(y, z))) {
			t.Fatal("Merge not associative")
		}
		if !SameVersions(Merge(x, x), Merge(nil, x)) || !SameVersions(Merge(x, nil), x) {
			t.Fatal("Merge not idempotent")
		}
		// Applying every write ever made, in any order, gives the same set as
		// the converged replicas: no write is lost and nothing superseded
		// comes back.
		all := Merge(Merge(x, y), z)
		shuffled := slices.Clone(writes)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		var replay []Sibling
		for _, w := range shuffled {
			replay = Apply(replay, w)
		}
		if !SameVersions(replay, all) {
			t.Fatalf("replaying all writes gave %v, converged replicas hold %v", values(replay), values(all))
		}
		// A version survives iff no other write's history contains it (naive model).
		for _, w := range writes {
			superseded := slices.ContainsFunc(writes, w.SupersededBy)
			kept := slices.ContainsFunc(all, func(s Sibling) bool { return s.Dot == w.Dot })
			if superseded == kept {
				t.Fatalf("write %v: superseded=%v kept=%v", w.Dot, superseded, kept)
			}
		}
	}
}

// equal reports whether two siblings are identical in every field.
func equal(a, b Sibling) bool {
	return a.Dot == b.Dot && a.Deleted == b.Deleted && a.WrittenAt == b.WrittenAt && a.Stamp == b.Stamp &&
		bytes.Equal(a.Value, b.Value) && slices.Equal(a.Context, b.Context)
}

func TestEncodeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	_, reps := simulate(r, 40)
	set := Merge(Merge(reps[0], reps[1]), reps[2])
	b, err := Encode(set)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, set, equal) {
		t.Fatalf("round trip changed the object")
	}
}

// Objects come from peers: decoding must never panic, and what decodes
// must re-encode to something that decodes the same. (Client contexts are
// fuzzed in cluster/causal.)
func FuzzDecodeObject(f *testing.F) {
	b, _ := Encode([]Sibling{write(na, 1, "x", nil)})
	f.Add(b)
	b, _ = Encode([]Sibling{stamped(na, 1, "x", 5, 0, "a")})
	f.Add(b)
	st, _, _ := crdt.Apply(crdt.State{}, crdt.Update{Actor: na, Ops: []crdt.Op{crdt.UpdateField{Field: crdt.Field{Name: "s", Kind: crdt.KindSet}, Op: crdt.Add{Element: "e"}}}}, DatatypeLimits)
	b, _ = Encode([]Sibling{{Value: crdt.Encode(st), Dot: vclock.Dot{Actor: na, Counter: 1}, Datatype: true}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := Decode(b)
		if err != nil {
			return
		}
		enc, err := Encode(set)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decode(enc)
		if err != nil || !SameVersions(again, set) {
			t.Fatalf("re-decode changed the object")
		}
		for i, s := range set {
			for j, o := range set {
				if i != j && (s.Dot == o.Dot || s.SupersededBy(o) || !s.Stamp.IsZero() || s.Datatype) {
					t.Fatalf("decoded set keeps %v beside %v", s.Dot, o.Dot)
				}
			}
		}
	})
}

func TestVersionDigest(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	_, reps := simulate(r, 40)
	x := Merge(reps[0], reps[1])
	y := Merge(reps[1], reps[0])
	if !bytes.Equal(VersionDigest(x), VersionDigest(y)) {
		t.Fatal("same versions, different digests")
	}
	z := Apply(x, write(vclock.Actor{Node: "z", Incarnation: 1}, 1, "new", nil))
	if bytes.Equal(VersionDigest(x), VersionDigest(z)) {
		t.Fatal("a new version did not change the digest")
	}
	if bytes.Equal(VersionDigest(nil), VersionDigest(z)) {
		t.Fatal("empty and non-empty sets share a digest")
	}
}

func TestTombstone(t *testing.T) {
	v1 := write(na, 1, "v1", nil)
	del := func(s Sibling, at int64) Sibling { s.Deleted, s.Value, s.WrittenAt = true, nil, at; return s }
	d2 := del(write(na, 2, "", []Sibling{v1}), 20)
	d3 := del(write(nb, 3, "", []Sibling{v1}), 30)
	for _, tc := range []struct {
		name   string
		set    []Sibling
		ok     bool
		wantAt int64
	}{
		{"absent", nil, false, 0},
		{"live value", []Sibling{v1}, false, 0},
		{"one delete", []Sibling{d2}, true, 20},
		{"concurrent deletes: newest time", Merge([]Sibling{d2}, []Sibling{d3}), true, 30},
		{"delete concurrent with a value", Merge([]Sibling{d3}, []Sibling{write(na, 4, "v4", nil)}), false, 0},
	} {
		at, ok := Tombstone(tc.set)
		if ok != tc.ok || at != tc.wantAt {
			t.Errorf("%s: Tombstone = %d, %v; want %d, %v", tc.name, at, ok, tc.wantAt, tc.ok)
		}
	}
}

func TestSoleVersion(t *testing.T) {
	enc := func(set ...Sibling) []byte {
		b, err := Encode(set)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	gone := stamped(na, 2, "", 7, 0, "a")
	gone.Deleted = true
	st, _, _ := crdt.Apply(crdt.State{}, crdt.Update{Actor: na, Ops: []crdt.Op{crdt.UpdateField{Field: crdt.Field{Name: "s", Kind: crdt.KindSet}, Op: crdt.Add{Element: "e"}}}}, DatatypeLimits)
	for _, tc := range []struct {
		rule    string
		b       []byte
		ok      bool
		value   string
		deleted bool
	}{
		{"a last writer's one version is its value", enc(stamped(na, 1, "x", 5, 0, "a")), true, "x", false},
		{"a version of a key that keeps siblings is its value", enc(write(na, 1, "x", nil)), true, "x", false},
		{"a tombstone is deleted", enc(gone), true, "", true},
		{"siblings are for Decode", enc(write(na, 1, "x", nil), write(nb, 1, "y", nil)), false, "", false},
		{"a CRDT state is for Decode", enc(Sibling{Value: crdt.Encode(st), Dot: vclock.Dot{Actor: na, Counter: 1}, Datatype: true}), false, "", false},
		{"a version without a dot is for Decode, which refuses it", enc(Sibling{Value: []byte("x")}), false, "", false},
		{"an object of no version is for Decode", nil, false, "", false},
		{"bytes that are no object are for Decode", []byte{0x0a, 0x05, 0x0a}, false, "", false},
		{"a field Encode does not write is for Decode", append(enc(write(na, 1, "x", nil)), 0x10, 0x01), false, "", false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			value, deleted, ok := SoleVersion(tc.b)
			if ok != tc.ok || (ok && (string(value) != tc.value || deleted != tc.deleted)) {
				t.Fatalf("SoleVersion = %q, %v, %v; want %q, %v, %v", value, deleted, ok, tc.value, tc.deleted, tc.ok)
			}
		})
	}
}

// What SoleVersion reads of any bytes is what Decode reads of them, when
// Decode takes them: it never panics, and never answers another value.
func FuzzSoleVersion(f *testing.F) {
	for _, set := range [][]Sibling{{write(na, 1, "x", nil)}, {stamped(na, 1, "x", 5, 0, "a")}, {write(na, 1, "x", nil), write(nb, 1, "y", nil)}} {
		b, _ := Encode(set)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		value, deleted, ok := SoleVersion(b)
		set, err := Decode(b)
		if !ok || err != nil {
			return
		}
		if len(set) != 1 || string(set[0].Value) != string(value) || set[0].Deleted != deleted {
			t.Fatalf("SoleVersion read %q (deleted %v), Decode %v", value, deleted, set)
		}
	})
}

func TestAppendEncodedVersions(t *testing.T) {
	enc := func(set ...Sibling) []byte {
		b, err := Encode(set)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	versions := func(b []byte) []byte { return AppendEncodedVersions(nil, b) }
	v1, w1 := write(na, 1, "x", nil), write(nb, 1, "y", nil)
	gone := write(na, 1, "", nil)
	gone.Deleted = true
	state := func(e string) []byte {
		st, _, _ := crdt.Apply(crdt.State{}, crdt.Update{Actor: na, Ops: []crdt.Op{crdt.UpdateField{Field: crdt.Field{Name: "s", Kind: crdt.KindSet}, Op: crdt.Add{Element: e}}}}, DatatypeLimits)
		return crdt.Encode(st)
	}
	counted := func(e string) Sibling {
		return Sibling{Value: state(e), Dot: vclock.Dot{Actor: na, Counter: 1}, Datatype: true}
	}
	other := v1
	other.Context, other.WrittenAt = Context([]Sibling{w1}), 99 // fields a dot's write fixes
	unknown := append(enc(v1), 0x10, 0x01)
	// twice is an object of one sibling with each of its fields twice.
	twice := func(b []byte) []byte {
		_, _, n := protowire.ConsumeTag(b)
		sib, _ := protowire.ConsumeBytes(b[n:])
		return protowire.AppendBytes(protowire.AppendTag(nil, objectSiblingsField, protowire.BytesType), append(slices.Clone(sib), sib...))
	}
	for _, tc := range []struct {
		rule string
		a, b []byte
		same bool
	}{
		{"the same writes are the same versions", enc(v1, w1), enc(v1, w1), true},
		{"a version is its dot: what its write fixed beside it is not compared", enc(v1), enc(other), true},
		{"another write is another version", enc(v1), enc(w1), false},
		{"one more sibling is another version", enc(v1), enc(v1, w1), false},
		{"a tombstone of the same dot is another version", enc(v1), enc(gone), false},
		{"a CRDT state merged under the same dot is another version", enc(counted("e")), enc(counted("f")), false},
		{"the same CRDT state is the same version", enc(counted("e")), enc(counted("e")), true},
		{"an object of no version is no other's", nil, enc(v1), false},
		{"two objects of no version agree", nil, []byte{}, true},
		{"a form Encode does not write is told by its bytes", unknown, enc(v1), false},
		{"the same bytes of such a form agree", unknown, slices.Clone(unknown), true},
		{"a version without a dot is told by its bytes", enc(Sibling{Value: []byte("x")}), enc(v1), false},
		{"bytes that are no object are told by their bytes", []byte{0x0a, 0x05, 0x0a}, []byte{0x0a, 0x05, 0x0b}, false},
		{"a sibling's fields twice are told by their bytes", twice(enc(v1)), enc(v1), false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if same := bytes.Equal(versions(tc.a), versions(tc.b)); same != tc.same {
				t.Fatalf("versions %x and %x: same %v, want %v", versions(tc.a), versions(tc.b), same, tc.same)
			}
		})
	}
	// dst is appended to, not written over.
	if got := AppendEncodedVersions([]byte("k"), enc(v1)); !bytes.HasPrefix(got, []byte("k")) || !bytes.Equal(got[1:], versions(enc(v1))) {
		t.Fatalf("AppendEncodedVersions wrote over dst: %x", got)
	}
	// Over replicas' objects as writes and exchanges leave them, equal
	// versions are exactly what anti-entropy's VersionDigest calls equal.
	r := rand.New(rand.NewPCG(21, 22))
	var pairs [2]int // pairs of distinct replicas that differ, that agree
	for round := 0; round < 200; round++ {
		_, reps := simulate(r, 20)
		for i := range reps {
			for j := range reps {
				same := bytes.Equal(versions(enc(reps[i]...)), versions(enc(reps[j]...)))
				if digest := bytes.Equal(VersionDigest(reps[i]), VersionDigest(reps[j])); same != digest {
					t.Fatalf("replicas %d and %d: same versions %v, same digests %v", i, j, same, digest)
				}
				if i != j {
					pairs[boolIndex(same)]++
				}
			}
		}
	}
	// The property is only shown if the replicas both differed and agreed.
	if pairs[0] == 0 || pairs[1] == 0 {
		t.Fatalf("%d pairs of replicas differed and %d agreed: the simulation showed too little", pairs[0], pairs[1])
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AppendEncodedVersions reads a replica's stored bytes: whatever they are,
// it never panics, and answers the same for the same bytes.
func FuzzAppendEncodedVersions(f *testing.F) {
	for _, set := range [][]Sibling{{write(na, 1, "x", nil)}, {write(na, 1, "x", nil), write(nb, 1, "y", nil)}} {
		b, _ := Encode(set)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := AppendEncodedVersions(nil, b)
		if len(v) == 0 || !bytes.Equal(v, AppendEncodedVersions(nil, slices.Clone(b))) {
			t.Fatalf("versions of %x: %x, then another", b, v)
		}
	})
}
