package crdt

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// Context is a set of dots: the updates a replica has seen, or those a
// client saw when it read. It is a version vector (every dot of an actor up
// to its counter) plus a cloud of single dots beyond it, which deltas
// delivered out of order leave until the dots in between arrive. The form is
// canonical: no cloud dot is covered by the clock or is the one right after
// it, so equal sets have equal representations. The zero value is empty.
type Context struct {
	clock vclock.Clock
	cloud []vclock.Dot // sorted by vclock.CompareDots
}

// Covers reports whether d is in c.
func (c Context) Covers(d vclock.Dot) bool {
	if c.clock.Covers(d) {
		return true
	}
	_, ok := slices.BinarySearchFunc(c.cloud, d, vclock.CompareDots)
	return ok
}

// Descends reports whether c holds every dot of o.
func (c Context) Descends(o Context) bool {
	// Canonical form: c covers all of an actor's dots up to n only if its
	// clock does, since the cloud never holds the dot after the clock.
	if !vclock.Descends(c.clock, o.clock) {
		return false
	}
	for _, d := range o.cloud {
		if !c.Covers(d) {
			return false
		}
	}
	return true
}

// IsEmpty reports whether c holds no dot.
func (c Context) IsEmpty() bool { return len(c.clock) == 0 && len(c.cloud) == 0 }

func (c Context) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range c.clock {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", e.Actor, e.Counter)
	}
	b.WriteByte(']')
	if len(c.cloud) > 0 {
		fmt.Fprintf(&b, "+%v", c.cloud)
	}
	return b.String()
}

// next returns the dot actor issues for its next update: one past the
// highest of its dots c holds.
func (c Context) next(actor vclock.Actor) (vclock.Dot, error) {
	top := c.clock.Get(actor)
	for _, d := range c.cloud {
		if d.Actor == actor {
			top = max(top, d.Counter)
		}
	}
	if top == math.MaxUint64 {
		return vclock.Dot{}, fmt.Errorf("actor %s has no counter left: %w", actor, ErrOverflow)
	}
	return vclock.Dot{Actor: actor, Counter: top + 1}, nil
}

// covered returns the dots of ds that c holds.
func (c Context) covered(ds []vclock.Dot) []vclock.Dot {
	var out []vclock.Dot
	for _, d := range ds {
		if c.Covers(d) {
			out = append(out, d)
		}
	}
	return out
}

// contextOf returns the context holding exactly the dots ds (in any order,
// duplicates allowed).
func contextOf(ds []vclock.Dot) Context {
	cloud := slices.Clone(ds)
	slices.SortFunc(cloud, vclock.CompareDots)
	return compact(nil, slices.Compact(cloud))
}

// unionContexts returns the context holding the dots of a and of b.
func unionContexts(a, b Context) Context {
	cloud := make([]vclock.Dot, 0, len(a.cloud)+len(b.cloud))
	cloud = append(cloud, a.cloud...)
	cloud = append(cloud, b.cloud...)
	slices.SortFunc(cloud, vclock.CompareDots)
	return compact(vclock.Merge(a.clock, b.clock), slices.Compact(cloud))
}

// compact brings clock and cloud (sorted, without duplicates) to canonical
// form: it drops cloud dots the clock covers and folds into the clock the
// ones that extend it without a gap.
func compact(clock vclock.Clock, cloud []vclock.Dot) Context {
	var advanced []vclock.Entry // sorted by actor, as cloud is
	var rest []vclock.Dot
	for i := 0; i < len(cloud); {
		actor := cloud[i].Actor
		start := clock.Get(actor)
		top := start
		for ; i < len(cloud) && cloud[i].Actor == actor; i++ {
			switch n := cloud[i].Counter; {
			case n <= top:
			case n == top+1:
				top = n
			default:
				rest = append(rest, cloud[i])
			}
		}
		if top > start {
			advanced = append(advanced, vclock.Entry{Actor: actor, Counter: top})
		}
	}
	if len(advanced) > 0 {
		clock = vclock.Merge(clock, advanced)
	}
	return Context{clock: clock, cloud: rest}
}
