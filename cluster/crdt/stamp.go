package crdt

import (
	"math"
	"slices"
)

// Stamp gives every last-writer-wins assignment in ops that carries no
// timestamp (zero) one: now, or one past the timestamp of the assignment
// that wins its register in s, whichever is higher. So an assignment
// applied to a state that holds what its client read wins over all of
// that, however far behind the applying replica's clock is: a write that
// causally follows another is never lost to it. Assignments with a
// timestamp are left as they are. ops is not modified: the operations are
// copied only when one is stamped (most updates assign nothing).
func Stamp(s State, ops []Op, now int64) []Op {
	out := ops
	for i, op := range ops {
		stamped, changed := stampOp(s.value, op, now)
		if !changed {
			continue
		}
		if &out[0] == &ops[0] {
			out = slices.Clone(ops)
		}
		out[i] = stamped
	}
	return out
}

// stampOp stamps op, applied to v (nil when absent); changed is false
// when op holds no assignment to stamp.
func stampOp(v Value, op Op, now int64) (stamped Op, changed bool) {
	switch o := op.(type) {
	case AssignAt:
		if o.Timestamp != 0 {
			return o, false
		}
		o.Timestamp = now
		if r, ok := v.(LWWRegister); ok {
			if _, ts, ok := r.Value(); ok && ts >= now && ts < math.MaxInt64 {
				o.Timestamp = ts + 1
			}
		}
		return o, true
	case UpdateField:
		var inner Value
		if m, ok := v.(Map); ok {
			inner, _ = m.Get(o.Field)
		}
		if o.Op, changed = stampOp(inner, o.Op, now); !changed {
			return op, false
		}
		return o, true
	}
	return op, false
}
