package paxos

import (
	"errors"
	"fmt"
)

// What an acceptor checks of a step a proposer sends it, and of a value a
// peer carries to it, before it takes either: the parts of the message
// that paxos itself defines. The vnode checks the rest (the sender is a
// member, the key is of its partition and of a strong table, it votes in
// the proposer's ring transition) and decodes the wire form (paxospb).

// Received is a step as an acceptor receives it: its message, decoded
// field by field, and the node that sent it. A field that did not decode
// keeps its error instead of its value, so that CheckStep reports a
// malformed message's first fault in the order of its rules (a prepare's
// value, say, is never looked at).
type Received struct {
	Message // To is unused
	// SenderNode and SenderIncarnation name the node that sent it.
	SenderNode        string
	SenderIncarnation uint64
	// BallotErr is why the ballot did not decode (it is required: a
	// missing one is an error too).
	BallotErr error
	// HasNext: the message carries a next ballot, Next, or NextErr if it
	// did not decode.
	HasNext bool
	NextErr error
	// ValueErr is why the value did not decode, or that it is missing.
	ValueErr error
}

// CheckStep refuses a step that no proposer of this design sends: a ballot
// in another node's name (ballots are unique because each proposer names
// itself in them), a next ballot on anything but an accept or one that is
// not the ballot's Successor, or a value that its ballot did not make or
// complete (checkValue). checkSize is the store's value limit; it applies
// only to a value made by this very ballot: a read or a retry completing
// an older value (stored under an earlier, larger limit) must not be
// refused, or the key would stay stuck. A read carries nothing to check.
//
// The step returned holds what its kind uses: the ballot of a prepare;
// the ballot, value and next ballot (zero when none) of an accept; the
// ballot and value of a commit.
func CheckStep(r Received, checkSize func(data []byte) error) (Message, error) {
	kind := r.Kind
	step := Message{Kind: kind}
	if kind == MsgRead {
		return step, nil
	}
	if r.BallotErr != nil {
		return step, fmt.Errorf("paxos %s: %w", kind, r.BallotErr)
	}
	step.Ballot = r.Ballot
	if step.Ballot.Node != r.SenderNode || step.Ballot.Incarnation != r.SenderIncarnation {
		return step, fmt.Errorf("paxos %s: ballot %s is not of its sender %s.%d", kind, step.Ballot, r.SenderNode, r.SenderIncarnation)
	}
	if r.HasNext && kind != MsgAccept {
		return step, fmt.Errorf("paxos %s: only an accept carries a next ballot", kind)
	}
	if kind == MsgPrepare {
		return step, nil
	}
	if r.HasNext {
		if r.NextErr != nil {
			return step, fmt.Errorf("paxos %s: next ballot: %w", kind, r.NextErr)
		}
		step.Next = r.Next
		if step.Next != Successor(step.Ballot) {
			return step, fmt.Errorf("paxos %s: next ballot %s is not the successor of %s", kind, step.Next, step.Ballot)
		}
	}
	if r.ValueErr != nil {
		return step, fmt.Errorf("paxos %s: %w", kind, r.ValueErr)
	}
	step.Value = r.Value
	switch checkValue(step.Ballot, step.Value) {
	case versionAboveBallot:
		return step, fmt.Errorf("paxos %s: value version %s is above its ballot %s", kind, step.Value.Version, step.Ballot)
	case versionMissing:
		return step, fmt.Errorf("paxos %s: %w", kind, errValueWithoutVersion)
	}
	if step.Value.Version == step.Ballot {
		if err := checkSize(step.Value.Data); err != nil {
			return step, fmt.Errorf("paxos %s: %w", kind, err)
		}
	}
	return step, nil
}

// valueFault is why a value is not one a proposer makes.
type valueFault int

const (
	valueMade valueFault = iota
	// versionAboveBallot: its version is above the ballot that proposes
	// or committed it.
	versionAboveBallot
	// versionMissing: it exists without a version.
	versionMissing
)

var errValueWithoutVersion = errors.New("a value without a version")

// checkValue is the rule a value at ballot b keeps, whether a proposer
// sends it or a peer carries it committed: a value is made by the ballot
// that first proposes it and keeps that version when later ballots
// complete it, so its version is never above b, and a value that exists
// has one. (The two faults exclude each other: a zero version is above no
// ballot.)
func checkValue(b Ballot, v Value) valueFault {
	switch {
	case b.Less(v.Version):
		return versionAboveBallot
	case v.Exists && v.Version.IsZero():
		return versionMissing
	}
	return valueMade
}
