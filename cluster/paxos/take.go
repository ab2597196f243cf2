package paxos

// Taking states carried from peers. A transfer to a new replica, the
// rebuild of an acceptor that lost its state and an anti-entropy exchange
// all carry registers' states from a peer (CarryOf, SyncOf) to an
// acceptor, which takes each one by the rule of what carried it (Take),
// after raising its partition's floor to the source's (TakeFloor).

// Take is the state after taking c, carried by kind: a rebuild raises the
// promise to the peer's first; a commit is then learned (Learn) when an
// exchange carried it, and taken whole (Commit) when a transfer or a
// rebuild did. A carry without a commit (only a promise, or a register to
// complete) leaves the value as it is.
func (s State) Take(c Carry, kind PageKind) State {
	if kind == RebuildPage {
		s = s.Raise(c.Promised)
	}
	switch {
	case c.Commit && kind == ExchangePage:
		s = s.Learn(c.Ballot, c.Value)
	case c.Commit:
		s = s.Commit(c.Ballot, c.Value)
	}
	return s
}

// TakeFloor is an acceptor's partition floor once it takes states from a
// source whose floor is source: raised to the source's, never lowered.
// The source dropped the erased registers under its floor, so they are
// not among what it carries, and this acceptor must refuse their history
// as the source does (EmptyAt).
func TakeFloor(floor, source Ballot) Ballot {
	if floor.Less(source) {
		return source
	}
	return floor
}
