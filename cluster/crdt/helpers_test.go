package crdt

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

var (
	actorA = vclock.Actor{Node: "a", Incarnation: 1}
	actorB = vclock.Actor{Node: "b", Incarnation: 1}
	actorC = vclock.Actor{Node: "c", Incarnation: 1}
	// b after a wipe: another actor.
	actorB2 = vclock.Actor{Node: "b", Incarnation: 2}

	allActors = []vclock.Actor{actorA, actorB, actorC, actorB2}
	allKinds  = []Kind{KindCounter, KindSet, KindFlag, KindMVRegister, KindLWWRegister, KindMap}
)

// same reports whether a and b are the same state: the encoding is
// canonical.
func same(a, b State) bool { return bytes.Equal(Encode(a), Encode(b)) }

func mustMerge(t testing.TB, a, b State) State {
	t.Helper()
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// replica is one actor's copy of a value.
type replica struct {
	actor  vclock.Actor
	state  State
	reads  []Context // contexts clients read here, oldest first
	deltas []State   // every delta this replica produced
}

// update applies ops with the client context ctx and records the delta.
func (r *replica) update(ctx Context, ops ...Op) error {
	next, delta, err := Apply(r.state, Update{Actor: r.actor, Context: ctx, Ops: ops}, DefaultLimits)
	if err != nil {
		return err
	}
	r.state = next
	r.deltas = append(r.deltas, delta)
	return nil
}

func (r *replica) read() Context {
	r.reads = append(r.reads, r.state.Context())
	return r.state.Context()
}

// expected reports the refusals a random update may meet.
func expected(err error) bool {
	return errors.Is(err, ErrNotObserved) || errors.Is(err, ErrUnseenContext) || errors.Is(err, ErrOverflow)
}

var (
	elements  = []string{"x", "y", "z", ""}
	registers = []string{"p", "q", "r"}
	names     = []string{"f", "g"}
)

// source is where random choices come from: a seeded generator, or the
// bytes a fuzzer makes.
type source interface {
	IntN(n int) int
	Int64N(n int64) int64
}

// byteSource makes its choices from bytes, then zeros.
type byteSource struct{ b []byte }

func (s *byteSource) IntN(n int) int {
	if len(s.b) == 0 {
		return 0
	}
	v := int(s.b[0]) % n
	s.b = s.b[1:]
	return v
}

func (s *byteSource) Int64N(n int64) int64 { return int64(s.IntN(int(n))) }

// randOp returns a random operation on a value of kind k at map depth.
func randOp(r source, k Kind, depth int) Op {
	switch k {
	case KindCounter:
		return Increment{By: r.Int64N(11) - 5}
	case KindSet:
		if e := elements[r.IntN(len(elements))]; r.IntN(3) > 0 {
			return Add{Element: e}
		} else {
			return Remove{Element: e}
		}
	case KindFlag:
		if r.IntN(2) == 0 {
			return Enable{}
		}
		return Disable{}
	case KindMVRegister:
		return Assign{Value: registers[r.IntN(len(registers))]}
	case KindLWWRegister:
		return AssignAt{Value: registers[r.IntN(len(registers))], Timestamp: r.Int64N(5)}
	default:
		f := randField(r, depth)
		if r.IntN(4) == 0 {
			return RemoveField{Field: f}
		}
		return UpdateField{Field: f, Op: randOp(r, f.Kind, depth+1)}
	}
}

// randField returns a field whose kind is a map only above depth 2.
func randField(r source, depth int) Field {
	kinds := allKinds
	if depth >= 2 {
		kinds = allKinds[:len(allKinds)-1]
	}
	return Field{Name: names[r.IntN(len(names))], Kind: kinds[r.IntN(len(kinds))]}
}

// simulate runs random updates, reads and merges of full states and deltas
// among replicas of a value of kind k. It returns the replicas and every
// state any of them went through.
func simulate(t testing.TB, r source, k Kind, steps int) ([]*replica, []State) {
	t.Helper()
	reps := make([]*replica, len(allActors))
	for i, a := range allActors {
		reps[i] = &replica{actor: a}
	}
	var seen []State
	for range steps {
		x := reps[r.IntN(len(reps))]
		switch p := r.IntN(100); {
		case p < 60:
			var ctx Context
			switch q := r.IntN(10); {
			case q < 5:
				ctx = x.read()
			case q < 7 && len(x.reads) > 0:
				ctx = x.reads[r.IntN(len(x.reads))]
			case q < 9:
				ctx = reps[r.IntN(len(reps))].state.Context()
			}
			ops := make([]Op, 1+r.IntN(3))
			for i := range ops {
				ops[i] = randOp(r, k, 1)
			}
			if err := x.update(ctx, ops...); err != nil && !expected(err) {
				t.Fatalf("update %v: %v", ops, err)
			}
		case p < 85:
			x.state = mustMerge(t, x.state, reps[r.IntN(len(reps))].state)
		default:
			y := reps[r.IntN(len(reps))]
			if len(y.deltas) > 0 {
				x.state = mustMerge(t, x.state, y.deltas[r.IntN(len(y.deltas))])
			}
		}
		seen = append(seen, x.state)
	}
	return reps, seen
}

// randState builds a state of kind k directly, not through updates: any
// store whose dots its context holds, including ones no run of updates
// makes (two entries of one actor, one dot with two payloads across
// states).
func randState(r *rand.Rand, k Kind) State {
	var pool []vclock.Dot
	for _, a := range allActors {
		for n := range uint64(6) {
			if r.IntN(2) == 0 {
				pool = append(pool, vclock.Dot{Actor: a, Counter: n + 1})
			}
		}
	}
	return State{ctx: contextOf(pool), value: randValue(r, k, pool, 1)}
}

func randDots(r *rand.Rand, pool []vclock.Dot, max int) []vclock.Dot {
	var ds []vclock.Dot
	for range r.IntN(max + 1) {
		if len(pool) > 0 {
			ds = append(ds, pool[r.IntN(len(pool))])
		}
	}
	slices.SortFunc(ds, vclock.CompareDots)
	return slices.Compact(ds)
}

func randValue(r *rand.Rand, k Kind, pool []vclock.Dot, depth int) Value {
	ds := randDots(r, pool, 3)
	switch k {
	case KindCounter:
		var c Counter
		for _, d := range ds {
			c.entries = append(c.entries, counterEntry{dot: d, inc: d.Counter * 3, dec: uint64(r.IntN(2))})
		}
		return c
	case KindSet:
		var s Set
		for _, e := range elements {
			if dots := randDots(r, pool, 2); len(dots) > 0 {
				s.elems = append(s.elems, setElem{value: e, dots: dots})
			}
		}
		slices.SortFunc(s.elems, func(a, b setElem) int { return strings.Compare(a.value, b.value) })
		return s
	case KindFlag:
		return Flag{dots: ds}
	case KindMVRegister:
		var m MVRegister
		for _, d := range ds {
			m.entries = append(m.entries, mvEntry{dot: d, value: registers[r.IntN(len(registers))]})
		}
		return m
	case KindLWWRegister:
		var l LWWRegister
		for _, d := range ds {
			l.entries = append(l.entries, lwwEntry{dot: d, timestamp: r.Int64N(3), value: registers[r.IntN(len(registers))]})
		}
		return l
	default:
		var m Map
		for _, name := range names {
			for _, fk := range allKinds {
				if r.IntN(4) > 0 || (fk == KindMap && depth >= 3) {
					continue
				}
				if v := randValue(r, fk, pool, depth+1); !v.isEmpty() {
					m.fields = append(m.fields, mapField{key: Field{Name: name, Kind: fk}, value: v})
				}
			}
		}
		return m
	}
}

// pool returns states of kind k, from runs of updates and built directly.
func pool(t testing.TB, seed uint64, k Kind) []State {
	r := rand.New(rand.NewPCG(seed, uint64(k)))
	_, states := simulate(t, r, k, 300)
	for range 100 {
		states = append(states, randState(r, k))
	}
	return append(states, State{})
}
