package crdt

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// Counter is a PN-counter. Each actor has one entry, its increments and
// decrements so far, tagged with the dot of its latest update; an update
// replaces the actor's entry, so a merge keeps the newest and a field
// removal drops the entries it saw.
type Counter struct {
	entries []counterEntry // sorted by dot
}

type counterEntry struct {
	dot      vclock.Dot
	inc, dec uint64
}

// Increment adds By (negative to decrement) to a Counter. By 0 creates the
// counter (a present map field) without changing its total.
type Increment struct{ By int64 }

func (Increment) Kind() Kind { return KindCounter }

func (Counter) Kind() Kind { return KindCounter }

// Total is the counter's value. Each replica refuses an update that would
// take its own total out of int64; concurrent updates from several replicas
// can still add up beyond, and then Total saturates at the bound.
func (c Counter) Total() int64 {
	t := c.total()
	switch {
	case t.IsInt64():
		return t.Int64()
	case t.Sign() > 0:
		return math.MaxInt64
	default:
		return math.MinInt64
	}
}

// total sums, per actor, its entry with the highest dot. A merged state holds
// one entry per actor; more appear only while deltas arrive out of order, and
// then the actor's latest entry already includes (or saw the removal of) its
// earlier ones.
func (c Counter) total() *big.Int {
	t := new(big.Int)
	var v big.Int
	for i, e := range c.entries {
		if i+1 < len(c.entries) && c.entries[i+1].dot.Actor == e.dot.Actor {
			continue
		}
		t.Add(t, v.SetUint64(e.inc))
		t.Sub(t, v.SetUint64(e.dec))
	}
	return t
}

func (c Counter) apply(op Op, u *update) (Value, []vclock.Dot, error) {
	inc, ok := op.(Increment)
	if !ok {
		return nil, nil, fmt.Errorf("%T on a counter: %w", op, ErrKind)
	}
	next := counterEntry{dot: u.dot}
	var superseded []vclock.Dot
	var others []counterEntry
	for _, e := range c.entries {
		if e.dot.Actor == u.dot.Actor {
			superseded = append(superseded, e.dot)
			next.inc, next.dec = e.inc, e.dec // sorted: the last is the latest
		} else {
			others = append(others, e)
		}
	}
	if len(superseded) == 0 {
		if err := u.grow(len(c.entries)); err != nil {
			return nil, nil, err
		}
	}
	var carry uint64
	if inc.By >= 0 {
		next.inc, carry = bits.Add64(next.inc, uint64(inc.By), 0)
	} else {
		next.dec, carry = bits.Add64(next.dec, uint64(-(inc.By+1))+1, 0)
	}
	if carry != 0 || !(Counter{entries: append(others, next)}).total().IsInt64() {
		return nil, nil, fmt.Errorf("increment by %d: %w", inc.By, ErrOverflow)
	}
	return Counter{entries: []counterEntry{next}}, append(superseded, u.dot), nil
}

func (c Counter) join(own Context, o Value, theirs Context) Value {
	return Counter{entries: joinByDot(c.entries, own, o.(Counter).entries, theirs, counterDot, compareCounts)}
}

func (c Counter) leq(own Context, o Value, theirs Context) bool {
	return leqByDot(c.entries, own, o.(Counter).entries, theirs, counterDot, compareCounts)
}

func (c Counter) appendDots(ds []vclock.Dot) []vclock.Dot {
	return appendEntryDots(ds, c.entries, counterDot)
}

func (c Counter) isEmpty() bool { return len(c.entries) == 0 }

func counterDot(e counterEntry) vclock.Dot { return e.dot }

func compareCounts(a, b counterEntry) int {
	if c := cmp.Compare(a.inc, b.inc); c != 0 {
		return c
	}
	return cmp.Compare(a.dec, b.dec)
}
