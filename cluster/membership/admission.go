package membership

import (
	"errors"
	"fmt"
)

// The admission rules of the two changes an operator asks of the cluster:
// a node leaving (its data handed to the others first) and a down node
// removed (its data rebuilt by the others). They decide from each
// member's status as the asking node sees it.

var (
	// ErrNotMember reports a change named for a node that is not a member,
	// or that cannot be asked of it (a node removing itself).
	ErrNotMember = errors.New("not a member that can be changed so")
	// ErrNotNow reports a change the cluster's state does not allow now.
	ErrNotNow = errors.New("not allowed in the cluster's state")
)

// AdmitLeave decides whether self may leave, given every member's status:
// done when it is leaving already; refused (ErrNotNow) unless it is a
// normal member and another normal member remains to take its data.
func AdmitLeave(statuses map[string]Status, self string) (done bool, err error) {
	switch st := statuses[self]; st {
	case Up:
	case Leaving:
		return true, nil
	default:
		return false, fmt.Errorf("%w: node %s is %s; only a normal member can leave", ErrNotNow, self, st)
	}
	normal := 0
	for _, st := range statuses {
		if st == Up {
			normal++
		}
	}
	if normal < 2 {
		return false, fmt.Errorf("%w: node %s is the last normal member; its data would have nowhere to go", ErrNotNow, self)
	}
	return false, nil
}

// AdmitRemove decides whether self may remove node: done when it has left
// already; refused for a node that is not a member or is self
// (ErrNotMember), or that is not down (ErrNotNow: a live node leaves).
func AdmitRemove(statuses map[string]Status, self, node string) (done bool, err error) {
	st, ok := statuses[node]
	switch {
	case !ok:
		return false, fmt.Errorf("%w: %s is not a member", ErrNotMember, node)
	case node == self:
		return false, fmt.Errorf("%w: a node cannot remove itself; use leave", ErrNotMember)
	case st == Left:
		return true, nil
	case st != Down:
		return false, fmt.Errorf("%w: %s is %s, not down; a live node leaves with: harmonia cluster leave %s", ErrNotNow, node, st, node)
	}
	return false, nil
}
