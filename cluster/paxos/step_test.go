package paxos

import (
	"errors"
	"fmt"
	"testing"
)

func TestCheckStep(t *testing.T) {
	const limit = 4 // the store's value limit, in bytes, in these rows
	errTooLarge := errors.New("value too large")
	checkSize := func(data []byte) error {
		if len(data) > limit {
			return fmt.Errorf("%w: %d bytes, limit %d", errTooLarge, len(data), limit)
		}
		return nil
	}
	errMissingBallot, errMissingValue := errors.New("missing ballot"), errors.New("missing value")
	errBadValue := errors.New("a value that does not exist carries data")
	b := Ballot{Round: 10, Node: "n1", Incarnation: 3, Seq: 7}
	earlier := Ballot{Round: 5, Node: "n2", Incarnation: 1, Seq: 2}
	later := Ballot{Round: 11, Node: "n2", Incarnation: 1, Seq: 2}
	val := Value{Exists: true, Data: []byte("v"), Version: b}
	big := Value{Exists: true, Data: []byte("too big"), Version: b}
	// from is a well-formed step of kind at b, from b's node.
	from := func(kind MsgKind, edit func(*Received)) Received {
		r := Received{Message: Message{Kind: kind, Ballot: b}, SenderNode: b.Node, SenderIncarnation: b.Incarnation}
		if kind == MsgAccept || kind == MsgCommit {
			r.Value = val
		}
		if edit != nil {
			edit(&r)
		}
		return r
	}
	tests := []struct {
		rule string
		in   Received
		want Message // when taken
		err  string  // the refusal, exactly as the acceptor answers it
		is   error   // the error it wraps, if any
	}{
		{"a read carries nothing to check", from(MsgRead, func(r *Received) {
			r.BallotErr, r.ValueErr, r.HasNext = errMissingBallot, errBadValue, true
		}), Message{Kind: MsgRead}, "", nil},
		{"a prepare in its sender's name is taken, with its ballot alone", from(MsgPrepare, func(r *Received) { r.Value = val }),
			Message{Kind: MsgPrepare, Ballot: b}, "", nil},
		{"a ballot that did not decode is refused with its reason", from(MsgPrepare, func(r *Received) { r.BallotErr = errMissingBallot }),
			Message{}, "paxos prepare: missing ballot", errMissingBallot},
		{"a ballot in another node's name is refused", from(MsgPrepare, func(r *Received) { r.SenderNode = "n2" }),
			Message{}, "paxos prepare: ballot 10/n1.3.7 is not of its sender n2.3", nil},
		{"a ballot of another incarnation of its sender is refused", from(MsgCommit, func(r *Received) { r.SenderIncarnation = 4 }),
			Message{}, "paxos commit: ballot 10/n1.3.7 is not of its sender n1.4", nil},
		{"the ballot's name is checked before the value is looked at", from(MsgAccept, func(r *Received) { r.SenderNode, r.ValueErr = "n2", errBadValue }),
			Message{}, "paxos accept: ballot 10/n1.3.7 is not of its sender n2.3", nil},
		{"only an accept carries a next ballot: a prepare's is refused", from(MsgPrepare, func(r *Received) { r.HasNext, r.NextErr = true, errMissingBallot }),
			Message{}, "paxos prepare: only an accept carries a next ballot", nil},
		{"only an accept carries a next ballot: a commit's is refused", from(MsgCommit, func(r *Received) { r.HasNext, r.Next = true, Successor(b) }),
			Message{}, "paxos commit: only an accept carries a next ballot", nil},
		{"a prepare's value is never looked at", from(MsgPrepare, func(r *Received) { r.ValueErr = errBadValue }),
			Message{Kind: MsgPrepare, Ballot: b}, "", nil},
		{"an accept's next ballot that did not decode is refused with its reason", from(MsgAccept, func(r *Received) { r.HasNext, r.NextErr = true, errMissingBallot }),
			Message{}, "paxos accept: next ballot: missing ballot", errMissingBallot},
		{"an accept's next ballot must be the successor of its ballot", from(MsgAccept, func(r *Received) { r.HasNext, r.Next = true, later }),
			Message{}, "paxos accept: next ballot 11/n2.1.2 is not the successor of 10/n1.3.7", nil},
		{"the next ballot is checked before the value", from(MsgAccept, func(r *Received) { r.HasNext, r.Next, r.ValueErr = true, later, errMissingValue }),
			Message{}, "paxos accept: next ballot 11/n2.1.2 is not the successor of 10/n1.3.7", nil},
		{"an accept with its successor as next ballot is taken with it", from(MsgAccept, func(r *Received) { r.HasNext, r.Next = true, Successor(b) }),
			Message{Kind: MsgAccept, Ballot: b, Value: val, Next: Successor(b)}, "", nil},
		{"an accept without a next ballot is taken", from(MsgAccept, nil), Message{Kind: MsgAccept, Ballot: b, Value: val}, "", nil},
		{"a missing value is refused", from(MsgAccept, func(r *Received) { r.ValueErr = errMissingValue }),
			Message{}, "paxos accept: missing value", errMissingValue},
		{"a value that did not decode is refused with its reason", from(MsgCommit, func(r *Received) { r.ValueErr = errBadValue }),
			Message{}, "paxos commit: a value that does not exist carries data", errBadValue},
		{"a value's version above its ballot is refused", from(MsgAccept, func(r *Received) { r.Value.Version = later }),
			Message{}, "paxos accept: value version 11/n2.1.2 is above its ballot 10/n1.3.7", nil},
		{"a value that exists without a version is refused", from(MsgCommit, func(r *Received) { r.Value.Version = Ballot{} }),
			Message{}, "paxos commit: a value without a version", errValueWithoutVersion},
		{"a register never written (no value, no version) is a value", from(MsgCommit, func(r *Received) { r.Value = Value{} }),
			Message{Kind: MsgCommit, Ballot: b}, "", nil},
		{"a value this ballot made is held to the size limit", from(MsgAccept, func(r *Received) { r.Value = big }),
			Message{}, "paxos accept: value too large: 7 bytes, limit 4", errTooLarge},
		{"a value an earlier ballot made is completed whatever its size", from(MsgAccept, func(r *Received) { r.Value = Value{Exists: true, Data: big.Data, Version: earlier} }),
			Message{Kind: MsgAccept, Ballot: b, Value: Value{Exists: true, Data: big.Data, Version: earlier}}, "", nil},
		{"a commit of a value this ballot made is held to the size limit too", from(MsgCommit, func(r *Received) { r.Value = big }),
			Message{}, "paxos commit: value too large: 7 bytes, limit 4", errTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got, err := CheckStep(tt.in, checkSize)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("CheckStep = %v, want refused with %q", err, tt.err)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Fatalf("CheckStep's error %v does not wrap %v", err, tt.is)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckStep refused it: %v", err)
			}
			if got.To != "" || got.Kind != tt.want.Kind || got.Ballot != tt.want.Ballot || got.Next != tt.want.Next || !got.Value.Equal(tt.want.Value) {
				t.Fatalf("CheckStep = %+v, want %+v", got, tt.want)
			}
		})
	}
}
