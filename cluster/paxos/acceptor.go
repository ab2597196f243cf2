// Package paxos decides the value of one key of a strong table: a register
// agreed by the key's primary replicas and changed by compare-and-set, as
// in CASPaxos (prepare, then accept a function of the highest accepted
// value) with the shortcuts of Cassandra's Paxos v2 (a read, and a failed
// condition, skip the accept round when a majority agrees on a committed
// value and nothing newer is in flight).
//
// The package is pure: an acceptor's steps are functions from a State and
// a message to a new State and a reply, which the vnode persists (fsynced,
// in its group commit) before it sends the reply; a Proposer takes replies
// and timer events one at a time and returns Effects (messages to send,
// when to retry, the result) for its actor to carry out.
package paxos

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
)

// Ballot orders proposals. Round moves proposals past each other; Node,
// Incarnation and Seq make every ballot unique: Seq comes from the node's
// durable counter (never issued twice, even across a crash), and a wiped
// node has a new Incarnation.
type Ballot struct {
	Round       uint64
	Node        string
	Incarnation uint64
	Seq         uint64
}

// Compare orders ballots by round, then by node, incarnation and sequence.
func (b Ballot) Compare(o Ballot) int {
	if c := cmp.Compare(b.Round, o.Round); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Node, o.Node); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Incarnation, o.Incarnation); c != 0 {
		return c
	}
	return cmp.Compare(b.Seq, o.Seq)
}

// Less reports whether b orders before o.
func (b Ballot) Less(o Ballot) bool { return b.Compare(o) < 0 }

// IsZero reports whether b is the ballot of nothing (below every other).
func (b Ballot) IsZero() bool { return b == Ballot{} }

func (b Ballot) String() string {
	return fmt.Sprintf("%d/%s.%d.%d", b.Round, b.Node, b.Incarnation, b.Seq)
}

// Value is the register's value. Version names the write that made it (the
// ballot that first proposed it): a value completed again by a later
// ballot keeps its version, so a client's put-if-version does not fail
// because a read finished the write it saw. A value that does not exist
// (never written, or deleted) with a non-zero Version is a tombstone.
type Value struct {
	Exists  bool
	Data    []byte
	Version Ballot
	// Prev is the version of the value this write replaced (zero: the
	// register held none), known when HasPrev (values written before
	// versions named their predecessor have none): how a proposer that
	// lost a round tells a value written over the one its own write
	// replaced from one written over its own (Proposer's builtOn).
	Prev    Ballot
	HasPrev bool
}

// Equal reports whether two values are the same write.
func (v Value) Equal(o Value) bool {
	return v.Exists == o.Exists && v.Version == o.Version && bytes.Equal(v.Data, o.Data) && v.Prev == o.Prev && v.HasPrev == o.HasPrev
}

// State is one acceptor's state of one key. Invariants: Committed and
// Accepted are at most Promised; Value is the value accepted at Accepted.
type State struct {
	// Promised is the highest ballot this acceptor promised or accepted:
	// it refuses every lower one.
	Promised Ballot
	// Accepted is the ballot of the last value accepted (Value).
	Accepted Ballot
	Value    Value
	// Committed is the highest ballot this acceptor knows was chosen
	// (accepted by a quorum). Committed == Accepted: Value is chosen, and
	// nothing newer is in flight here.
	Committed Ballot
}

// Equal reports whether two states are the same.
func (s State) Equal(o State) bool {
	return s.Promised == o.Promised && s.Accepted == o.Accepted && s.Committed == o.Committed && s.Value.Equal(o.Value)
}

// Settled reports whether the acceptor's value is known chosen and nothing
// newer was accepted here.
func (s State) Settled() bool { return s.Committed == s.Accepted }

// Promise is an acceptor's answer to a prepare.
type Promise struct {
	// OK: the ballot was promised. Otherwise Promised is the higher ballot
	// the acceptor promised before, which the proposer must outbid.
	OK       bool
	Promised Ballot
	// The acceptor's accepted value and what it knows committed.
	Accepted  Ballot
	Value     Value
	Committed Ballot
}

// Prepare promises ballot b unless a higher one was promised. A prepare of
// the ballot already promised is a duplicate of the same proposal (ballots
// are unique) and is promised again.
func (s State) Prepare(b Ballot) (State, Promise) {
	if b.Less(s.Promised) {
		return s, Promise{Promised: s.Promised} // the proposer needs only the ballot to outbid
	}
	s.Promised = b
	return s, Promise{OK: true, Promised: b, Accepted: s.Accepted, Value: s.Value, Committed: s.Committed}
}

// Acceptance is an acceptor's answer to an accept.
type Acceptance struct {
	OK bool
	// Promised is the higher ballot that refused it (when not OK).
	Promised Ballot
}

// Accept accepts value v at ballot b unless a higher ballot was promised.
func (s State) Accept(b Ballot, v Value) (State, Acceptance) {
	if b.Less(s.Promised) {
		return s, Acceptance{Promised: s.Promised}
	}
	s.Promised, s.Accepted, s.Value = b, b, v
	return s, Acceptance{OK: true, Promised: b}
}

// AcceptNext accepts v at b as Accept does and, when it does, promises
// next too (a ballot above b of the same proposer): the proposer's next
// prepare, carried on this accept, so that its next write to the register
// starts at its accept (Proposer's Held). A zero next is a plain Accept.
func (s State) AcceptNext(b Ballot, v Value, next Ballot) (State, Acceptance) {
	s, acc := s.Accept(b, v)
	if acc.OK && b.Less(next) {
		s.Promised, acc.Promised = next, next
	}
	return s, acc
}

// Commit records that v was chosen at ballot b. An acceptor that missed
// the accept learns the value from it, unless it accepted something newer
// (then that newer proposal decides; b is only known committed).
func (s State) Commit(b Ballot, v Value) State {
	if s.Accepted.Less(b) {
		s.Accepted, s.Value = b, v
	}
	if s.Promised.Less(b) {
		s.Promised = b
	}
	if s.Committed.Less(b) {
		s.Committed = b
	}
	return s
}

// HoldsNothing reports whether the acceptor holds nothing of the register
// but perhaps a promise: never accepted, never learned a value.
func (s State) HoldsNothing() bool { return s.Accepted.IsZero() && s.Committed.IsZero() }

// Learn is Commit for a value this acceptor is told was chosen (a
// proposer's commit, an anti-entropy exchange's): an acceptor that holds
// nothing of the register ignores a ballot at or below its promise, as if the
// message were lost, which Paxos always allows. Its promise is at least
// its partition's floor, and a register it holds nothing of under the
// floor may be one whose erased history it dropped (gc.go): a commit from
// that history, delayed in the network past the drop, would bring back a
// value or tombstone the register no longer reads as, and a quorum
// counting this acceptor would answer it. A value chosen at or below the
// promise is held by a quorum anyway; a round at a new ballot teaches it
// here (SyncOf completes it).
func (s State) Learn(b Ballot, v Value) State {
	if s.ignores(b) {
		return s
	}
	return s.Commit(b, v)
}

// ignores reports whether Learn leaves the state as it is for a commit
// of ballot b: it holds nothing of the register under a promise at or
// above b.
func (s State) ignores(b Ballot) bool { return s.HoldsNothing() && !s.Promised.Less(b) }

// Reading is an acceptor's answer to a read: its state, unchanged.
type Reading struct {
	Accepted  Ballot
	Value     Value
	Committed Ballot
}

// Read answers a read without changing anything.
func (s State) Read() Reading {
	return Reading{Accepted: s.Accepted, Value: s.Value, Committed: s.Committed}
}

// Raise raises the promise to b: nothing below it is accepted from then
// on. An acceptor rebuilt after losing its state takes the highest promise
// of the peers it read (see Carry).
func (s State) Raise(b Ballot) State {
	if s.Promised.Less(b) {
		s.Promised = b
	}
	return s
}

// Carry is what a transfer to a new replica, or the rebuild of an acceptor
// that lost its state, does with one register's state read from a peer
// acceptor.
//
// Applying a value known chosen as Commit(Ballot, Value) is safe at any
// acceptor at any time: every proposal above the ballot already proposes
// that value or one derived from it (it found it in its prepare quorum,
// which meets the quorum that chose it), so taking it changes no choice;
// Commit never lowers what the acceptor holds. A peer's value is known
// chosen when the peer is settled (what it accepted last, it knows
// committed).
//
// A value the peer accepted but does not know chosen (accepted above
// committed) may have been chosen by a quorum, or may lose to a later
// proposal; the peer does not hold the value committed before it. It is
// not carried: taking it as accepted would put a vote for it where no
// proposer asked, and a lost value could become chosen. It is Completed
// instead: a round through a quorum of the key's voters (a strong read,
// which finishes the newest proposal at a quorum before it answers) leaves
// the key's latest value accepted by a majority of every voter group, so
// it needs no carrying after that.
type Carry struct {
	// Commit: apply Commit(Ballot, Value).
	Commit bool
	Ballot Ballot
	Value  Value
	// Complete: run a completing round on the register.
	Complete bool
	// Promised is the peer's promise, which a rebuilt acceptor Raises its
	// own to (a new replica does not need it: it promised nothing before).
	Promised Ballot
}

// CarryOf decides Carry for a peer's state of one register.
func CarryOf(peer State) Carry {
	c := Carry{Promised: peer.Promised}
	switch {
	case peer.Accepted.IsZero() && peer.Committed.IsZero():
		// Only a promise: there is no value to carry.
	case peer.Settled():
		c.Commit, c.Ballot, c.Value = true, peer.Committed, peer.Value
	default:
		c.Complete = true
	}
	return c
}

// Majority is the least number of a group of n that is a quorum.
func Majority(n int) int { return n/2 + 1 }

// CoveringReads is the least number of a group of n acceptors whose states,
// read together, include a state of every quorum of the group: n minus a
// majority, plus one (2 of 3, 3 of 5, 2 of 4). A value chosen by the group
// was accepted by a quorum, so one of the acceptors read holds it, or a
// later value. A rebuilt acceptor reads as many of the others: every
// quorum that counted it also counted one of them.
func CoveringReads(n int) int { return n - Majority(n) + 1 }

// Covers reports whether the acceptor states read cover every quorum of
// every group: read holds CoveringReads(len(g)) members of each group g,
// not counting self. A transfer to a new replica (self in no group) reads
// a group it is not in; a rebuilt acceptor reads the others of its groups,
// and so every quorum that counted it before it lost its state also
// counted one of them.
//
// A group of self alone (one replica) needs no read: no other acceptor
// ever counted with it, and what it lost is lost.
func Covers(groups [][]string, self string, read []string) bool {
	for _, g := range groups {
		n, others := 0, 0
		for _, id := range g {
			if id == self {
				continue
			}
			others++
			if slices.Contains(read, id) {
				n++
			}
		}
		if n < min(CoveringReads(len(g)), others) {
			return false
		}
	}
	return true
}
