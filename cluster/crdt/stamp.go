package crdt

import "math"

// Stamp gives every last-writer-wins assignment in ops that carries no
// timestamp (zero) one: now, or one past the timestamp of the assignment
// that wins its register in s, whichever is higher. So an assignment
// applied to a state that holds what its client read wins over all of
// that, however far behind the applying replica's clock is: a write that
// causally follows another is never lost to it. Assignments with a
// timestamp are left as they are. ops is not modified.
func Stamp(s State, ops []Op, now int64) []Op {
	out := make([]Op, len(ops))
	for i, op := range ops {
		out[i] = stampOp(s.value, op, now)
	}
	return out
}

// stampOp stamps op, applied to v (nil when absent).
func stampOp(v Value, op Op, now int64) Op {
	switch o := op.(type) {
	case AssignAt:
		if o.Timestamp != 0 {
			return o
		}
		o.Timestamp = now
		if r, ok := v.(LWWRegister); ok {
			if _, ts, ok := r.Value(); ok && ts >= now && ts < math.MaxInt64 {
				o.Timestamp = ts + 1
			}
		}
		return o
	case UpdateField:
		var inner Value
		if m, ok := v.(Map); ok {
			inner, _ = m.Get(o.Field)
		}
		o.Op = stampOp(inner, o.Op, now)
		return o
	}
	return op
}
