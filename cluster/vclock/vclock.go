// Package vclock owns vector clocks: the causal histories HarmoniaKV attaches
// to every version of a key.
//
// An entry is keyed by an Actor, a node id plus an incarnation. A node whose
// data is wiped comes back with a new incarnation, so it can never reissue a
// counter that some replica still remembers.
//
// Writes are identified by a Dot (actor, counter); a sibling's history is its
// causal context plus its own dot (dotted version vectors, as in riak_kv).
// Counters are unique per actor but not contiguous per key, so a clock entry
// n means "every write of this actor with a counter up to n that touched this
// key", which holds because a coordinator always ships the whole object
// (every sibling) it produced.
package vclock

import (
	"cmp"
	"fmt"
	"slices"
)

// Actor is the identity that issues counters.
type Actor struct {
	Node        string
	Incarnation uint64
}

func (a Actor) String() string { return fmt.Sprintf("%s/%x", a.Node, a.Incarnation) }

func compareActors(a, b Actor) int {
	if c := cmp.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	return cmp.Compare(a.Incarnation, b.Incarnation)
}

// Dot names a single write.
type Dot struct {
	Actor
	Counter uint64
}

func (d Dot) String() string { return fmt.Sprintf("%s:%d", d.Actor, d.Counter) }

// IsZero reports whether d names no write.
func (d Dot) IsZero() bool { return d.Counter == 0 }

// CompareDots orders dots by actor, then counter.
func CompareDots(a, b Dot) int {
	if c := compareActors(a.Actor, b.Actor); c != 0 {
		return c
	}
	return cmp.Compare(a.Counter, b.Counter)
}

// Entry is one actor's counter in a clock. Timestamp (Unix nanoseconds of the
// write that set it) is used only to choose what to prune.
type Entry struct {
	Actor
	Counter   uint64
	Timestamp int64
}

// Clock is a vector clock: entries sorted by actor, one per actor, counters
// above zero. The zero value is the empty clock. Functions never modify their
// arguments.
type Clock []Entry

// Ordering is the causal relation between two clocks.
type Ordering int

const (
	Equal Ordering = iota
	Before
	After
	Concurrent
)

func (o Ordering) String() string {
	switch o {
	case Equal:
		return "equal"
	case Before:
		return "before"
	case After:
		return "after"
	default:
		return "concurrent"
	}
}

// New builds a clock from entries in any order: entries of the same actor are
// combined by maximum and zero counters are dropped. Use it on untrusted input.
func New(entries ...Entry) Clock {
	c := make(Clock, 0, len(entries))
	for _, e := range entries {
		if e.Counter > 0 {
			c = append(c, e)
		}
	}
	slices.SortFunc(c, func(a, b Entry) int {
		if x := compareActors(a.Actor, b.Actor); x != 0 {
			return x
		}
		return cmp.Compare(b.Counter, a.Counter) // highest first, kept below
	})
	return slices.CompactFunc(c, func(a, b Entry) bool { return a.Actor == b.Actor })
}

func (c Clock) find(a Actor) (int, bool) {
	return slices.BinarySearchFunc(c, a, func(e Entry, a Actor) int { return compareActors(e.Actor, a) })
}

// Get returns a's counter, 0 when c has no entry for a.
func (c Clock) Get(a Actor) uint64 {
	if i, ok := c.find(a); ok {
		return c[i].Counter
	}
	return 0
}

// Covers reports whether the write d is in the history c.
func (c Clock) Covers(d Dot) bool { return d.Counter > 0 && c.Get(d.Actor) >= d.Counter }

// Descends reports whether a has seen everything b has (a >= b).
func Descends(a, b Clock) bool {
	for _, e := range b {
		if a.Get(e.Actor) < e.Counter {
			return false
		}
	}
	return true
}

// Compare returns how a relates to b.
func Compare(a, b Clock) Ordering {
	ab, ba := Descends(a, b), Descends(b, a)
	switch {
	case ab && ba:
		return Equal
	case ab:
		return After
	case ba:
		return Before
	default:
		return Concurrent
	}
}

// Merge returns the least clock that descends both a and b.
func Merge(a, b Clock) Clock {
	out := make(Clock, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && compareActors(a[i].Actor, b[j].Actor) < 0):
			out = append(out, a[i])
			i++
		case i == len(a) || compareActors(a[i].Actor, b[j].Actor) > 0:
			out = append(out, b[j])
			j++
		default:
			e := a[i]
			if b[j].Counter > e.Counter || (b[j].Counter == e.Counter && b[j].Timestamp > e.Timestamp) {
				e = b[j]
			}
			out = append(out, e)
			i++
			j++
		}
	}
	return out
}

// Advance returns c with the write d added: d's actor entry becomes at least
// d.Counter. This is the increment of a vector clock where the counter was
// issued by the actor (see package doc).
func Advance(c Clock, d Dot, timestamp int64) Clock {
	return Merge(c, Clock{{Actor: d.Actor, Counter: d.Counter, Timestamp: timestamp}})
}

// DefaultMaxEntries bounds clock size. A cluster has one actor per node
// incarnation that ever coordinated a write to the key, so this is only
// reached after many node replacements.
const DefaultMaxEntries = 64

// Prune drops the entries with the oldest timestamps until at most maxEntries
// remain. A pruned clock is only ever used as a sibling's causal context, and
// a smaller context covers fewer dots, so pruning can make a version look
// concurrent with one it superseded (an extra sibling, resolved by the next
// write) but can never make a write look superseded: no write is dropped.
func Prune(c Clock, maxEntries int) Clock {
	if maxEntries < 0 || len(c) <= maxEntries {
		return c
	}
	byAge := slices.Clone(c)
	slices.SortStableFunc(byAge, func(a, b Entry) int { return cmp.Compare(b.Timestamp, a.Timestamp) })
	return New(byAge[:maxEntries]...)
}
