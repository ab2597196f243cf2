package crdt

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// fuzzSeeds are encodings of states of every kind from runs of updates.
func fuzzSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, k := range allKinds {
		states := pool(f, 11, k)
		for i := 0; i < len(states); i += len(states) / 8 {
			out = append(out, Encode(states[i]))
		}
	}
	return append(out, Encode(State{}))
}

// references are one state of each kind, to merge decoded states with.
func references(t testing.TB) map[Kind]State {
	refs := map[Kind]State{}
	for _, k := range allKinds {
		states := pool(t, 12, k)
		refs[k] = states[len(states)/2]
	}
	return refs
}

// FuzzDecode: no input panics Decode; what decodes re-encodes to the same
// bytes, merges lawfully with itself and with a state of its kind, renders,
// and takes updates whose deltas lead where Apply says.
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	refs := references(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b, DefaultLimits)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLimit) {
				t.Fatalf("Decode error %v is neither ErrMalformed nor ErrLimit", err)
			}
			return
		}
		if !bytes.Equal(Encode(s), b) {
			t.Fatalf("re-encoding %x gives %x", b, Encode(s))
		}
		if !same(mustMerge(t, s, s), s) || !Leq(s, s) {
			t.Fatal("merge with itself is not idempotent")
		}
		View(s.Value())
		if ref, ok := refs[s.Kind()]; ok {
			m := mustMerge(t, s, ref)
			if !same(m, mustMerge(t, ref, s)) || !Leq(s, m) || !Leq(ref, m) || !same(mustMerge(t, m, s), m) {
				t.Fatal("merge with a reference state breaks the laws")
			}
		}
		for _, op := range probeOps(s.Value()) {
			next, delta, err := Apply(s, Update{Actor: actorA, Context: s.Context(), Ops: []Op{op}}, DefaultLimits)
			if err != nil {
				if !errors.Is(err, ErrNotObserved) && !errors.Is(err, ErrOverflow) && !errors.Is(err, ErrLimit) {
					t.Fatalf("%#v: unexpected error %v", op, err)
				}
				continue
			}
			if !Leq(s, next) || !Leq(delta, next) || !same(mustMerge(t, s, delta), next) {
				t.Fatalf("%#v: the delta does not lead to the new state", op)
			}
		}
	})
}

// probeOps returns operations that touch every part of v.
func probeOps(v Value) []Op {
	switch v := v.(type) {
	case nil:
		return []Op{Increment{By: 1}, Add{Element: "new"}}
	case Counter:
		return []Op{Increment{By: 1}, Increment{By: math.MinInt64}}
	case Set:
		ops := []Op{Add{Element: "new"}}
		for _, m := range v.Members() {
			ops = append(ops, Add{Element: m}, Remove{Element: m})
		}
		return ops
	case Map:
		ops := []Op{UpdateField{Field: Field{Name: "new", Kind: KindFlag}, Op: Enable{}}}
		for _, f := range v.Fields() {
			nested, _ := v.Get(f)
			ops = append(ops, RemoveField{Field: f})
			for _, op := range probeOps(nested) {
				ops = append(ops, UpdateField{Field: f, Op: op})
			}
		}
		return ops
	case Flag:
		return []Op{Enable{}, Disable{}}
	case MVRegister:
		return []Op{Assign{Value: "new"}}
	default:
		return []Op{AssignAt{Value: "new"}, AssignAt{Value: "new", Timestamp: math.MaxInt64}}
	}
}

// FuzzDecodeContext: no input panics DecodeContext, and what decodes
// re-encodes to the same bytes and unites lawfully with other contexts.
func FuzzDecodeContext(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		s, err := Decode(b, DefaultLimits)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(EncodeContext(s.Context()))
	}
	refs := references(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeContext(b, DefaultLimits)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLimit) {
				t.Fatalf("DecodeContext error %v is neither ErrMalformed nor ErrLimit", err)
			}
			return
		}
		if !bytes.Equal(EncodeContext(c), b) {
			t.Fatalf("re-encoding %x gives %x", b, EncodeContext(c))
		}
		for _, ref := range refs {
			rc := ref.Context()
			u := unionContexts(c, rc)
			if !u.Descends(c) || !u.Descends(rc) || !bytes.Equal(EncodeContext(u), EncodeContext(unionContexts(rc, c))) {
				t.Fatalf("union of %v and %v is %v", c, rc, u)
			}
		}
		// A client context this replica has not seen is refused, one it has
		// is taken.
		for k, op := range map[Kind]Op{KindFlag: Disable{}, KindMVRegister: Assign{Value: "new"}} {
			ref := refs[k]
			_, _, err := Apply(ref, Update{Actor: actorA, Context: c, Ops: []Op{op}}, DefaultLimits)
			if errors.Is(err, ErrUnseenContext) == ref.Context().Descends(c) {
				t.Fatalf("context %v on a replica at %v: %v", c, ref.Context(), err)
			}
		}
	})
}

// FuzzUpdates: any run of updates, reads and merges among replicas, chosen by
// the fuzzer's bytes, converges: every delta merged in either order gives the
// merge of all final states, which is above every state of the run.
func FuzzUpdates(f *testing.F) {
	for _, k := range allKinds {
		f.Add(byte(k), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 200, 100, 50, 25, 12, 6, 3})
	}
	f.Fuzz(func(t *testing.T, kind byte, program []byte) {
		// Longer programs only take longer: their states are no larger.
		const maxProgram = 4096
		program = program[:min(len(program), maxProgram)]
		k := allKinds[int(kind)%len(allKinds)]
		reps, states := simulate(t, &byteSource{b: program}, k, len(program)/2)
		var full, forward, backward State
		var deltas []State
		for _, x := range reps {
			full = mustMerge(t, full, x.state)
			deltas = append(deltas, x.deltas...)
		}
		for i := range deltas {
			forward = mustMerge(t, forward, deltas[i])
			backward = mustMerge(t, backward, deltas[len(deltas)-1-i])
		}
		if !same(forward, full) || !same(backward, full) {
			t.Fatalf("deltas do not give the merge of full states")
		}
		for _, s := range states {
			if !Leq(s, full) {
				t.Fatal("a state of the run is not below the final merge")
			}
		}
	})
}
