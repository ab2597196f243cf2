package paxos

import "time"

// Dropping acceptor state. A strong key's acceptor state is its data, so
// a live value is kept for ever; a deleted key leaves a tombstone whose
// state would otherwise grow without bound (Cassandra's paxos state, kept
// with a TTL, lost decisions; paxos repair replaced it).
//
// A tombstone older than a grace is first erased through consensus
// (Erasable, OpErase): a round replaces it, if it is still the register's
// value, with the erased value, Value{} (no version), which reads exactly
// as a register that holds nothing. Only then is the state dropped, when
// it is settled on that value and every voter holds the very same state,
// or nothing under a floor raised above the erase (Droppable,
// AgreeToDrop), as the eventual path reaps its tombstones.
// Dropping the tombstone itself would change what the register reads (a
// version that conditions can name, then none) replica by replica: in
// between, a read of two voters that dropped it would find nothing while a
// write through a third that had not would still find the tombstone, and
// act on its version after the read said it was gone. Dropping an erased
// state changes nothing a reader or a writer can tell.
//
// An acceptor that drops a state keeps a floor above the highest promise
// among the states it dropped (RaiseFloor), at or below which it refuses
// every ballot (EmptyAt), so a proposal older than the drop (a message
// delayed, a proposer paused, a held ballot) can never be accepted where
// its register's history is gone.

// Erasable reports whether st holds a tombstone (a deleted key) that is
// settled (chosen, nothing newer in flight) and whose ballot's round, a
// wall-clock reading in microseconds (Config.FirstRound), is at least
// grace before now: one to erase (OpErase with its version).
func Erasable(st State, now time.Time, grace time.Duration) bool {
	if st.Value.Exists || st.Value.Version.IsZero() || st.Committed.IsZero() || !st.Settled() {
		return false
	}
	return int64(st.Committed.Round) <= now.Add(-grace).UnixMicro()
}

// Droppable reports whether st may be dropped once every voter holds it:
// settled on the erased value.
func Droppable(st State) bool {
	return !st.Committed.IsZero() && st.Settled() && st.Value.Equal(Value{})
}

// AgreeToDrop decides an acceptor's answer to a reap round that asks
// whether it holds a register settled on the erased value chosen at
// ballot erased, to drop it where every voter does. It agrees when it
// holds that very state, or when it holds nothing of the register, but
// then only with its partition's floor raised above erased first
// (raised; floor when unchanged): an acceptor holding nothing is
// otherwise open to the register's history before the erase, a delayed
// accept or commit or a stale exchange, and would hold that history
// again once the others dropped the state that outranked it. Above the
// floor it refuses every such proposal, and Learn ignores its commits.
func AgreeToDrop(st State, floor, erased Ballot) (agree bool, raised Ballot) {
	if erased.IsZero() {
		return false, floor // no erase named: nothing to agree on
	}
	if st.HoldsNothing() {
		return true, RaiseFloor(floor, State{Promised: erased})
	}
	return Droppable(st) && st.Committed == erased, floor
}

// EmptyAt is the state of a register an acceptor holds nothing of, under
// the floor of the states it dropped: nothing accepted, and no ballot
// below floor promised.
func EmptyAt(floor Ballot) State { return State{Promised: floor} }

// RaiseFloor is the floor after dropping st: above its promise, and above
// every ballot of the promise's round (no proposer's ballot has an empty
// node name, so none equals the floor). A ballot equal to the promise was
// promised before the drop (a proposer's held ballot, promised with its
// last accept: Held) and must not be taken after it, when the register it
// was promised on is gone.
func RaiseFloor(floor Ballot, st State) Ballot {
	if st.Promised.IsZero() {
		return floor
	}
	if above := (Ballot{Round: st.Promised.Round + 1}); floor.Less(above) {
		return above
	}
	return floor
}
