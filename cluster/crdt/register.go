package crdt

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// MVRegister is a multi-value register: an assignment replaces the values
// the client saw, so concurrent assignments are all kept, like siblings.
type MVRegister struct {
	entries []mvEntry // sorted by dot
}

type mvEntry struct {
	dot   vclock.Dot
	value string
}

// Assign sets an MVRegister to Value, replacing the values the client saw.
type Assign struct{ Value string }

func (Assign) Kind() Kind     { return KindMVRegister }
func (MVRegister) Kind() Kind { return KindMVRegister }

// Values returns the concurrent values, sorted bytewise, without duplicates.
func (r MVRegister) Values() []string {
	out := make([]string, len(r.entries))
	for i, e := range r.entries {
		out[i] = e.value
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (r MVRegister) apply(op Op, u *update) (Value, []vclock.Dot, error) {
	a, ok := op.(Assign)
	if !ok {
		return nil, nil, fmt.Errorf("%T on an mvregister: %w", op, ErrKind)
	}
	gone, err := u.removable(r.appendDots(nil))
	if err != nil {
		return nil, nil, fmt.Errorf("assign: %w", err)
	}
	if err := u.grow(len(r.entries) - len(gone)); err != nil {
		return nil, nil, fmt.Errorf("assign: %w", err)
	}
	return MVRegister{entries: []mvEntry{{dot: u.dot, value: a.Value}}}, append(gone, u.dot), nil
}

func (r MVRegister) join(own Context, o Value, theirs Context) Value {
	return MVRegister{entries: joinByDot(r.entries, own, o.(MVRegister).entries, theirs, mvDot, compareMV)}
}

func (r MVRegister) leq(own Context, o Value, theirs Context) bool {
	return leqByDot(r.entries, own, o.(MVRegister).entries, theirs, mvDot, compareMV)
}

func (r MVRegister) appendDots(ds []vclock.Dot) []vclock.Dot {
	return appendEntryDots(ds, r.entries, mvDot)
}

func (r MVRegister) isEmpty() bool { return len(r.entries) == 0 }

func mvDot(e mvEntry) vclock.Dot { return e.dot }
func compareMV(a, b mvEntry) int { return strings.Compare(a.value, b.value) }

// LWWRegister is a last-writer-wins register: the assignment with the highest
// timestamp wins, ties broken by dot (actor, then counter). The timestamp is
// the caller's; the package keeps no clock.
//
// A merge keeps concurrent assignments rather than only the winner: a map
// field removal may take away the winner and not a concurrent loser, and
// dropping losers early would make merges depend on their order. An
// assignment replaces every entry it beats, so the register holds one entry
// again after the next write.
type LWWRegister struct {
	entries []lwwEntry // sorted by dot
}

type lwwEntry struct {
	dot       vclock.Dot
	timestamp int64
	value     string
}

// AssignAt sets an LWWRegister to Value as of Timestamp. An assignment older
// than the register's current winner is a no-op.
type AssignAt struct {
	Value     string
	Timestamp int64
}

func (AssignAt) Kind() Kind    { return KindLWWRegister }
func (LWWRegister) Kind() Kind { return KindLWWRegister }

// Value returns the winning value and its timestamp; ok is false when the
// register was never assigned (or its field was removed).
func (r LWWRegister) Value() (value string, timestamp int64, ok bool) {
	if len(r.entries) == 0 {
		return "", 0, false
	}
	w := slices.MaxFunc(r.entries, compareLWWOrder)
	return w.value, w.timestamp, true
}

func (r LWWRegister) apply(op Op, u *update) (Value, []vclock.Dot, error) {
	a, ok := op.(AssignAt)
	if !ok {
		return nil, nil, fmt.Errorf("%T on an lwwregister: %w", op, ErrKind)
	}
	next := lwwEntry{dot: u.dot, timestamp: a.Timestamp, value: a.Value}
	for _, e := range r.entries {
		if compareLWWOrder(e, next) > 0 {
			return LWWRegister{}, nil, nil
		}
	}
	return LWWRegister{entries: []lwwEntry{next}}, append(r.appendDots(nil), u.dot), nil
}

// compareLWWOrder orders assignments by who wins.
func compareLWWOrder(a, b lwwEntry) int {
	if c := cmp.Compare(a.timestamp, b.timestamp); c != 0 {
		return c
	}
	return vclock.CompareDots(a.dot, b.dot)
}

func (r LWWRegister) join(own Context, o Value, theirs Context) Value {
	return LWWRegister{entries: joinByDot(r.entries, own, o.(LWWRegister).entries, theirs, lwwDot, compareLWWPayload)}
}

func (r LWWRegister) leq(own Context, o Value, theirs Context) bool {
	return leqByDot(r.entries, own, o.(LWWRegister).entries, theirs, lwwDot, compareLWWPayload)
}

func (r LWWRegister) appendDots(ds []vclock.Dot) []vclock.Dot {
	return appendEntryDots(ds, r.entries, lwwDot)
}

func (r LWWRegister) isEmpty() bool { return len(r.entries) == 0 }

func lwwDot(e lwwEntry) vclock.Dot { return e.dot }

func compareLWWPayload(a, b lwwEntry) int {
	if c := cmp.Compare(a.timestamp, b.timestamp); c != 0 {
		return c
	}
	return strings.Compare(a.value, b.value)
}
