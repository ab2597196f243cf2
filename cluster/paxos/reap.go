package paxos

import "time"

// A reap round's decisions on acceptor states (the rules are gc.go's): which
// states a scan of a partition lists to erase and to drop (ReapScan), and
// what a voter asked about one register answers and drops (VoteToReap).

// ReapChoice is what a reap round's scan does with one acceptor state.
type ReapChoice int

const (
	// ReapSkip: the state is listed neither to erase nor to drop.
	ReapSkip ReapChoice = iota
	// ReapDrop: the state is settled on the erased value (Droppable); every
	// voter is asked whether it holds it alike.
	ReapDrop
	// ReapErase: the state is a settled tombstone past grace (Erasable),
	// to erase through consensus (OpErase with its version).
	ReapErase
)

// ReapScan decides, state by state in the order a scan reads them, which
// of a partition's acceptor states a reap round lists: at most max to
// drop and max to erase, so a round's work is bounded and the rest waits
// for the next.
type ReapScan struct {
	now           time.Time
	grace         time.Duration
	max           int
	drops, erases int
}

// NewReapScan starts a scan at now (the reap round's clock reading) for
// tombstones older than grace, listing at most max of each kind.
func NewReapScan(now time.Time, grace time.Duration, max int) *ReapScan {
	return &ReapScan{now: now, grace: grace, max: max}
}

// Full reports whether both lists hold max states: the scan can stop.
func (s *ReapScan) Full() bool { return s.drops >= s.max && s.erases >= s.max }

// Choose decides one state and counts it. A staged state (changing in the
// acceptor's unflushed batch) is skipped: what the scan read of it is not
// what it will be. A droppable state is listed to drop, and an erasable
// one to erase, but only when its table is live (live): a deleted table's
// registers are its purge's to remove.
func (s *ReapScan) Choose(st State, staged, live bool) ReapChoice {
	if staged {
		return ReapSkip
	}
	switch {
	case Droppable(st) && s.drops < s.max:
		s.drops++
		return ReapDrop
	case Erasable(st, s.now, s.grace) && s.erases < s.max && live:
		s.erases++
		return ReapErase
	}
	return ReapSkip
}

// TooFarAhead reports whether b's round, a proposer's clock reading in
// microseconds (Config.FirstRound), is more than limit past now. A reap
// round's erase ballot that far ahead is a bug or a lie, and is ignored:
// a floor raised above it would leave the partition's proposers chasing
// it, stalled under the floor.
func TooFarAhead(b Ballot, now time.Time, limit time.Duration) bool {
	return Ballot{Round: uint64(now.Add(limit).UnixMicro())}.Less(b)
}

// ReapVote is a voter's answer, in a reap round, for one register it is
// asked about.
type ReapVote struct {
	// Holds: the voter agrees to the drop (AgreeToDrop).
	Holds bool
	// Drop: the voter drops its state of the register now.
	Drop bool
	// Floor is the partition's floor after this register: raised above
	// the erase where the voter holds nothing, and above the dropped
	// state's promise where it drops one (RaiseFloor).
	Floor Ballot
}

// VoteToReap decides a voter's answer for a register it holds as st,
// under the partition's floor, asked about the erase at ballot erased;
// commit is the round's second phase, which drops what every voter
// agreed to. A state is dropped only then, only if the voter agrees, and
// only if it holds something: one holding nothing has nothing to drop,
// its agreement already raised the floor.
func VoteToReap(st State, floor, erased Ballot, commit bool) ReapVote {
	agree, raised := AgreeToDrop(st, floor, erased)
	vote := ReapVote{Holds: agree, Floor: raised}
	if commit && agree && !st.HoldsNothing() {
		vote.Drop = true
		vote.Floor = RaiseFloor(vote.Floor, st)
	}
	return vote
}
