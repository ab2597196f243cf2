// Package paxospb converts between cluster/paxos's types and their wire and
// disk form (messages/internalpb). What comes from a peer is checked: a
// malformed ballot or value is an error, never a panic. Sizes are checked
// by the acceptor, which knows which value its ballot makes.
package paxospb

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// Errors callers tell apart.
var (
	ErrMissingBallot = errors.New("missing ballot")
	ErrMissingValue  = errors.New("missing value")
)

// BallotToProto is b on the wire; nil for the zero ballot (below every
// other), which keeps stored states small.
func BallotToProto(b paxos.Ballot) *internalpb.PaxosBallot {
	if b.IsZero() {
		return nil
	}
	return &internalpb.PaxosBallot{Round: b.Round, Node: b.Node, Incarnation: b.Incarnation, Seq: b.Seq}
}

// BallotFromProto is the ballot pb names (nil: the zero ballot). A non-zero
// ballot must name a valid node id: ballots are stored and compared, and a
// peer must not make them arbitrarily long.
func BallotFromProto(pb *internalpb.PaxosBallot) (paxos.Ballot, error) {
	b := paxos.Ballot{Round: pb.GetRound(), Node: pb.GetNode(), Incarnation: pb.GetIncarnation(), Seq: pb.GetSeq()}
	if b.IsZero() || (b.Node == "" && b.Incarnation == 0 && b.Seq == 0) {
		// Zero, or a round alone: an acceptor's floor (paxos.RaiseFloor),
		// below every proposer's ballot of that round; never a
		// proposal's, which names its proposer (acceptors check it).
		return b, nil
	}
	if err := membership.CheckID(b.Node); err != nil {
		return paxos.Ballot{}, fmt.Errorf("ballot %d/.%d.%d: %w", b.Round, b.Incarnation, b.Seq, err)
	}
	return b, nil
}

// RequiredBallot is BallotFromProto for a message whose step needs a
// ballot: nil or zero is refused.
func RequiredBallot(pb *internalpb.PaxosBallot) (paxos.Ballot, error) {
	b, err := BallotFromProto(pb)
	if err == nil && b.IsZero() {
		err = ErrMissingBallot
	}
	return b, err
}

// ValueToProto is v on the wire.
func ValueToProto(v paxos.Value) *internalpb.PaxosValue {
	pb := &internalpb.PaxosValue{Exists: v.Exists, Data: v.Data, Version: BallotToProto(v.Version), HasPrev: v.HasPrev}
	if v.HasPrev {
		pb.Prev = BallotToProto(v.Prev)
	}
	return pb
}

// ValueFromProto is the value pb holds (nil: no value, the register never
// written); data on a value that does not exist is refused. Sizes are the
// acceptor's to check: a value made under an earlier, larger limit is still
// the register's.
func ValueFromProto(pb *internalpb.PaxosValue) (paxos.Value, error) {
	if !pb.GetExists() && len(pb.GetData()) > 0 {
		return paxos.Value{}, errors.New("a value that does not exist carries data")
	}
	version, err := BallotFromProto(pb.GetVersion())
	if err != nil {
		return paxos.Value{}, fmt.Errorf("value version: %w", err)
	}
	v := paxos.Value{Exists: pb.GetExists(), Data: pb.GetData(), Version: version, HasPrev: pb.GetHasPrev()}
	if v.Prev, err = BallotFromProto(pb.GetPrev()); err != nil {
		return paxos.Value{}, fmt.Errorf("value's previous version: %w", err)
	}
	switch {
	case !v.HasPrev && !v.Prev.IsZero():
		return paxos.Value{}, errors.New("a previous version without has_prev")
	case v.HasPrev && !v.Prev.Less(v.Version):
		// A write replaces a value it read at a lower ballot.
		return paxos.Value{}, fmt.Errorf("previous version %s not below the value's version %s", v.Prev, v.Version)
	}
	return v, nil
}

// StateToProto is s as stored.
func StateToProto(s paxos.State) *internalpb.PaxosState {
	return &internalpb.PaxosState{Promised: BallotToProto(s.Promised), Accepted: BallotToProto(s.Accepted),
		Value: ValueToProto(s.Value), Committed: BallotToProto(s.Committed)}
}

// StateFromProto is the state stored as pb. Limits are not applied (a
// value stored under an earlier, larger limit is still the acceptor's), but
// the state must be well formed and keep paxos.State's invariants.
func StateFromProto(pb *internalpb.PaxosState) (paxos.State, error) {
	var s paxos.State
	var err error
	if s.Promised, err = BallotFromProto(pb.GetPromised()); err != nil {
		return paxos.State{}, fmt.Errorf("promised: %w", err)
	}
	if s.Accepted, err = BallotFromProto(pb.GetAccepted()); err != nil {
		return paxos.State{}, fmt.Errorf("accepted: %w", err)
	}
	if s.Committed, err = BallotFromProto(pb.GetCommitted()); err != nil {
		return paxos.State{}, fmt.Errorf("committed: %w", err)
	}
	if s.Value, err = ValueFromProto(pb.GetValue()); err != nil {
		return paxos.State{}, err
	}
	if s.Promised.Less(s.Accepted) || s.Promised.Less(s.Committed) {
		return paxos.State{}, fmt.Errorf("promised %s below accepted %s or committed %s", s.Promised, s.Accepted, s.Committed)
	}
	return s, nil
}

// TombstoneDigest names the history of a register that replicas must
// hold alike before its acceptor state is dropped (paxos.AgreeToDrop):
// its committed ballot and value, hashed.
func TombstoneDigest(s paxos.State) []byte {
	h := sha256.New()
	for _, m := range []proto.Message{BallotToProto(s.Committed), ValueToProto(s.Value)} {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			panic(fmt.Sprintf("marshal %T: %v", m, err)) // cannot fail for a well-formed message
		}
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
		h.Write(b)
	}
	return h.Sum(nil)[:16]
}
