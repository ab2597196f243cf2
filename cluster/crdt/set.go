package crdt

import (
	"fmt"
	"slices"
	"strings"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// Set is an add-wins observed-remove set without tombstones (ORSWOT) of
// byte strings. Each element holds the dots of its live adds; an add
// replaces them with its own dot, a remove takes away the ones the client
// saw, and an element is present while any dot is left.
type Set struct {
	elems []setElem // sorted by value, each with at least one dot
}

type setElem struct {
	value string
	dots  []vclock.Dot // sorted
}

// Add adds Element to a Set.
type Add struct{ Element string }

// Remove removes Element from a Set, as far as the client saw it.
type Remove struct{ Element string }

func (Add) Kind() Kind    { return KindSet }
func (Remove) Kind() Kind { return KindSet }
func (Set) Kind() Kind    { return KindSet }

// Members returns the elements, sorted bytewise.
func (s Set) Members() []string {
	out := make([]string, len(s.elems))
	for i, e := range s.elems {
		out[i] = e.value
	}
	return out
}

// Contains reports whether x is an element.
func (s Set) Contains(x string) bool {
	_, ok := s.find(x)
	return ok
}

func (s Set) find(x string) (int, bool) {
	return slices.BinarySearchFunc(s.elems, x, func(e setElem, x string) int { return strings.Compare(e.value, x) })
}

func (s Set) apply(op Op, u *update) (Value, []vclock.Dot, error) {
	switch op := op.(type) {
	case Add:
		i, ok := s.find(op.Element)
		var superseded []vclock.Dot
		if ok {
			superseded = slices.Clone(s.elems[i].dots)
		} else if err := u.grow(len(s.elems)); err != nil {
			return nil, nil, err
		}
		return Set{elems: []setElem{{value: op.Element, dots: []vclock.Dot{u.dot}}}}, append(superseded, u.dot), nil
	case Remove:
		var dots []vclock.Dot
		if i, ok := s.find(op.Element); ok {
			dots = s.elems[i].dots
		}
		gone, err := u.removable(dots)
		if err == nil && len(gone) == 0 {
			err = ErrNotObserved
		}
		if err != nil {
			return nil, nil, fmt.Errorf("remove %q: %w", op.Element, err)
		}
		return Set{}, gone, nil
	default:
		return nil, nil, fmt.Errorf("%T on a set: %w", op, ErrKind)
	}
}

func (s Set) join(own Context, o Value, theirs Context) Value {
	return Set{elems: setElems(own, theirs).merge(s.elems, o.(Set).elems)}
}

func (s Set) leq(own Context, o Value, theirs Context) bool {
	return setElems(own, theirs).all(s.elems, o.(Set).elems)
}

func setElems(own, theirs Context) keyed[string, setElem] {
	dots := func(e *setElem) []vclock.Dot {
		if e == nil {
			return nil
		}
		return e.dots
	}
	return keyed[string, setElem]{
		key:     func(e setElem) string { return e.value },
		compare: strings.Compare,
		join: func(a, b *setElem) (setElem, bool) {
			e := setElem{dots: joinDots(dots(a), own, dots(b), theirs)}
			if a != nil {
				e.value = a.value
			} else {
				e.value = b.value
			}
			return e, len(e.dots) > 0
		},
		leq: func(a, b *setElem) bool { return leqDots(dots(a), own, dots(b), theirs) },
	}
}

func (s Set) appendDots(ds []vclock.Dot) []vclock.Dot {
	for _, e := range s.elems {
		ds = append(ds, e.dots...)
	}
	return ds
}

func (s Set) isEmpty() bool { return len(s.elems) == 0 }
