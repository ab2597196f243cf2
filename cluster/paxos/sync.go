package paxos

// Anti-entropy of acceptor state. Two voters of a key compare their states
// of it and each takes what the other knows chosen and it does not, as a
// Commit (safe at any acceptor at any time; see Carry): the committed
// value of the highest ballot is kept, and no vote is ever cast for a
// proposal. A proposal accepted but known chosen by neither side (its
// proposer died between its accept and its commit) is Completed, through a
// round of a quorum, once it is old enough that no live proposer can still
// be running it; completing it earlier would only make the two compete. A
// value an acceptor that holds nothing of the register would not Learn
// (chosen at or below its promise, perhaps its floor) is Completed too: a round
// at a new ballot above every promise settles it there.

// Sync is what an exchange does with one register held by acceptors A and
// B (either may hold nothing of it: EmptyAt its floor).
type Sync struct {
	// ToA and ToB: apply Commit(Ballot, Value) at A, at B (Carry.Commit).
	ToA, ToB Carry
	// Complete: run a completing round on the register.
	Complete bool
}

// SyncOf decides Sync for a register from the states of acceptors A and B.
// staleRound is the least round (a wall-clock reading in microseconds,
// Config.FirstRound) of a proposal that may still be in flight: an
// unsettled proposal of an earlier round is completed.
func SyncOf(a, b State, staleRound uint64) Sync {
	s := Sync{ToA: teach(b, a), ToB: teach(a, b)}
	top, topCommitted := a.Accepted, a.Committed
	if top.Less(b.Accepted) {
		top = b.Accepted
	}
	if topCommitted.Less(b.Committed) {
		topCommitted = b.Committed
	}
	s.Complete = !top.IsZero() && topCommitted.Less(top) && top.Round < staleRound
	s.Complete = s.Complete || unteachable(b, a) || unteachable(a, b)
	return s
}

// teach is the commit from an acceptor that knows its value chosen to one
// that knows less and would Learn it.
func teach(from, to State) Carry {
	if from.Committed.IsZero() || !from.Settled() || !to.Committed.Less(from.Committed) {
		return Carry{}
	}
	if to.ignores(from.Committed) {
		return Carry{} // it would not Learn it
	}
	return Carry{Commit: true, Ballot: from.Committed, Value: from.Value}
}

// unteachable reports a chosen value that to, holding nothing of the
// register under a promise at or above it, would not Learn, and that is the
// register's data: a value or a tombstone (a version conditions can name).
// The erased value is not: it reads as nothing, and where an acceptor
// holds nothing under a promise at or above it, it was dropped there.
func unteachable(from, to State) bool {
	return !from.Committed.IsZero() && from.Settled() && to.ignores(from.Committed) && !from.Value.Equal(Value{})
}
