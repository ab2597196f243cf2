package crdt

import (
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// State is a replica's copy of one CRDT value, or a delta: a Value and the
// Context of everything it has seen. The zero State is empty and of no kind
// yet; it merges with a state of any kind. States are immutable and built
// only by Apply, Merge and Decode, which keep every dot of the value in the
// context.
type State struct {
	ctx   Context
	value Value
}

// Context is what a client reads along with the value and sends back with
// its update.
func (s State) Context() Context { return s.ctx }

// Value is the state's value, nil for a state of no kind.
func (s State) Value() Value { return s.value }

// Kind is the value's kind, 0 for a state of no kind.
func (s State) Kind() Kind {
	if s.value == nil {
		return 0
	}
	return s.value.Kind()
}

// Merge returns the least state at or above both a and b. It is commutative,
// associative and idempotent. States of two different kinds do not merge.
func Merge(a, b State) (State, error) {
	x, y, err := sameKind(a, b)
	if err != nil {
		return State{}, err
	}
	out := State{ctx: unionContexts(a.ctx, b.ctx)}
	if x != nil {
		out.value = x.join(a.ctx, y, b.ctx)
	}
	return out, nil
}

// Leq reports whether a is at or below b: whether merging a into b leaves b
// as it is. A merge only ever inflates: both inputs are Leq its result.
func Leq(a, b State) bool {
	if a.Kind() != 0 && a.Kind() != b.Kind() {
		return false
	}
	x, y, err := sameKind(a, b)
	if err != nil || !b.ctx.Descends(a.ctx) {
		return false
	}
	return x == nil || x.leq(a.ctx, y, b.ctx)
}

// sameKind returns the values of a and b, the empty value of the other's
// kind standing in for a state of no kind.
func sameKind(a, b State) (Value, Value, error) {
	switch {
	case a.value == nil && b.value == nil:
		return nil, nil, nil
	case a.value == nil:
		return zero(b.Kind()), b.value, nil
	case b.value == nil:
		return a.value, zero(a.Kind()), nil
	case a.Kind() != b.Kind():
		return nil, nil, fmt.Errorf("merge %s with %s: %w", a.Kind(), b.Kind(), ErrKind)
	default:
		return a.value, b.value, nil
	}
}

// Update is one client request.
type Update struct {
	// Actor is the replica applying the update; it issues the dots.
	Actor vclock.Actor
	// Context is what the client read; removals take away only what it
	// covers. The empty context makes a blind update.
	Context Context
	// Ops apply in order, all or none. Each gets its own dot.
	Ops []Op
}

// Apply runs u on s. It returns the new state and the delta that takes s (or
// any replica) there: next is Merge(s, delta). On an error nothing applies.
func Apply(s State, u Update, lim Limits) (next, delta State, err error) {
	next = s
	for i, op := range u.Ops {
		d, err := applyOp(next, u, op, lim)
		if err != nil {
			return State{}, State{}, fmt.Errorf("update op %d: %w", i, err)
		}
		if next, err = Merge(next, d); err != nil {
			return State{}, State{}, fmt.Errorf("update op %d: %w", i, err)
		}
		if delta, err = Merge(delta, d); err != nil {
			return State{}, State{}, fmt.Errorf("update op %d: %w", i, err)
		}
	}
	if n := len(Encode(next)); n > lim.MaxBytes {
		return State{}, State{}, fmt.Errorf("update: state of %d bytes, more than %d: %w", n, lim.MaxBytes, ErrLimit)
	}
	return next, delta, nil
}

// applyOp returns the delta of one operation on s.
func applyOp(s State, u Update, op Op, lim Limits) (State, error) {
	if op == nil || !op.Kind().valid() {
		return State{}, fmt.Errorf("operation %T: %w", op, ErrKind)
	}
	v := s.value
	if v == nil {
		v = zero(op.Kind())
	} else if v.Kind() != op.Kind() {
		return State{}, fmt.Errorf("%s operation %T on a %s: %w", op.Kind(), op, v.Kind(), ErrKind)
	}
	dot, err := s.ctx.next(u.Actor)
	if err != nil {
		return State{}, err
	}
	in := update{dot: dot, seen: s.ctx, observed: u.Context, lim: lim}
	if v.Kind() == KindMap {
		in.depth = 1
	}
	dv, dots, err := v.apply(op, &in)
	if err != nil {
		return State{}, err
	}
	return State{ctx: contextOf(dots), value: dv}, nil
}

// View renders a value for an API: int64 for a counter, the sorted members
// ([]string) of a set, bool for a flag, the sorted values ([]string) of an
// MVRegister, the winning value (string, "" if none) of an LWWRegister, and
// map[Field]any of the fields' views for a map. It returns nil for nil.
func View(v Value) any {
	switch v := v.(type) {
	case Counter:
		return v.Total()
	case Set:
		return v.Members()
	case Flag:
		return v.Enabled()
	case MVRegister:
		return v.Values()
	case LWWRegister:
		value, _, _ := v.Value()
		return value
	case Map:
		out := make(map[Field]any, len(v.fields))
		for _, f := range v.fields {
			out[f.key] = View(f.value)
		}
		return out
	default:
		return nil
	}
}
