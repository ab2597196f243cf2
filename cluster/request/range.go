package request

import "slices"

// RangeAsks decides which replicas a range read of an eventual table's
// items asks, as Get does: R of them first, its own first (a local page
// costs no network) and then the up ones in preference-list order, or
// every up one with askAll; one more in place of each that fails, and one
// more each time the driver's speculative retry finds the read still
// unanswered. Down replicas are never asked: a fallback holds a down
// replica's hints, not its partition's ranges.
type RangeAsks struct {
	toAsk []string
}

// NewRangeAsks orders the up replicas of pl and returns the ones to ask
// first: r of them (capped to those up, at least one), or all with askAll.
func NewRangeAsks(pl Placement, r int, askAll bool) (*RangeAsks, []string) {
	a := &RangeAsks{toAsk: make([]string, 0, len(pl.Replicas))}
	for _, id := range pl.Replicas {
		switch {
		case !pl.up(id):
		case id == pl.Self:
			a.toAsk = slices.Insert(a.toAsk, 0, id)
		default:
			a.toAsk = append(a.toAsk, id)
		}
	}
	first := max(r, 1)
	if askAll {
		first = len(a.toAsk)
	}
	first = min(first, len(a.toAsk))
	asks := a.toAsk[:first:first]
	a.toAsk = a.toAsk[first:]
	return a, asks
}

// Next is one more replica to ask, in order: after one failed, or when
// those asked are slow. ok is false when every up replica was asked.
func (a *RangeAsks) Next() (id string, ok bool) {
	if len(a.toAsk) == 0 {
		return "", false
	}
	id, a.toAsk = a.toAsk[0], a.toAsk[1:]
	return id, true
}

// Left reports whether replicas remain to ask.
func (a *RangeAsks) Left() bool { return len(a.toAsk) > 0 }
