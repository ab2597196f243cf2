package crdt

import (
	"errors"
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// Kind names a CRDT type. The numbers are part of the encoding: never
// renumber them.
type Kind uint8

const (
	KindCounter Kind = iota + 1
	KindSet
	KindFlag
	KindMVRegister
	KindLWWRegister
	KindMap
)

func (k Kind) String() string {
	switch k {
	case KindCounter:
		return "counter"
	case KindSet:
		return "set"
	case KindFlag:
		return "flag"
	case KindMVRegister:
		return "mvregister"
	case KindLWWRegister:
		return "lwwregister"
	case KindMap:
		return "map"
	default:
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
}

func (k Kind) valid() bool { return k >= KindCounter && k <= KindMap }

var (
	// ErrKind reports an operation, field or state of another kind.
	ErrKind = errors.New("wrong CRDT kind")
	// ErrNotObserved reports a removal of something the client's context
	// saw none of.
	ErrNotObserved = errors.New("not present in what the context observed")
	// ErrUnseenContext reports a client context holding updates this
	// replica has not seen, so a removal could miss some of what it meant.
	ErrUnseenContext = errors.New("context has updates this replica has not seen")
	// ErrLimit reports an update that would grow a state past Limits, or
	// encoded input beyond them.
	ErrLimit = errors.New("limit exceeded")
	// ErrOverflow reports a counter or dot counter out of range.
	ErrOverflow = errors.New("counter out of range")
)

// Value is a CRDT state without its context: one of Counter, Set, Flag,
// MVRegister, LWWRegister and Map. Values are immutable.
type Value interface {
	Kind() Kind
	// join merges v (seen with own) and o (a Value of the same kind, seen
	// with theirs): entries in both stay, entries in one stay unless the
	// other side has seen their dot.
	join(own Context, o Value, theirs Context) Value
	// leq reports whether join(v, o) is o.
	leq(own Context, o Value, theirs Context) bool
	// appendDots appends every dot in the store.
	appendDots(ds []vclock.Dot) []vclock.Dot
	isEmpty() bool
	// apply returns the delta store of op and the dots of its context
	// (what the op supersedes plus its new dot), or neither for a no-op.
	apply(op Op, u *update) (Value, []vclock.Dot, error)
	encode(e *encoder)
}

// zero returns the empty Value of kind k.
func zero(k Kind) Value {
	switch k {
	case KindCounter:
		return Counter{}
	case KindSet:
		return Set{}
	case KindFlag:
		return Flag{}
	case KindMVRegister:
		return MVRegister{}
	case KindLWWRegister:
		return LWWRegister{}
	case KindMap:
		return Map{}
	default:
		return nil
	}
}

// Op is an operation of a client update: Increment, Add, Remove, Enable,
// Disable, Assign, AssignAt, UpdateField or RemoveField.
type Op interface {
	// Kind is the kind of value the operation applies to.
	Kind() Kind
}

// update is what an operation needs besides the value it changes.
type update struct {
	dot      vclock.Dot // the operation's new dot
	seen     Context    // the replica's context
	observed Context    // the client's context
	lim      Limits
	depth    int // maps from the root down to the value being updated
}

// removable returns the dots of ds the client observed, after checking that
// the replica has seen everything the client did.
func (u *update) removable(ds []vclock.Dot) ([]vclock.Dot, error) {
	if !u.seen.Descends(u.observed) {
		return nil, ErrUnseenContext
	}
	return u.observed.covered(ds), nil
}

// grow checks that a collection of n entries may take one more.
func (u *update) grow(n int) error {
	if n >= u.lim.MaxElements {
		return fmt.Errorf("more than %d entries: %w", u.lim.MaxElements, ErrLimit)
	}
	return nil
}

// joinByDot merges two lists of entries sorted by their (unique) dots. An
// entry in both stays; on a payload mismatch, which only corrupt input can
// cause, the greater payload wins so the join stays commutative.
func joinByDot[E any](a []E, ca Context, b []E, cb Context, dot func(E) vclock.Dot, payload func(E, E) int) []E {
	var out []E
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch c := compareAt(a, i, b, j, dot); {
		case c < 0:
			if !cb.Covers(dot(a[i])) {
				out = append(out, a[i])
			}
			i++
		case c > 0:
			if !ca.Covers(dot(b[j])) {
				out = append(out, b[j])
			}
			j++
		default:
			e := a[i]
			if payload(b[j], e) > 0 {
				e = b[j]
			}
			out = append(out, e)
			i++
			j++
		}
	}
	return out
}

// leqByDot reports whether joinByDot(a, ca, b, cb) is b.
func leqByDot[E any](a []E, ca Context, b []E, cb Context, dot func(E) vclock.Dot, payload func(E, E) int) bool {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch c := compareAt(a, i, b, j, dot); {
		case c < 0: // only in a: b must have removed it
			if !cb.Covers(dot(a[i])) {
				return false
			}
			i++
		case c > 0: // only in b: a must not have removed it
			if ca.Covers(dot(b[j])) {
				return false
			}
			j++
		default:
			if payload(a[i], b[j]) > 0 {
				return false
			}
			i++
			j++
		}
	}
	return true
}

// compareAt compares the dots at a[i] and b[j]; an exhausted list sorts last.
func compareAt[E any](a []E, i int, b []E, j int, dot func(E) vclock.Dot) int {
	switch {
	case j == len(b):
		return -1
	case i == len(a):
		return 1
	default:
		return vclock.CompareDots(dot(a[i]), dot(b[j]))
	}
}

// keyed is a list sorted by key whose entries hold nested stores: set
// elements and map fields.
type keyed[K any, E any] struct {
	key     func(E) K
	compare func(K, K) int
	// join merges two entries of one key; either may be missing (nil).
	join func(a, b *E) (E, bool)
	leq  func(a, b *E) bool
}

// merge joins two keyed lists, dropping keys whose join is empty.
func (k keyed[K, E]) merge(a, b []E) []E {
	var out []E
	k.walk(a, b, func(x, y *E) bool {
		if e, ok := k.join(x, y); ok {
			out = append(out, e)
		}
		return true
	})
	return out
}

// all reports whether leq holds for every key of a or b.
func (k keyed[K, E]) all(a, b []E) bool {
	return k.walk(a, b, k.leq)
}

// walk calls f with the entries of each key of a or b in key order (nil
// for a side without it), until f returns false; it reports whether f
// always returned true.
func (k keyed[K, E]) walk(a, b []E, f func(x, y *E) bool) bool {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var x, y *E
		switch c := k.compareKeys(a, i, b, j); {
		case c < 0:
			x = &a[i]
			i++
		case c > 0:
			y = &b[j]
			j++
		default:
			x, y = &a[i], &b[j]
			i++
			j++
		}
		if !f(x, y) {
			return false
		}
	}
	return true
}

func (k keyed[K, E]) compareKeys(a []E, i int, b []E, j int) int {
	switch {
	case j == len(b):
		return -1
	case i == len(a):
		return 1
	default:
		return k.compare(k.key(a[i]), k.key(b[j]))
	}
}

// appendEntryDots appends the dot of each entry: the appendDots of the
// stores whose entries carry one dot each.
func appendEntryDots[E any](ds []vclock.Dot, entries []E, dot func(E) vclock.Dot) []vclock.Dot {
	for _, e := range entries {
		ds = append(ds, dot(e))
	}
	return ds
}

// sameDot is the payload order of entries that are only a dot.
func sameDot(vclock.Dot, vclock.Dot) int { return 0 }

func dotOf(d vclock.Dot) vclock.Dot { return d }

// joinDots merges two dot sets.
func joinDots(a []vclock.Dot, ca Context, b []vclock.Dot, cb Context) []vclock.Dot {
	return joinByDot(a, ca, b, cb, dotOf, sameDot)
}

// leqDots reports whether joinDots(a, ca, b, cb) is b.
func leqDots(a []vclock.Dot, ca Context, b []vclock.Dot, cb Context) bool {
	return leqByDot(a, ca, b, cb, dotOf, sameDot)
}
