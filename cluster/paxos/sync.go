package paxos

// Anti-entropy of acceptor state. Two voters of a key compare their states
// of it and each takes what the other knows chosen and it does not, as a
// Commit (safe at any acceptor at any time; see Carry): the committed
// value of the highest ballot is kept, and no vote is ever cast for a
// proposal. A proposal accepted but known chosen by neither side (its
// proposer died between its accept and its commit) is Completed, through a
// round of a quorum, once it is old enough that no live proposer can still
// be running it; completing it earlier would only make the two compete.

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
	return s
}

// teach is the commit from an acceptor that knows its value chosen to one
// that knows less. A tombstone is not taught to an acceptor that holds
// nothing of the register under its floor: that acceptor dropped it (every
// voter held it), and a dropped tombstone and one held read alike.
func teach(from, to State) Carry {
	if from.Committed.IsZero() || !from.Settled() || !to.Committed.Less(from.Committed) {
		return Carry{}
	}
	holdsNothing := to.Accepted.IsZero() && to.Committed.IsZero()
	if holdsNothing && !from.Value.Exists && !to.Promised.Less(from.Committed) {
		return Carry{}
	}
	return Carry{Commit: true, Ballot: from.Committed, Value: from.Value}
}
