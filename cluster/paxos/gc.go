package paxos

import "time"

// Dropping acceptor state. A strong key's acceptor state is its data, so
// a live value is kept for ever; a deleted key leaves a tombstone whose
// state would otherwise grow without bound (Cassandra's paxos state, kept
// with a TTL, lost decisions; paxos repair replaced it). A tombstone's
// state is dropped only when it is settled, older than a grace, and every
// voter of its key holds the very same state (Droppable, SameTombstone),
// as the eventual path reaps its tombstones. An acceptor that drops a
// state keeps a floor: the highest promise among the states it dropped,
// below which it refuses every ballot (EmptyAt), so a proposal older than
// the drop (a message delayed, a proposer paused) can never be accepted
// where its register's history is gone.

// Droppable reports whether st may be dropped once every voter holds it:
// a tombstone (a deleted key) that is settled (chosen, nothing newer in
// flight) and whose ballot's round, a wall-clock reading in microseconds
// (Config.FirstRound), is at least grace before now.
func Droppable(st State, now time.Time, grace time.Duration) bool {
	if st.Value.Exists || st.Committed.IsZero() || !st.Settled() {
		return false
	}
	return int64(st.Committed.Round) <= now.Add(-grace).UnixMicro()
}

// SameTombstone reports whether two acceptors hold the same droppable
// history of a register: settled tombstones at one ballot.
func SameTombstone(a, b State) bool {
	return !a.Value.Exists && !b.Value.Exists && a.Settled() && b.Settled() &&
		a.Committed == b.Committed && a.Value.Equal(b.Value)
}

// EmptyAt is the state of a register an acceptor holds nothing of, under
// the floor of the states it dropped: nothing accepted, and no ballot
// below floor promised.
func EmptyAt(floor Ballot) State { return State{Promised: floor} }

// RaiseFloor is the floor after dropping st: at least its promise.
func RaiseFloor(floor Ballot, st State) Ballot {
	if floor.Less(st.Promised) {
		return st.Promised
	}
	return floor
}
